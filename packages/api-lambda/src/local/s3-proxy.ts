import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { S3RequestPresigner } from '@aws-sdk/s3-request-presigner';

/**
 * A same-origin stand-in for S3's browser-facing endpoints, for the local stack only. fauxqs has no CORS and treats
 * `POST /bucket` as DeleteObjects, so the browser cannot talk to it. The handlers presign against this proxy
 * (REVIVE_S3_PUBLIC_ENDPOINT), and the proxy does what S3 would: it checks the POST policy's signature, expiry and
 * conditions (key, bucket, content-length-range, Content-Type), then stores the file in the emulator with PutObject;
 * presigned GETs are checked like S3 checks them (SigV4 query signature over method, path, query and host, then
 * expiry) and served from the emulator. Nothing here runs in AWS.
 *
 * The proxy shares the API's origin, so an uploaded object must never run as a page there (an SVG with a script
 * would). Raster image types are served as such; anything else goes out as an `application/octet-stream`
 * attachment. Every answer carries `nosniff` and a sandboxing CSP.
 */

/** Types served inline; every other stored type is sent as a download. */
export const INLINE_IMAGE_TYPES: ReadonlySet<string> = new Set(['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/avif']);
/** S3 refuses presigned URLs that live longer than 7 days. */
const MAX_PRESIGN_SECONDS = 604_800;
/** S3 accepts request times up to 15 minutes in the future (clock skew). */
const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;
/** Headers that keep a served object from acting as a page or script on the API's origin. */
const SAFE_OBJECT_HEADERS = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': "sandbox; default-src 'none'",
} as const;

/** Where the emulator is and the credentials presigned requests were signed with. */
export interface S3ProxyOptions {
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Largest form the proxy reads (the policy's own limit is checked separately). */
  readonly maxFormBytes: number;
}

class S3ProxyError extends Error {
  constructor(
    readonly status: number,
    readonly s3Code: string,
    message: string,
  ) {
    super(message);
  }
}

/** `20261128T101500Z` → epoch ms; NaN when it is not in SigV4's basic format. */
function parseAmzDate(value: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  return m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) : Number.NaN;
}

