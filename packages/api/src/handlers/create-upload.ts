// `POST /uploads`; the Lambda entry is src/lambda/create-upload.ts.
import { randomUUID } from 'node:crypto';
import { createUploadRequestSchema, uploadKey, type CreateUploadResponse } from '@revive/contract';
import type { DepsWith, RouteLogic } from '../app.js';
import { parseJsonBody } from '../http/body.js';
import { json } from '../http/event.js';
import { tenantOf } from '../http/tenant.js';

/** `POST /uploads`: a presigned POST under the tenant's prefix, limited in size and to image content types. */
export const createUpload: RouteLogic<DepsWith<'bucket'>> = async (event, deps) => {
  const tenantId = tenantOf(event, deps.config);
  const request = parseJsonBody(event, createUploadRequestSchema, { emptyAs: {} });
  const key = uploadKey(tenantId, randomUUID());
  const ttl = deps.config.REVIVE_PRESIGN_TTL_SECONDS;
  const maxBytes = deps.config.REVIVE_UPLOAD_MAX_BYTES;
  const post = await deps.bucket.presignUpload({ key, maxBytes, contentType: request.contentType, expiresSeconds: ttl });
  const body: CreateUploadResponse = {
    url: post.url,
    fields: post.fields,
    uploadKey: key,
    expires_at: new Date(deps.now() + ttl * 1000).toISOString(),
    max_bytes: maxBytes,
  };
  return json(201, body, { 'cache-control': 'no-store' });
};
