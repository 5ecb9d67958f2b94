// Errors crossing the boundary between a pipeline thread and the pool (pipeline-threads.ts): structured clone keeps
// an Error's message but not its class, code or `retryable`, which decide a job's fate in the worker.
import { PermanentError, RetryableError, WorkerError, type WorkerErrorCode } from './errors.js';

/** An error as it crosses the thread boundary: enough to rebuild the same class, code, message and cause. */
export interface SerializedError {
  readonly kind: 'permanent' | 'retryable' | 'other';
  readonly code: WorkerErrorCode | undefined;
  readonly name: string;
  readonly message: string;
  readonly stack: string | undefined;
  readonly cause: { readonly name: string; readonly message: string } | undefined;
}

/** Flattens anything thrown into what `deserializeError` rebuilds; a cause keeps its name and message. */
export function serializeError(error: unknown): SerializedError {
  const e = error instanceof Error ? error : new Error(String(error));
  const cause = e.cause === undefined ? undefined : e.cause instanceof Error ? { name: e.cause.name, message: e.cause.message } : { name: 'Error', message: String(e.cause) };
  return {
    kind: error instanceof WorkerError ? (error.retryable ? 'retryable' : 'permanent') : 'other',
    code: error instanceof WorkerError ? error.code : undefined,
    name: e.name,
    message: e.message,
    stack: e.stack,
    cause,
  };
}

/** Rebuilds a thread's error on the main side as the class it was, so `instanceof` and `retryable` still hold. */
export function deserializeError(s: SerializedError): Error {
  let options: { cause?: unknown } | undefined;
  if (s.cause) {
    const cause = new Error(s.cause.message);
    cause.name = s.cause.name;
    options = { cause };
  }
  const error =
    s.kind === 'permanent' && s.code !== undefined
      ? new PermanentError(s.code, s.message, options)
      : s.kind === 'retryable' && s.code !== undefined
        ? new RetryableError(s.code, s.message, options)
        : new Error(s.message, options);
  if (s.kind === 'other') error.name = s.name;
  if (s.stack !== undefined) error.stack = s.stack;
  return error;
}