function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function sendS3Error(res: ServerResponse, error: S3ProxyError): void {
  res.writeHead(error.status, { 'content-type': 'application/xml', ...SAFE_OBJECT_HEADERS });
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${error.s3Code}</Code><Message>${xmlEscape(error.message)}</Message></Error>`);
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/** SigV4 signing key for (date, region, service). */
function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) throw new S3ProxyError(400, 'EntityTooLarge', `The upload is larger than ${maxBytes} bytes.`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

type Condition = Record<string, string> | [string, string | number, string | number];

/** Verifies a POST policy against the submitted fields the way S3 does; returns the key and content type. */
export function verifyPostPolicy(
  bucket: string,
  fields: Map<string, string>,
  fileBytes: number,
  secretAccessKey: string,
  nowMs: number,
): { key: string; contentType: string | undefined } {
  const get = (name: string) => fields.get(name.toLowerCase());
  const policyB64 = get('policy');
  const signature = get('x-amz-signature');
  const credential = get('x-amz-credential');
  if (!policyB64 || !signature || !credential) throw new S3ProxyError(400, 'InvalidArgument', 'Policy, X-Amz-Signature and X-Amz-Credential are required.');
  const [, date = '', region = '', service = ''] = credential.split('/');
  const expected = hmac(signingKey(secretAccessKey, date, region, service), policyB64);
  const given = Buffer.from(signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new S3ProxyError(403, 'SignatureDoesNotMatch', 'The POST policy signature does not match.');
  }
  const policy = JSON.parse(Buffer.from(policyB64, 'base64').toString('utf8')) as { expiration: string; conditions: Condition[] };
  if (Date.parse(policy.expiration) < nowMs) throw new S3ProxyError(403, 'AccessDenied', 'Invalid according to Policy: Policy expired.');
  const covered = new Set(['policy', 'x-amz-signature', 'file']);
  const field = (name: string) => (name.toLowerCase() === 'bucket' ? bucket : (get(name) ?? ''));
  for (const condition of policy.conditions) {
    if (Array.isArray(condition)) {
      const [op, a, b] = condition;
      if (op === 'content-length-range') {
        if (fileBytes < Number(a)) throw new S3ProxyError(400, 'EntityTooSmall', `Your proposed upload is smaller than the minimum allowed size (${a}).`);
        if (fileBytes > Number(b)) throw new S3ProxyError(400, 'EntityTooLarge', `Your proposed upload exceeds the maximum allowed size (${b}).`);
        continue;
      }
      const name = String(a).replace(/^\$/, '');
      covered.add(name.toLowerCase());
      const value = field(name);
      const ok = op === 'eq' ? value === String(b) : op === 'starts-with' ? value.startsWith(String(b)) : false;
      if (!ok) throw new S3ProxyError(403, 'AccessDenied', `Invalid according to Policy: Policy Condition failed: ["${op}", "${String(a)}", "${String(b)}"]`);
    } else {
      for (const [name, expectedValue] of Object.entries(condition)) {
        covered.add(name.toLowerCase());
        if (field(name) !== expectedValue) {
          throw new S3ProxyError(403, 'AccessDenied', `Invalid according to Policy: Policy Condition failed: ["eq", "$${name}", "${expectedValue}"]`);
        }
      }
    }
  }
  for (const name of fields.keys()) {
    if (!covered.has(name) && !name.startsWith('x-ignore-')) {
      throw new S3ProxyError(403, 'AccessDenied', `Invalid according to Policy: Extra input fields: ${name}`);
    }
  }
  const key = get('key');
  if (!key) throw new S3ProxyError(400, 'InvalidArgument', 'The form has no key field.');
  return { key, contentType: get('content-type') };
}

/** Serves `POST /s3/{bucket}` (presigned POST uploads) and `GET /s3/{bucket}/{key}` (presigned downloads). */
export function createS3Proxy(options: S3ProxyOptions) {
  const client = new S3Client({
    endpoint: options.endpoint,
    region: options.region,
    credentials: options.credentials,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });

  async function upload(req: IncomingMessage, res: ServerResponse, bucket: string): Promise<void> {
    const contentType = req.headers['content-type'] ?? '';
    if (!contentType.startsWith('multipart/form-data')) throw new S3ProxyError(412, 'PreconditionFailed', 'Bucket POST must be of the enclosure-type multipart/form-data.');
    const body = await readBody(req, options.maxFormBytes);
    const form = await new Request('http://local/', { method: 'POST', headers: { 'content-type': contentType }, body }).formData();
    const fields = new Map<string, string>();
    let file: Blob | undefined;
    for (const [name, value] of form.entries()) {
      if (name.toLowerCase() === 'file') {
        if (typeof value === 'string') throw new S3ProxyError(400, 'InvalidArgument', 'The file field must be a file.');
        file = value;
      } else if (typeof value === 'string') {
        fields.set(name.toLowerCase(), value);
      }
    }
    if (file === undefined) throw new S3ProxyError(400, 'InvalidArgument', 'POST requires exactly one file upload per request.');
    const { key, contentType: objectType } = verifyPostPolicy(bucket, fields, file.size, options.credentials.secretAccessKey, Date.now());
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from(await file.arrayBuffer()), ...(objectType === undefined ? {} : { ContentType: objectType }) }),
    );
    res.writeHead(204, { location: `/s3/${bucket}/${key}` });
    res.end();
  }

  /**
   * Recomputes the presigned GET's SigV4 signature with the SDK's own presigner (same date, expiry, region, host,
   * path and query) and compares; then checks the time window. A URL that was not signed with the stack's key,
   * or whose date, expiry, path or query was changed, fails here.
   */
  async function verifyPresignedGet(req: IncomingMessage, rawPath: string, query: URLSearchParams): Promise<void> {
    const given = query.get('X-Amz-Signature');
    const credential = query.get('X-Amz-Credential');
    const amzDate = query.get('X-Amz-Date') ?? '';
    const expires = Number(query.get('X-Amz-Expires'));
    if (!given || !credential || query.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') {
      throw new S3ProxyError(403, 'AccessDenied', 'Only presigned URLs are served here.');
    }
    const [accessKeyId, , region = '', service = '', terminator] = credential.split('/');
    const signedAt = parseAmzDate(amzDate);
    if (accessKeyId !== options.credentials.accessKeyId || service !== 's3' || terminator !== 'aws4_request') {
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
          method: req.method === 'HEAD' ? 'HEAD' : 'GET',
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

  async function download(req: IncomingMessage, res: ServerResponse, rawPath: string, bucket: string, key: string, query: URLSearchParams): Promise<void> {
    await verifyPresignedGet(req, rawPath, query);
    try {
      const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const bytes = await out.Body!.transformToByteArray();
      const stored = (out.ContentType ?? '').split(';')[0]!.trim().toLowerCase();
      const inline = INLINE_IMAGE_TYPES.has(stored);
      res.writeHead(200, {
        'content-type': inline ? stored : 'application/octet-stream',
        ...(inline ? {} : { 'content-disposition': 'attachment' }),
        ...SAFE_OBJECT_HEADERS,
        'content-length': String(bytes.length),
        'cache-control': 'private, max-age=60',
      });
      res.end(req.method === 'HEAD' ? undefined : Buffer.from(bytes));
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchKey') throw new S3ProxyError(404, 'NoSuchKey', 'The specified key does not exist.');
      throw error;
    }
  }

  return {
    /** Handles a request whose path starts with the proxy prefix; `path` is what follows it. */
    async handle(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams, rawPath: string): Promise<void> {
      try {
        const [bucket = '', ...rest] = path.replace(/^\//, '').split('/');
        let key: string;
        try {
          key = rest.map(decodeURIComponent).join('/');
        } catch {
          throw new S3ProxyError(400, 'InvalidURI', 'Couldn\'t parse the specified URI.');
        }
        if (req.method === 'POST' && key === '') await upload(req, res, bucket);
        else if ((req.method === 'GET' || req.method === 'HEAD') && key !== '') await download(req, res, rawPath, bucket, key, query);
        else throw new S3ProxyError(405, 'MethodNotAllowed', 'The local S3 proxy serves presigned POST uploads and presigned GETs only.');
      } catch (error) {
        if (error instanceof S3ProxyError) sendS3Error(res, error);
        else sendS3Error(res, new S3ProxyError(500, 'InternalError', (error as Error).message));
      }
    },
    destroy(): void {
      client.destroy();
    },
  };
}
