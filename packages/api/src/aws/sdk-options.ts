/**
 * Time to open a connection to DynamoDB, S3 or SQS. Inside a region a connection takes milliseconds; past a second
 * the endpoint is down or unreachable, and the retry (or the caller's retry) does better than waiting. @default 1_000
 */
export const DEFAULT_SDK_CONNECTION_TIMEOUT_MS = 1_000;
/**
 * Time one attempt of one call may take, connection included. Every call the API makes is a small item or a 256 KiB
 * ranged read that answers in tens of milliseconds; without a bound a stalled service held each request for API
 * Gateway's 30 s. @default 3_000
 */
export const DEFAULT_SDK_REQUEST_TIMEOUT_MS = 3_000;
/**
 * Attempts per call (the SDK's standard retry: throttling, 5xx, timeouts). The handler's deadline (handler.ts) cuts
 * any retry that would outlast it. @default 2
 */
export const DEFAULT_SDK_MAX_ATTEMPTS = 2;

/**
 * SDK client options read from `env` rather than implicitly from process.env, so one process can run handlers for
 * several environments (tests); in Lambda `env` is process.env and this is what the SDK would read itself. Every
 * client gets the API's timeouts and retry budget: a call ends well inside the handler's deadline whatever the service does.
 */
export function sdkOptions(env: NodeJS.ProcessEnv, endpoint: string | undefined) {
  const checksum = (v: string | undefined): 'WHEN_REQUIRED' | 'WHEN_SUPPORTED' | undefined =>
    v === 'WHEN_REQUIRED' || v === 'WHEN_SUPPORTED' ? v : undefined;
  const request = checksum(env.AWS_REQUEST_CHECKSUM_CALCULATION);
  const response = checksum(env.AWS_RESPONSE_CHECKSUM_VALIDATION);
  return {
    ...(env.AWS_REGION === undefined ? {} : { region: env.AWS_REGION }),
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(env.AWS_ACCESS_KEY_ID === undefined || env.AWS_SECRET_ACCESS_KEY === undefined
      ? {}
      : {
          credentials: {
            accessKeyId: env.AWS_ACCESS_KEY_ID,
            secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
            ...(env.AWS_SESSION_TOKEN === undefined ? {} : { sessionToken: env.AWS_SESSION_TOKEN }),
          },
        }),
    ...(request === undefined ? {} : { requestChecksumCalculation: request }),
    ...(response === undefined ? {} : { responseChecksumValidation: response }),
    maxAttempts: DEFAULT_SDK_MAX_ATTEMPTS,
    // throwOnRequestTimeout: without it the SDK's requestTimeout only logs a warning and the call goes on waiting.
    requestHandler: { connectionTimeout: DEFAULT_SDK_CONNECTION_TIMEOUT_MS, requestTimeout: DEFAULT_SDK_REQUEST_TIMEOUT_MS, throwOnRequestTimeout: true },
  };
}

/** True when the service answered the call with an HTTP error (it refused it: nothing was applied by that attempt). */
export function serviceAnswered(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  return typeof status === 'number' && status >= 400;
}

/** A short reason for a failed SDK call, for problem details and logs: the error's name, and its HTTP status when it has one. */
export function describeSdkError(error: unknown): string {
  if (error === null || typeof error !== 'object') return String(error);
  const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  if (name === 'AbortError') return 'the request ran out of time';
  const status = $metadata?.httpStatusCode;
  return `${name ?? 'Error'}${status === undefined ? '' : ` ${status}`}`;
}

/** The per-call options of an SDK `send`: the request's deadline, when there is one. */
export function callOptions(signal: AbortSignal | undefined): { abortSignal?: AbortSignal } {
  return signal === undefined ? {} : { abortSignal: signal };
}
