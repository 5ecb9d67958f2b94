/**
 * SDK client options read from `env` rather than implicitly from process.env, so one process can run handlers for
 * several environments (tests); in Lambda `env` is process.env and this is what the SDK would read itself.
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
  };
}
