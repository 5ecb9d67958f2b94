// `POST /uploads/multipart`; the Lambda entry is src/lambda/create-multipart-upload.ts.
import { randomUUID } from 'node:crypto';
import {
  createMultipartUploadRequestSchema,
  multipartPartBytes,
  multipartPartCount,
  multipartPartRange,
  uploadKey,
  type CreateMultipartUploadResponse,
} from '@revive/contract';
import { presignWindow } from '../presign-window.js';
import type { DepsWith, RouteLogic } from '../app.js';
import { ClientError } from '../errors.js';
import { parseJsonBody } from '../http/body.js';
import { json } from '../http/event.js';
import { tenantOf } from '../http/tenant.js';

/**
 * `POST /uploads/multipart`: starts a multipart upload under the tenant's prefix (stored with the declared video
 * type) and presigns every part for its exact length. A URL takes only its part's length, but a re-sign
 * (POST /uploads/multipart/parts) with a larger `sizeBytes` makes longer parts, up to REVIVE_VIDEO_MAX_BYTES: the
 * bound is completion, which measures the object and deletes one over the limit (422 VIDEO_TOO_LARGE).
 */
export const createMultipartUpload: RouteLogic<DepsWith<'bucket'>> = async (event, deps) => {
  const tenantId = tenantOf(event, deps.config);
  const request = parseJsonBody(event, createMultipartUploadRequestSchema);
  const maxBytes = deps.config.REVIVE_VIDEO_MAX_BYTES;
  if (request.sizeBytes > maxBytes) {
    throw new ClientError(422, 'VIDEO_TOO_LARGE', `The video is ${request.sizeBytes} bytes; the limit is ${maxBytes} bytes.`);
  }
  const key = uploadKey(tenantId, randomUUID());
  const ttl = deps.config.REVIVE_PRESIGN_TTL_SECONDS;
  const uploadId = await deps.bucket.createMultipartUpload(key, request.contentType, deps.signal);
  const partBytes = multipartPartBytes(request.sizeBytes);
  const count = multipartPartCount(request.sizeBytes, partBytes);
  const window = presignWindow(deps.now(), ttl);
  const parts = await Promise.all(
    Array.from({ length: count }, async (_, index) => {
      const partNumber = index + 1;
      const { start, end } = multipartPartRange(request.sizeBytes, partBytes, partNumber);
      const url = await deps.bucket.presignUploadPart({ key, uploadId, partNumber, contentLength: end - start, expiresSeconds: ttl, signingDate: window.signingDate });
      return { part_number: partNumber, url };
    }),
  );
  const body: CreateMultipartUploadResponse = {
    upload_key: key,
    upload_id: uploadId,
    part_size_bytes: partBytes,
    parts,
    ...window.expiry(deps.now()),
  };
  return json(201, body, { 'cache-control': 'no-store' });
};
