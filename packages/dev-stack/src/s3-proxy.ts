import { createHmac, timingSafeEqual } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { S3RequestPresigner } from '@aws-sdk/s3-request-presigner';
import busboy from 'busboy';
import { ownedTempPrefix } from './temp-dirs.js';

/**
 * A same-origin stand-in for S3's browser-facing endpoints, for the local stack only. fauxqs has no CORS and treats
 * `POST /bucket` as DeleteObjects, so the browser cannot talk to it. The handlers presign against this proxy
 * (REVIVE_S3_PUBLIC_ENDPOINT), and the proxy does what S3 would: it checks the POST policy's signature, expiry and
 * conditions (key, bucket, content-length-range, Content-Type), then stores the file in the emulator (in parts);
 * presigned GETs are checked like S3 checks them (SigV4 query signature over method, path, query and host, then
 * expiry) and served from the emulator. Nothing here runs in AWS.
 *
 * Bodies stream both ways, so memory stays bounded whatever the object's size: an upload's file part goes to a
 * temporary file as it arrives (counted against the policy's content-length-range and the proxy's own limit, and
 * refused the moment it passes either), then to the emulator in parts, so a refused upload stores nothing; a
 * download is piped from the emulator's response. A refused upload is answered at once (before the body
 * is read when Content-Length already says it is too large) and the rest of the body is read and dropped, so the
 * client, still sending, reads the answer instead of a reset connection.
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
/**
 * After refusing an upload whose body has not all arrived, how long the proxy keeps reading (and dropping) the rest
 * before it cuts the connection. Closing at once resets a connection the client is still writing to, and the reset
 * can discard the answer before the client reads it (nginx's `lingering_time` is the same idea). @default 30_000
 */
export const REFUSED_UPLOAD_LINGER_MS = 30_000;
/**
 * Size of the parts in which the proxy stores an upload in the emulator. The emulator buffers each request body whole
 * (Fastify), so one PutObject of a 160 MiB upload cost the stack's process over 300 MB of RSS; in parts it holds one
 * part at a time, and no upload meets the emulator's own body limit. @default 8_388_608
 */
export const PROXY_UPLOAD_PART_BYTES = 8 * 1024 * 1024;
/** Largest total of a form's non-file fields (names and values); S3's policy documents are a few KB. @default 65_536 */
export const MAX_FORM_FIELDS_BYTES = 64 * 1024;
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
  /** Largest form the proxy reads (the policy's own limit is checked separately), Content-Length or streamed. */
  readonly maxFormBytes: number;
  /** Where uploads are spooled while they arrive. @default os.tmpdir() */
  readonly spoolDir?: string;
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

/** The server's answer to an upload whose body stopped arriving: S3's RequestTimeout code, with HTTP's 408. */
export function sendS3Timeout(res: ServerResponse, message: string): void {
  sendS3Error(res, new S3ProxyError(408, 'RequestTimeout', `Your socket connection to the server was not read from or written to within the timeout period. ${message}`));
}

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

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/** SigV4 signing key for (date, region, service). */
function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

type Condition = Record<string, string> | [string, string | number, string | number];

/** What a POST policy allows, once its signature, expiry and conditions have been checked. */
interface CheckedPolicy {
  readonly key: string;
  readonly contentType: string | undefined;
  /** The content-length-range, or [0, Infinity] without one. */
  readonly minBytes: number;
  readonly maxBytes: number;
}

/**
 * Checks a POST policy against the submitted fields the way S3 does, all but the file's size (which a streamed upload
 * only knows at its end): signature, expiry, conditions, extra fields. Returns the key, content type and size range.
 */
