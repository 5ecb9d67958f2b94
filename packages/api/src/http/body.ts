import type { z } from 'zod';
import { DEFAULT_MAX_JSON_BODY_BYTES } from '../config.js';
import { ClientError } from '../errors.js';
import { bodyBytes, header, type ApiEvent } from './event.js';

/** Options of `parseJsonBody`. */
export interface ParseBodyOptions {
  /** @default DEFAULT_MAX_JSON_BODY_BYTES */
  readonly maxBytes?: number;
  /** What an empty body means; when absent an empty body is validated as `undefined`. */
  readonly emptyAs?: unknown;
}

type Issue = z.core.$ZodIssue;

/** True when the input failed only because of fields the schema does not know (in every branch of a union). */
function isUnknownFieldIssue(issue: Issue): boolean {
  if (issue.code === 'unrecognized_keys') return true;
  if (issue.code === 'invalid_union') {
    return issue.errors.length > 0 && issue.errors.every((branch) => branch.some(isUnknownFieldIssue));
  }
  return false;
}

function describe(issue: Issue): { path: string; message: string } {
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') return { path, message: `unknown field(s): ${issue.keys.join(', ')}` };
  return { path, message: issue.message };
}

/** Maps a zod failure to the API's 400: UNKNOWN_FIELD when an unknown field is the reason, else VALIDATION_FAILED. */
export function validationError(error: z.ZodError, what: string): ClientError {
  const unknown = error.issues.some(isUnknownFieldIssue);
  const errors = error.issues.map(describe);
  return new ClientError(
    400,
    unknown ? 'UNKNOWN_FIELD' : 'VALIDATION_FAILED',
    `${what}: ${errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('; ')}`,
    { errors },
  );
}

/** The charset a JSON body may declare: JSON between systems is UTF-8 (RFC 8259 §8.1). */
const JSON_CHARSET = 'utf-8';

/** The `charset` parameter of a Content-Type, lower-cased and unquoted; undefined without one. */
function charsetOf(contentType: string): string | undefined {
  const match = /;\s*charset\s*=\s*("?)([^";\s]*)\1/i.exec(contentType);
  return match?.[2]?.toLowerCase();
}

/**
 * Checks how a non-empty body is encoded before reading it: no Content-Encoding (415 UNSUPPORTED_CONTENT_ENCODING: a
 * gzip body read as text is garbage, and API Gateway passes it on undecoded), a JSON content type (415
 * UNSUPPORTED_MEDIA_TYPE) in UTF-8 (any other charset: 415 UNSUPPORTED_MEDIA_TYPE, rather than UTF-16 read as UTF-8).
 */
function assertPlainJson(event: ApiEvent): void {
  const encoding = header(event, 'content-encoding')?.trim().toLowerCase();
  if (encoding !== undefined && encoding !== '' && encoding !== 'identity') {
    throw new ClientError(415, 'UNSUPPORTED_CONTENT_ENCODING', `Send the body without a Content-Encoding (got ${encoding}); this API reads plain JSON only.`, {
      headers: { 'accept-encoding': 'identity' },
    });
  }
  const contentType = header(event, 'content-type');
  if (contentType === undefined) return;
  if (!/^application\/([\w.+-]+\+)?json\b/i.test(contentType.trim())) {
    throw new ClientError(415, 'UNSUPPORTED_MEDIA_TYPE', `Send the body as application/json, not ${contentType}.`);
  }
  const charset = charsetOf(contentType);
  if (charset !== undefined && charset !== JSON_CHARSET && charset !== 'utf8') {
    throw new ClientError(415, 'UNSUPPORTED_MEDIA_TYPE', `Send the JSON body in UTF-8, not ${charset} (Content-Type: application/json; charset=utf-8, or no charset).`);
  }
}

/** Strict UTF-8: a body with invalid sequences is refused instead of read with U+FFFD in their place. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses and validates a JSON body: 413 over `maxBytes`, 415 for a non-JSON content type, a charset other than UTF-8
 * or any Content-Encoding, 400 for bytes that are not UTF-8, malformed JSON, wrong types or unknown fields. This is the
 * API's input edge: past it, handlers rely on types.
 */
export function parseJsonBody<S extends z.ZodType>(event: ApiEvent, schema: S, options: ParseBodyOptions = {}): z.output<S> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_JSON_BODY_BYTES;
  const bytes = bodyBytes(event);
  if (bytes.length > maxBytes) {
    throw new ClientError(413, 'PAYLOAD_TOO_LARGE', `The body has ${bytes.length} bytes; this endpoint accepts at most ${maxBytes}.`);
  }
  let value: unknown = options.emptyAs;
  if (bytes.length > 0) {
    assertPlainJson(event);
    let text: string;
    try {
      text = UTF8.decode(bytes);
    } catch (error) {
      throw new ClientError(400, 'MALFORMED_JSON', 'The body is not valid UTF-8.', { cause: error });
    }
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new ClientError(400, 'MALFORMED_JSON', `The body is not valid JSON: ${(error as Error).message}`, { cause: error });
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw validationError(parsed.error, 'Invalid request body');
  return parsed.data;
}
