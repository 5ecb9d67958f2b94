import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { S3RequestPresigner } from '@aws-sdk/s3-request-presigner';
import { S3ProxyError, SAFE_OBJECT_HEADERS } from './errors.js';
import { parseAmzDate } from './sigv4.js';

/**
 * The presigned GET, checked like S3 checks it (SigV4 query signature over method, path, query and host, then expiry)
 * and served from the emulator, piped so a download is never held whole. The proxy shares the API's origin, so an
 * object must never run as a page there: raster image types are served as such; anything else goes out as an
 * `application/octet-stream` attachment, with `nosniff` and a sandboxing CSP.
 */

/**
 * Types served inline; every other stored type is sent as a download. A restored video (MP4) is one: the demo page
 * plays it, and a media type runs no script.
 */
export const INLINE_IMAGE_TYPES: ReadonlySet<string> = new Set(['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/avif', 'video/mp4']);
/** S3 refuses presigned URLs that live longer than 7 days. */
const MAX_PRESIGN_SECONDS = 604_800;
/** S3 accepts request times up to 15 minutes in the future (clock skew). */
const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

/**
 * The one byte range a GET asks for, as the emulator's Range header, or undefined for the whole object. Several
 * ranges (`bytes=0-1,5-9`) are refused: S3 serves one range per request, and answering them with the whole object
 * would send a 541 MB body to a client that asked for a few bytes.
 */
export function singleRange(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (/^bytes=(\d+-\d*|-\d+)$/.test(value)) return value;
  throw new S3ProxyError(416, 'InvalidRange', 'The requested range is not satisfiable: one range per request, as bytes=first-last, bytes=first- or bytes=-suffix.');
}

/**
 * Recomputes a presigned URL's SigV4 signature with the SDK's own presigner (same method, date, expiry, region, host,
 * path, query and signed headers) and compares; then checks the time window. A URL that was not signed with the
 * stack's key, whose date, expiry, path or query was changed, or a request whose signed header (a presigned part's
 * Content-Length) differs, fails here. `method` is the one the URL must have been signed for.
 */
export async function verifyPresignedUrl(
  client: S3Client,
  accessKeyId: string,
  req: IncomingMessage,
  rawPath: string,
  query: URLSearchParams,
  method: 'GET' | 'HEAD' | 'PUT',
): Promise<void> {
  const given = query.get('X-Amz-Signature');
  const credential = query.get('X-Amz-Credential');
  const amzDate = query.get('X-Amz-Date') ?? '';
  const expires = Number(query.get('X-Amz-Expires'));
  if (!given || !credential || query.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') {
    throw new S3ProxyError(403, 'AccessDenied', 'Only presigned URLs are served here.');
  }
  const [givenAccessKeyId, , region = '', service = '', terminator] = credential.split('/');
  const signedAt = parseAmzDate(amzDate);
  if (givenAccessKeyId !== accessKeyId || service !== 's3' || terminator !== 'aws4_request') {
    throw new S3ProxyError(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
  }
  if (!Number.isInteger(expires) || expires < 1 || expires > MAX_PRESIGN_SECONDS || Number.isNaN(signedAt)) {
    throw new S3ProxyError(400, 'AuthorizationQueryParametersError', 'X-Amz-Date or X-Amz-Expires is malformed.');
  }
  const signed = new Set((query.get('X-Amz-SignedHeaders') ?? '').split(';').filter(Boolean));
  const headers: Record<string, string> = {};
  for (const name of signed) {
    const value = req.headers[name];
    if (value === undefined) throw new S3ProxyError(403, 'SignatureDoesNotMatch', `The signed header ${name} is missing.`);
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const unsigned: Record<string, string> = {};
  for (const [k, v] of query) if (k !== 'X-Amz-Signature') unsigned[k] = v;
  const host = new URL(`http://${req.headers.host ?? ''}`);
  const presigner = new S3RequestPresigner({ ...client.config, region: async () => region });
  const expected = await presigner
    .presign(
      {
        // The method is signed: S3 refuses a HEAD with a URL presigned for GET, and so does this proxy.
        method,
        protocol: 'http:',
        hostname: host.hostname,
        ...(host.port === '' ? {} : { port: Number(host.port) }),
        path: rawPath,
        query: unsigned,
        headers,
      },
      { signingDate: new Date(signedAt), expiresIn: expires, signingRegion: region, signingService: 's3' },
    )
    .then((request) => String(request.query?.['X-Amz-Signature'] ?? ''))
    .catch(() => '');
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new S3ProxyError(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
  }
  const now = Date.now();
  if (signedAt > now + MAX_CLOCK_SKEW_MS) throw new S3ProxyError(403, 'AccessDenied', 'Request is not valid yet');
  if (signedAt + expires * 1000 < now) throw new S3ProxyError(403, 'AccessDenied', 'Request has expired');
}

/**
 * Serves `GET` or `HEAD /s3/{bucket}/{key}` with a presigned URL signed by `accessKeyId`: verifies it, then pipes the
 * object (or its one requested range) from the emulator through `client`. Throws an S3ProxyError for the caller to
 * answer; a failure after the headers went out is the caller's to cut short.
 */
export async function servePresignedGet(
  client: S3Client,
  accessKeyId: string,
  req: IncomingMessage,
  res: ServerResponse,
  rawPath: string,
  bucket: string,
  key: string,
  query: URLSearchParams,
): Promise<void> {
  await verifyPresignedUrl(client, accessKeyId, req, rawPath, query, req.method === 'HEAD' ? 'HEAD' : 'GET');
  const range = singleRange(req.headers.range);
  try {
    const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...(range === undefined ? {} : { Range: range }) }));
    // The SDK's body in Node is the emulator's response stream: piped, never read whole.
    const body = out.Body as Readable;
    const stored = (out.ContentType ?? '').split(';')[0]!.trim().toLowerCase();
    const inline = INLINE_IMAGE_TYPES.has(stored);
    const partial = range !== undefined && out.ContentRange !== undefined;
    res.writeHead(partial ? 206 : 200, {
      'content-type': inline ? stored : 'application/octet-stream',
      ...(inline ? {} : { 'content-disposition': 'attachment' }),
      ...SAFE_OBJECT_HEADERS,
      ...(out.ContentLength === undefined ? {} : { 'content-length': String(out.ContentLength) }),
      ...(partial ? { 'content-range': out.ContentRange } : {}),
      'accept-ranges': 'bytes',
      'cache-control': 'private, max-age=60',
    });
    if (req.method === 'HEAD') {
      body.destroy();
      res.end();
      return;
    }
    await pipeline(body, res);
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name === 'NoSuchKey') throw new S3ProxyError(404, 'NoSuchKey', 'The specified key does not exist.');
    if (name === 'InvalidRange' || (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 416) {
      throw new S3ProxyError(416, 'InvalidRange', 'The requested range is not satisfiable.');
    }
    throw error;
  }
}
