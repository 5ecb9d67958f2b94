import type { ApiErrorCode } from '@revive/contract';

/**
 * The API package's one error type. Handlers throw it; the shared wrapper turns it into a problem+json answer.
 * `ClientError` is the caller's fault and will fail again unchanged; `ServiceError` may pass on a retry.
 */
export abstract class ApiError extends Error {
  abstract readonly retryable: boolean;
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
    options?: {
      cause?: unknown;
      /** Per-field errors for validation failures. */
      errors?: readonly { path: string; message: string }[];
      /** Extra response headers (Retry-After). */
      headers?: Record<string, string>;
      /** URI of the resource the problem is about. */
      instance?: string;
    },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.errors = options?.errors;
    this.headers = options?.headers;
    this.instance = options?.instance;
  }
  readonly errors: readonly { path: string; message: string }[] | undefined;
  readonly headers: Record<string, string> | undefined;
  readonly instance: string | undefined;
}

/** A 4xx: bad input, no tenant, a missing job, a state conflict. */
export class ClientError extends ApiError {
  readonly retryable = false;
}

/** A 5xx the caller may retry (with the same Idempotency-Key). */
export class ServiceError extends ApiError {
  readonly retryable = true;
}
