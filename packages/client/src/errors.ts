import type { ApiErrorCode, JobResponse } from './types.js';

/**
 * Codes the client itself raises, beside the API's stable problem+json codes:
 * - `UPLOAD_TOO_LARGE`: the file is larger than the upload's `max_bytes` (checked before sending it);
 * - `UPLOAD_REJECTED`: the storage service refused the presigned POST (expired, wrong type, over the policy's size),
 *   or a video's part after its retries;
 * - `NETWORK`: no HTTP answer at all (offline, DNS, CORS, connection reset);
 * - `RATE_LIMITED`: 429 from API Gateway's throttling (its body is not problem+json);
 * - `HTTP_ERROR`: any other answer that is not a problem+json body with a known code;
 * - `WAIT_TIMEOUT`: `jobs.wait` gave up after `timeoutMs`; the job itself goes on;
 * - `ABORTED`: the caller's `AbortSignal` fired;
 * - `JOB_FAILED`, `JOB_CANCELED`: `restore()` reached an end state that is not SUCCEEDED (`job` holds it).
 */
export const CLIENT_ERROR_CODES = [
  'UPLOAD_TOO_LARGE',
  'UPLOAD_REJECTED',
  'NETWORK',
  'RATE_LIMITED',
  'HTTP_ERROR',
  'WAIT_TIMEOUT',
  'ABORTED',
  'JOB_FAILED',
  'JOB_CANCELED',
] as const;
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];

/** Everything a `ReviveError` can carry as its `code`: branch on it, never on `message`. */
export type ReviveErrorCode = ApiErrorCode | ClientErrorCode;

/** The API's problem codes, as values here so the client has no runtime dependency; types.test.ts checks them against the contract's. */
export const API_ERROR_CODES = [
  'MALFORMED_JSON',
  'VALIDATION_FAILED',
  'UNKNOWN_FIELD',
  'UNSUPPORTED_MEDIA_TYPE',
  'UNSUPPORTED_CONTENT_ENCODING',
  'PAYLOAD_TOO_LARGE',
  'HEADERS_TOO_LARGE',
  'UNAUTHENTICATED',
  'FORBIDDEN_UPLOAD_KEY',
  'UPLOAD_NOT_FOUND',
  'INVALID_IMAGE',
  'IMAGE_TOO_LARGE',
  'OUTPUT_TOO_LARGE',
  'FORBIDDEN_URL',
  'UNSUPPORTED_MODEL',
  'INVALID_IDEMPOTENCY_KEY',
  'IDEMPOTENCY_KEY_REUSED',
  'INVALID_CURSOR',
  'INVALID_UPLOAD_PARTS',
  'INVALID_VIDEO',
  'VIDEO_TOO_LARGE',
  'JOB_NOT_FOUND',
  'JOB_NOT_CANCELABLE',
  'MALFORMED_PATH',
  'ROUTE_NOT_FOUND',
  'ENQUEUE_FAILED',
  'SERVICE_UNAVAILABLE',
  'JOB_STATE_UNKNOWN',
  'TIMEOUT',
  'INTERNAL',
] as const;
const API_CODES: ReadonlySet<string> = new Set(API_ERROR_CODES);

/** True when `code` is one of the API's problem+json codes. */
export function isApiErrorCode(code: unknown): code is ApiErrorCode {
  return typeof code === 'string' && API_CODES.has(code);
}

/**
 * Codes that may succeed when the same request is sent again (with the same Idempotency-Key for `jobs.create`: after
 * JOB_STATE_UNKNOWN it answers with the job a first try created, or creates it).
 */
const RETRYABLE: ReadonlySet<ReviveErrorCode> = new Set<ReviveErrorCode>(['ENQUEUE_FAILED', 'SERVICE_UNAVAILABLE', 'JOB_STATE_UNKNOWN', 'TIMEOUT', 'NETWORK', 'RATE_LIMITED']);
/**
 * Statuses that say "not now" whatever the body's code: a gateway's or the service's own unavailability, e.g. the
 * API's 503 INTERNAL with Retry-After when DynamoDB throttles.
 */
