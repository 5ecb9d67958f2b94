import type { ServerResponse } from 'node:http';

/**
 * Headers that keep a served object from acting as a page or script on the API's origin (the proxy shares it, so an
 * SVG with a script would run there). Error answers carry them too.
 */
export const SAFE_OBJECT_HEADERS = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': "sandbox; default-src 'none'",
} as const;

/** A refusal the client reads as S3's own: the HTTP status and S3's error code, with S3's message. */
export class S3ProxyError extends Error {
  constructor(
    readonly status: number,
    readonly s3Code: string,
    message: string,
  ) {
    super(message);
  }
}

function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Answers with S3's XML error document, so the SDK and the front end read the proxy's refusals as S3's. */
export function sendS3Error(res: ServerResponse, error: S3ProxyError): void {
  res.writeHead(error.status, { 'content-type': 'application/xml', ...SAFE_OBJECT_HEADERS });
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${error.s3Code}</Code><Message>${xmlEscape(error.message)}</Message></Error>`);
}

/** The server's answer to an upload whose body stopped arriving: S3's RequestTimeout code, with HTTP's 408. */
export function sendS3Timeout(res: ServerResponse, message: string): void {
  sendS3Error(res, new S3ProxyError(408, 'RequestTimeout', `Your socket connection to the server was not read from or written to within the timeout period. ${message}`));
}
