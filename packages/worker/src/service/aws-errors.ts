import { RetryableError, WorkerError, messageOf } from '@revive/pipeline/errors';

const THROTTLE_NAMES = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'KMSThrottlingException',
]);

/** The SDK error's name (`ConditionalCheckFailedException`, `NoSuchKey`...), or undefined for non-SDK errors. */
export function awsErrorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

/**
 * Wraps an AWS SDK failure as the worker's error. Every AWS failure the adapters do not handle themselves is
 * retryable: throttles and 5xx pass, and a 4xx such as AccessDenied is an infrastructure fault that should send
 * later deliveries (and, when they all fail, RETRIES_EXHAUSTED) rather than fail the customer's job at once.
 */
export function toStorageError(error: unknown, what: string): WorkerError {
  if (error instanceof WorkerError) return error;
  const name = awsErrorName(error) ?? 'Error';
  const message = messageOf(error);
  const code = THROTTLE_NAMES.has(name) ? 'THROTTLED' : 'STORAGE';
  return new RetryableError(code, `${what} failed: ${name}: ${message}`, { cause: error });
}
