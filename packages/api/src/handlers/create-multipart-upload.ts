// `POST /uploads/multipart`; the Lambda entry is src/lambda/create-multipart-upload.ts.
import { randomUUID } from 'node:crypto';
import { createMultipartUploadRequestSchema, uploadKey, type CreateMultipartUploadResponse } from '@revive/contract';
import type { DepsWith, RouteLogic } from '../app.js';
import { parseJsonBody } from '../http/body.js';
import { json } from '../http/event.js';
import { tenantOf } from '../http/tenant.js';
import { assertVideoSize, partLayout, signParts } from './multipart-parts.js';

/**
 * `POST /uploads/multipart`: starts a multipart upload under the tenant's prefix (stored with the declared video
 * type) and presigns every part for its exact length. A URL takes only its part's length, but a re-sign
 * (POST /uploads/multipart/parts) with a larger `sizeBytes` makes longer parts, up to REVIVE_VIDEO_MAX_BYTES: the
 * bound is completion, which measures the object and deletes one over the limit (422 VIDEO_TOO_LARGE).
 */
export const createMultipartUpload: RouteLogic<DepsWith<'bucket'>> = async (event, deps) => {
  const tenantId = tenantOf(event, deps.config);
  const request = parseJsonBody(event, createMultipartUploadRequestSchema);
  assertVideoSize(request.sizeBytes, deps.config.REVIVE_VIDEO_MAX_BYTES);
  const key = uploadKey(tenantId, randomUUID());
  const uploadId = await deps.bucket.createMultipartUpload(key, request.contentType, deps.signal);
  const { count } = partLayout(request.sizeBytes);
  const partNumbers = Array.from({ length: count }, (_, index) => index + 1);
  const signed = await signParts(deps.bucket, { key, uploadId, sizeBytes: request.sizeBytes }, partNumbers, deps.config.REVIVE_PRESIGN_TTL_SECONDS, deps.now);
  const body: CreateMultipartUploadResponse = { upload_key: key, upload_id: uploadId, ...signed };
  return json(201, body, { 'cache-control': 'no-store' });
};