function checkPostPolicy(bucket: string, fields: Map<string, string>, secretAccessKey: string, nowMs: number): CheckedPolicy {
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
  let minBytes = 0;
  let maxBytes = Number.POSITIVE_INFINITY;
  for (const condition of policy.conditions) {
    if (Array.isArray(condition)) {
      const [op, a, b] = condition;
      if (op === 'content-length-range') {
        minBytes = Math.max(minBytes, Number(a));
        maxBytes = Math.min(maxBytes, Number(b));
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
  return { key, contentType: get('content-type'), minBytes, maxBytes };
}

function tooLarge(maxBytes: number): S3ProxyError {
  return new S3ProxyError(400, 'EntityTooLarge', `Your proposed upload exceeds the maximum allowed size (${maxBytes}).`);
}

function checkFileBytes(policy: CheckedPolicy, fileBytes: number): void {
  if (fileBytes < policy.minBytes) throw new S3ProxyError(400, 'EntityTooSmall', `Your proposed upload is smaller than the minimum allowed size (${policy.minBytes}).`);
  if (fileBytes > policy.maxBytes) throw tooLarge(policy.maxBytes);
}

/** Verifies a POST policy against the submitted fields the way S3 does; returns the key and content type. */
export function verifyPostPolicy(
  bucket: string,
  fields: Map<string, string>,
  fileBytes: number,
  secretAccessKey: string,
  nowMs: number,
): { key: string; contentType: string | undefined } {
  const policy = checkPostPolicy(bucket, fields, secretAccessKey, nowMs);
  checkFileBytes(policy, fileBytes);
  return { key: policy.key, contentType: policy.contentType };
}

/**
 * Reads a presigned POST's multipart form as it arrives: the fields before the file part (S3 ignores any after it),
 * the policy checked as soon as the file part begins, then the file written to `spoolFile`, counted, and refused
 * the moment it passes the policy's maximum or `maxFormBytes` of request. Resolves with the checked policy and the
 * file's size; rejects with an S3ProxyError, leaving the rest of the request unread.
 */
function receiveForm(
  req: IncomingMessage,
  options: { readonly bucket: string; readonly secretAccessKey: string; readonly maxFormBytes: number; readonly spoolFile: string },
): Promise<{ policy: CheckedPolicy; fileBytes: number }> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: req.headers, limits: { fieldSize: MAX_FORM_FIELDS_BYTES, fields: 1_000, headerPairs: 100 } });
    } catch (error) {
      reject(new S3ProxyError(400, 'MalformedPOSTRequest', `The body of your POST request is not well-formed multipart/form-data (${(error as Error).message}).`));
      return;
    }
    const fields = new Map<string, string>();
    let fieldBytes = 0;
    let requestBytes = 0;
    let settled = false;
    let file: Promise<{ policy: CheckedPolicy; fileBytes: number }> | undefined;
    let fileSource: Readable | undefined;
    function fail(error: unknown): void {
      if (settled) return;
      settled = true;
      // Nothing more is parsed; the caller answers and drops the rest of the body. The file part's stream is
      // destroyed so that its pipeline ends and closes the spool file.
      req.unpipe(parser);
      req.off('data', countRequest);
      fileSource?.destroy();
      reject(error);
    }
    function countRequest(chunk: Buffer): void {
      requestBytes += chunk.length;
      if (requestBytes > options.maxFormBytes) fail(tooLarge(options.maxFormBytes));
    }
    parser.on('field', (name, value, info) => {
      const lower = name.toLowerCase();
      if (file !== undefined) return;
      if (lower === 'file') return fail(new S3ProxyError(400, 'InvalidArgument', 'The file field must be a file.'));
      // Two different values: which would the policy check, and which would be stored? Neither: the form is refused.
      // The same value twice (a client that appends Content-Type beside the presigned fields) is no ambiguity.
      if (fields.has(lower) && fields.get(lower) !== value) {
        return fail(new S3ProxyError(400, 'InvalidArgument', `The form field ${name} appears more than once, with different values.`));
      }
      fieldBytes += Buffer.byteLength(name) + Buffer.byteLength(value);
      if (info.valueTruncated || info.nameTruncated || fieldBytes > MAX_FORM_FIELDS_BYTES) {
        return fail(new S3ProxyError(400, 'MaxPostPreDataLengthExceeded', `Your POST request fields preceding the upload file were too large (over ${MAX_FORM_FIELDS_BYTES} bytes).`));
      }
      fields.set(lower, value);
    });
    parser.on('file', (name, stream: Readable) => {
      // One file part, named file: a second one (or a file part under another name) is refused, not ignored, so
      // what was stored is never a guess about which part the client meant.
      if (name.toLowerCase() !== 'file' || file !== undefined) {
        stream.resume();
        fail(new S3ProxyError(400, 'InvalidArgument', 'POST requires exactly one file upload per request.'));
        return;
      }
      let policy: CheckedPolicy;
      try {
        policy = checkPostPolicy(options.bucket, fields, options.secretAccessKey, Date.now());
      } catch (error) {
        stream.resume();
        file = Promise.reject(error);
        file.catch(() => undefined);
        fail(error);
        return;
      }
      let fileBytes = 0;
      fileSource = stream;
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          fileBytes += chunk.length;
          done(fileBytes > policy.maxBytes ? tooLarge(policy.maxBytes) : undefined, chunk);
        },
      });
      file = pipeline(stream, counter, createWriteStream(options.spoolFile)).then(() => ({ policy, fileBytes }));
      file.catch(fail);
    });
    parser.on('error', (error: Error) => fail(new S3ProxyError(400, 'MalformedPOSTRequest', `The body of your POST request is not well-formed multipart/form-data (${error.message}).`)));
    parser.on('close', () => {
      if (file === undefined) return fail(new S3ProxyError(400, 'InvalidArgument', 'POST requires exactly one file upload per request.'));
      file.then(({ policy, fileBytes }) => {
        checkFileBytes(policy, fileBytes);
        if (settled) return;
        settled = true;
        resolve({ policy, fileBytes });
      }).catch(fail);
    });
    // A client that goes away halfway leaves a form that never ends.
    req.once('close', () => {
      if (!req.complete) fail(new S3ProxyError(400, 'IncompleteBody', 'The request body ended before the form did.'));
    });
    req.on('data', countRequest);
    req.pipe(parser);
  });
}

