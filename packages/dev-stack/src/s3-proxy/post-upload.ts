import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import busboy from 'busboy';
import { ownedTempPrefix } from '../temp-dirs.js';
import { S3ProxyError } from './errors.js';
import { checkFileBytes, checkPostPolicy, tooLarge, type CheckedPolicy } from './post-policy.js';

/**
 * The presigned POST upload, streamed so that memory stays bounded whatever the object's size: the form's file part
 * goes to a temporary file as it arrives (counted against the policy's content-length-range and the proxy's own
 * limit, and refused the moment it passes either), then to the emulator in parts, so a refused upload stores
 * nothing. A refused upload is answered at once (before the body is read when Content-Length already says it is too
 * large) and the rest of the body is read and dropped, so the client, still sending, reads the answer instead of a
 * reset connection.
 */

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

/** What the upload path needs of the proxy's options. */
export interface UploadOptions {
  /** The secret the POST policies were signed with. */
  readonly secretAccessKey: string;
  /** Largest form the proxy reads (the policy's own limit is checked separately), Content-Length or streamed. */
  readonly maxFormBytes: number;
  /** Where uploads are spooled while they arrive. @default os.tmpdir() */
  readonly spoolDir?: string | undefined;
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
export function dropUnreadBody(req: IncomingMessage): void {
  if (req.complete) return;
  req.unpipe();
  req.removeAllListeners('data');
  const timer = setTimeout(() => req.socket.destroy(), REFUSED_UPLOAD_LINGER_MS);
  timer.unref();
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
  req.resume();
}

/**
 * Serves `POST /s3/{bucket}`: checks the form's policy as it arrives, spools the file, stores it in the emulator
 * through `client` and answers 204. Throws an S3ProxyError for the caller to answer (and to drop the unread body).
 */
export async function servePostUpload(client: S3Client, options: UploadOptions, req: IncomingMessage, res: ServerResponse, bucket: string): Promise<void> {
  const contentType = req.headers['content-type'] ?? '';
  if (!contentType.startsWith('multipart/form-data')) throw new S3ProxyError(412, 'PreconditionFailed', 'Bucket POST must be of the enclosure-type multipart/form-data.');
  // A declared length over the limit is refused before a byte of the body is read.
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > options.maxFormBytes) throw tooLarge(options.maxFormBytes);
  const dir = await mkdtemp(path.join(options.spoolDir ?? tmpdir(), ownedTempPrefix('s3-upload')));
  try {
    const spoolFile = path.join(dir, 'file');
    const { policy, fileBytes } = await receiveForm(req, { bucket, secretAccessKey: options.secretAccessKey, maxFormBytes: options.maxFormBytes, spoolFile });
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
