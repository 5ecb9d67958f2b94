import type { IncomingMessage, ServerResponse } from 'node:http';
import { S3Client } from '@aws-sdk/client-s3';
import { S3ProxyError, sendS3Error } from './errors.js';
import { dropUnreadBody, servePostUpload } from './post-upload.js';
import { servePresignedGet } from './presigned-get.js';
import { servePresignedUploadPart } from './upload-part.js';

/**
 * A same-origin stand-in for S3's browser-facing endpoints, for the local stack only. fauxqs has no CORS and treats
 * `POST /bucket` as DeleteObjects, so the browser cannot talk to it. The handlers presign against this proxy
 * (REVIVE_S3_PUBLIC_ENDPOINT), and the proxy does what S3 would: it checks the POST policy's signature, expiry and
 * conditions (key, bucket, content-length-range, Content-Type), then stores the file in the emulator (in parts);
 * presigned GETs and UploadParts (a video's multipart upload) are checked like S3 checks them (SigV4 query signature
 * over method, path, query and signed headers, then expiry), then served from the emulator or streamed to it. The
 * multipart upload's create and complete are the API's own calls to the emulator. Nothing here runs in AWS.
 *
 * This module routes a request to one of the signing paths and answers their refusals as S3 does:
 * - `post-upload.ts` receives and stores a presigned POST (its policy checked by `post-policy.ts`);
 * - `presigned-get.ts` verifies and serves a presigned GET (and verifies any presigned URL);
 * - `upload-part.ts` verifies a presigned UploadPart and streams its body to the emulator;
 * - `sigv4.ts` and `errors.ts` are the primitives both share.
 * Bodies stream both ways, so memory stays bounded whatever the object's size.
 */

export { sendS3Timeout } from './errors.js';
export { verifyPostPolicy } from './post-policy.js';
export { MAX_FORM_FIELDS_BYTES, PROXY_UPLOAD_PART_BYTES, REFUSED_UPLOAD_LINGER_MS } from './post-upload.js';
export { INLINE_IMAGE_TYPES, singleRange } from './presigned-get.js';

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

/** Serves `POST /s3/{bucket}` (presigned POST uploads), `PUT /s3/{bucket}/{key}?partNumber&uploadId` (presigned parts) and `GET /s3/{bucket}/{key}` (presigned downloads). */
export function createS3Proxy(options: S3ProxyOptions) {
  const client = new S3Client({
    endpoint: options.endpoint,
    region: options.region,
    credentials: options.credentials,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const uploadOptions = { secretAccessKey: options.credentials.secretAccessKey, maxFormBytes: options.maxFormBytes, spoolDir: options.spoolDir };

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
        if (req.method === 'POST' && key === '') await servePostUpload(client, uploadOptions, req, res, bucket);
        else if ((req.method === 'GET' || req.method === 'HEAD') && key !== '') await servePresignedGet(client, options.credentials.accessKeyId, req, res, rawPath, bucket, key, query);
        else if (req.method === 'PUT' && key !== '') await servePresignedUploadPart(client, options.credentials.accessKeyId, req, res, rawPath, bucket, key, query);
        else throw new S3ProxyError(405, 'MethodNotAllowed', 'The local S3 proxy serves presigned POST uploads, presigned UploadParts and presigned GETs only.');
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
    /** Closes the emulator client's connections. */
    destroy(): void {
      client.destroy();
    },
  };
}