/**
 * The emulator's own refusal of a PutObject as an S3 error for the client. fauxqs answers an object over its body
 * limit with a 413 in JSON, which the SDK fails to parse as XML: without this the client got a 500 about XML.
 */
function emulatorRefusal(error: unknown, fileBytes: number): S3ProxyError | undefined {
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number }; $response?: { statusCode?: number } };
  const status = e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
  if (status === 413) {
    return new S3ProxyError(400, 'EntityTooLarge', `The local S3 emulator refused the ${fileBytes}-byte object as larger than its body limit.`);
  }
  return undefined;
}

/**
 * After an answer to a request whose body has not all arrived: reads and drops the rest, for at most
 * REFUSED_UPLOAD_LINGER_MS, then cuts the connection. The answer is already on its way, so the client reads it.
 */
function dropUnreadBody(req: IncomingMessage): void {
  if (req.complete) return;
  req.unpipe();
  req.removeAllListeners('data');
  const timer = setTimeout(() => req.socket.destroy(), REFUSED_UPLOAD_LINGER_MS);
  timer.unref();
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
  req.resume();
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
    // A declared length over the limit is refused before a byte of the body is read.
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > options.maxFormBytes) throw tooLarge(options.maxFormBytes);
    const dir = await mkdtemp(path.join(options.spoolDir ?? tmpdir(), ownedTempPrefix('s3-upload')));
    try {
      const spoolFile = path.join(dir, 'file');
      const { policy, fileBytes } = await receiveForm(req, { bucket, secretAccessKey: options.credentials.secretAccessKey, maxFormBytes: options.maxFormBytes, spoolFile });
      const body = createReadStream(spoolFile);
      try {
        // One PutObject up to a part's size; above it a multipart upload, one part in flight, aborted on failure.
        await new Upload({
          client,
          params: { Bucket: bucket, Key: policy.key, Body: body, ...(policy.contentType === undefined ? {} : { ContentType: policy.contentType }) },
          partSize: PROXY_UPLOAD_PART_BYTES,
          queueSize: 1,
          leavePartsOnError: false,
        }).done();
      } catch (error) {
        throw emulatorRefusal(error, fileBytes) ?? error;
      } finally {
        // The SDK leaves the body open when the emulator answers before reading it all (its 413).
        body.destroy();
      }
      res.writeHead(204, { location: `/s3/${bucket}/${policy.key}` });
      res.end();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
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
        if (res.headersSent) {
          // A download cut halfway: the length was announced, so the client sees a short body, never a wrong one.
          res.destroy();
          return;
        }
        if (error instanceof S3ProxyError) sendS3Error(res, error);
        else sendS3Error(res, new S3ProxyError(500, 'InternalError', (error as Error).message));
        dropUnreadBody(req);
      }
    },
    destroy(): void {
      client.destroy();
    },
  };
}