const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([502, 503, 504]);

export interface ReviveErrorInit {
  readonly status: number;
  readonly code: ReviveErrorCode;
  readonly detail?: string | undefined;
  /** Per-field errors of VALIDATION_FAILED / UNKNOWN_FIELD. */
  readonly errors?: readonly { readonly path: string; readonly message: string }[] | undefined;
  /** Seconds from a Retry-After header. */
  readonly retryAfterSeconds?: number | undefined;
  /** The job, for JOB_FAILED / JOB_CANCELED. */
  readonly job?: JobResponse | undefined;
  /** The storage service's error `<Code>` and `<Message>`, for an upload it refused (UPLOAD_REJECTED). */
  readonly storage?: StorageError | undefined;
  readonly cause?: unknown;
}

/** What S3 (or a compatible store) said when it refused an upload: its XML error's `<Code>` and `<Message>`. */
export interface StorageError {
  /** e.g. `AccessDenied`, `ExpiredToken`, `SignatureDoesNotMatch`. */
  readonly code: string;
  readonly message: string | undefined;
}

/** The one error type of `@revive/client`: an API problem, a refused upload, a network failure, a timeout or an abort. */
export class ReviveError extends Error {
  override readonly name = 'ReviveError';
  /** HTTP status; 0 when no answer came (NETWORK, ABORTED, WAIT_TIMEOUT, UPLOAD_TOO_LARGE). */
  readonly status: number;
  readonly code: ReviveErrorCode;
  /** Human-readable explanation from the API (problem `detail`) or the client. */
  readonly detail: string;
  readonly errors: readonly { readonly path: string; readonly message: string }[];
  /** True when sending the same request again may succeed. */
  readonly retryable: boolean;
  readonly retryAfterSeconds: number | undefined;
  readonly job: JobResponse | undefined;
  /** For UPLOAD_REJECTED: the storage service's own error code and message, when its answer had them. */
  readonly storage: StorageError | undefined;

  constructor(init: ReviveErrorInit) {
    super(`${init.code}${init.status ? ` (${init.status})` : ''}: ${init.detail ?? init.code}`, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.code = init.code;
    this.detail = init.detail ?? init.code;
    this.errors = init.errors ?? [];
    this.retryable = RETRYABLE.has(init.code) || RETRYABLE_STATUSES.has(init.status);
    this.retryAfterSeconds = init.retryAfterSeconds;
    this.job = init.job;
    this.storage = init.storage;
  }
}

/** Retry-After as seconds (delta-seconds or an HTTP date); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, nowMs = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - nowMs) / 1000);
}

/** Turns a non-2xx API answer into a ReviveError: problem+json when it is one, else a code from the status. */
export async function errorFromResponse(res: Response): Promise<ReviveError> {
  const retryAfterSeconds = parseRetryAfter(res.headers.get('retry-after'));
  const text = await res.text().catch(() => '');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const problem = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  if (isApiErrorCode(problem.code)) {
    const detail = typeof problem.detail === 'string' ? problem.detail : typeof problem.title === 'string' ? problem.title : undefined;
    const errors = Array.isArray(problem.errors) ? (problem.errors as { path: string; message: string }[]) : undefined;
    return new ReviveError({ status: res.status, code: problem.code, detail, errors, retryAfterSeconds });
  }
  // API Gateway's own answers (authorizer, throttling) are `{"message": "..."}`, not problem+json.
  const message = typeof problem.message === 'string' ? problem.message : text.slice(0, 200) || res.statusText;
  const code: ReviveErrorCode = res.status === 401 || res.status === 403 ? 'UNAUTHENTICATED' : res.status === 429 ? 'RATE_LIMITED' : res.status === 413 ? 'PAYLOAD_TOO_LARGE' : 'HTTP_ERROR';
  return new ReviveError({ status: res.status, code, detail: message, retryAfterSeconds });
}
