import type { JobErrorCode } from '@revive/contract';

/** Everything the worker package can fail with: the job codes clients see, plus model and set-up codes. */
export type WorkerErrorCode =
  | JobErrorCode
  | 'MODEL_INVALID' // a model file whose inputs/outputs do not match what its stage needs
  | 'MODEL_UNAVAILABLE' // a model that is not on disk and could not be downloaded
  | 'MODEL_CHECKSUM' // a downloaded model whose sha256 does not match the manifest
  | 'DEVICE_UNAVAILABLE' // --device cuda without the CUDA execution provider
  | 'CONFIG' // bad environment or options
  | 'STORAGE' // S3 / DynamoDB / SQS call failed (transient)
  | 'THROTTLED'; // an AWS throttle (transient)

/**
 * The worker's one error type. `RetryableError` and `PermanentError` are the two kinds a caller must
 * tell apart: a permanent failure ends a job as FAILED; a retryable one leaves the message for redelivery.
 */
export abstract class WorkerError extends Error {
  abstract readonly retryable: boolean;
  constructor(
    readonly code: WorkerErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A failure that will happen again on every attempt: bad input, a forbidden URL, a broken model. */
export class PermanentError extends WorkerError {
  readonly retryable = false;
}

/** A failure that may pass: throttling, a storage hiccup, a timeout. */
export class RetryableError extends WorkerError {
  readonly retryable = true;
}

/** True for errors the worker should retry; unknown errors are treated as permanent bugs (INTERNAL). */
export function isRetryable(error: unknown): boolean {
  return error instanceof WorkerError && error.retryable;
}

/** The message of anything thrown (`String(x)` for non-errors), for error reasons and logs. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `Name: message` of anything thrown, for logs where the error class matters (e.g. an SDK's `ThrottlingException`). */
export function describeThrown(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
