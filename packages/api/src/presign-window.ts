// When a batch of presigned URLs expires, as S3 reckons it.

/** A batch of presigned URLs signed at one time, and the expiry the API reports for them. */
export interface PresignWindow {
  /** The X-Amz-Date to sign with: the whole second S3 counts the URLs' lifetime from. */
  readonly signingDate: Date;
  /**
   * `expires_at` (the URLs' real expiry: signing second + TTL) and `expires_in_seconds` (what is left of it when the
   * answer leaves, rounded down), so that a client compares the lifetime with its own clock, not with ours.
   */
  expiry(nowMs: number): { expires_at: string; expires_in_seconds: number };
}

/**
 * Signs at `nowMs` floored to the second: SigV4's X-Amz-Date has whole seconds, and a URL signed at 12:00:00.900 with
 * a 900 s TTL dies at 12:15:00, not 12:15:00.900.
 */
export function presignWindow(nowMs: number, ttlSeconds: number): PresignWindow {
  const signedAtMs = Math.floor(nowMs / 1000) * 1000;
  const expiresAtMs = signedAtMs + ttlSeconds * 1000;
  return {
    signingDate: new Date(signedAtMs),
    expiry: (answeredAtMs) => ({
      expires_at: new Date(expiresAtMs).toISOString(),
      expires_in_seconds: Math.max(0, Math.floor((expiresAtMs - answeredAtMs) / 1000)),
    }),
  };
}
