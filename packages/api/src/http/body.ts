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

/**
 * Parses and validates a JSON body: 413 over `maxBytes`, 415 for a non-JSON content type, 400 for malformed JSON,
 * wrong types or unknown fields. This is the API's input edge: past it, handlers rely on types.
 */
export function parseJsonBody<S extends z.ZodType>(event: ApiEvent, schema: S, options: ParseBodyOptions = {}): z.output<S> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_JSON_BODY_BYTES;
  const bytes = bodyBytes(event);
  if (bytes.length > maxBytes) {
    throw new ClientError(413, 'PAYLOAD_TOO_LARGE', `The body has ${bytes.length} bytes; this endpoint accepts at most ${maxBytes}.`);
  }
  const contentType = header(event, 'content-type');
  if (bytes.length > 0 && contentType !== undefined && !/^application\/([\w.+-]+\+)?json\b/i.test(contentType.trim())) {
    throw new ClientError(415, 'UNSUPPORTED_MEDIA_TYPE', `Send the body as application/json, not ${contentType}.`);
  }
  let value: unknown = options.emptyAs;
  if (bytes.length > 0) {
    try {
      value = JSON.parse(bytes.toString('utf8'));
    } catch (error) {
      throw new ClientError(400, 'MALFORMED_JSON', `The body is not valid JSON: ${(error as Error).message}`, { cause: error });
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw validationError(parsed.error, 'Invalid request body');
  return parsed.data;
}
