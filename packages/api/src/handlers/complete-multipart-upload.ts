// `POST /uploads/multipart/complete`; the Lambda entry is src/lambda/complete-multipart-upload.ts.
import { completeMultipartUploadRequestSchema, type CompleteMultipartUploadResponse } from '@revive/contract';
import type { DepsWith, RouteLogic } from '../app.js';
import { ClientError } from '../errors.js';
import { parseJsonBody } from '../http/body.js';
import { json } from '../http/event.js';
import { tenantOf } from '../http/tenant.js';
import { assertOwnUpload } from './multipart-parts.js';

/**
 * `POST /uploads/multipart/complete`: completes the tenant's own upload, then checks the object's size against the
 * video limit and deletes an object over it: this is the bound on a video's size (a re-sign with a larger `sizeBytes`
 * gets longer parts, and the limit may have been lowered meanwhile).
 */
export const completeMultipartUpload: RouteLogic<DepsWith<'bucket'>> = async (event, deps) => {
  const tenantId = tenantOf(event, deps.config);
  const request = parseJsonBody(event, completeMultipartUploadRequestSchema);
  assertOwnUpload(tenantId, request.uploadKey);
  const sizeBytes = await deps.bucket.completeMultipartUpload(request.uploadKey, request.uploadId, request.parts, deps.signal);
  const maxBytes = deps.config.REVIVE_VIDEO_MAX_BYTES;
  if (sizeBytes > maxBytes) {
    await deps.bucket.delete(request.uploadKey, deps.signal);
    throw new ClientError(422, 'VIDEO_TOO_LARGE', `The upload is ${sizeBytes} bytes; the limit is ${maxBytes} bytes. It was deleted.`);
  }
  const body: CompleteMultipartUploadResponse = { upload_key: request.uploadKey };
  return json(200, body, { 'cache-control': 'no-store' });
};
