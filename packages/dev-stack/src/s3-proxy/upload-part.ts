import type { IncomingMessage, ServerResponse } from 'node:http';
import { UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import { S3ProxyError, SAFE_OBJECT_HEADERS } from './errors.js';
import { verifyPresignedUrl } from './presigned-get.js';

/**
 * The presigned UploadPart (`PUT /s3/{bucket}/{key}?partNumber=N&uploadId=…`), checked like S3 checks it (SigV4 query
 * signature over method, path, query and the signed headers: the API signs each part's Content-Length, so a body of
 * another length is refused), then streamed to the emulator's UploadPart. The answer carries the part's ETag, which
 * the client names again to complete the upload. Same-origin, so the browser reads the header without CORS.
 */
export async function servePresignedUploadPart(
  client: S3Client,
  accessKeyId: string,
  req: IncomingMessage,
  res: ServerResponse,
  rawPath: string,
  bucket: string,
  key: string,
  query: URLSearchParams,
): Promise<void> {
  const uploadId = query.get('uploadId');
  const partNumber = Number(query.get('partNumber'));
  if (!uploadId || !Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000) {
    throw new S3ProxyError(400, 'InvalidArgument', 'A PUT here is an UploadPart: it needs uploadId and a partNumber from 1 to 10000.');
  }
  const length = Number(req.headers['content-length']);
  if (req.headers['content-length'] === undefined || !Number.isSafeInteger(length)) {
    throw new S3ProxyError(411, 'MissingContentLength', 'You must provide the Content-Length HTTP header.');
  }
  await verifyPresignedUrl(client, accessKeyId, req, rawPath, query, 'PUT');
  try {
    const out = await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: req, ContentLength: length }));
    res.writeHead(200, { ...SAFE_OBJECT_HEADERS, ...(out.ETag === undefined ? {} : { etag: out.ETag }), 'content-length': '0' });
    res.end();
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchUpload') {
      throw new S3ProxyError(404, 'NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.');
    }
    throw error;
  }
}
