// `POST /uploads/multipart/abort`; the Lambda entry is src/lambda/abort-multipart-upload.ts.
import { abortMultipartUploadRequestSchema, isTenantUploadKey } from '@revive/contract';
import type { DepsWith, RouteLogic } from '../app.js';
import { ClientError } from '../errors.js';
import { parseJsonBody } from '../http/body.js';
import { tenantOf } from '../http/tenant.js';

/** `POST /uploads/multipart/abort`: drops the tenant's own upload's parts; an upload already gone is a 204 too. */
export const abortMultipartUpload: RouteLogic<DepsWith<'bucket'>> = async (event, deps) => {
  const tenantId = tenantOf(event, deps.config);
  const request = parseJsonBody(event, abortMultipartUploadRequestSchema);
  if (!isTenantUploadKey(tenantId, request.uploadKey)) {
    throw new ClientError(403, 'FORBIDDEN_UPLOAD_KEY', "uploadKey is not one of the caller's uploads.");
  }
  await deps.bucket.abortMultipartUpload(request.uploadKey, request.uploadId, deps.signal);
  return { statusCode: 204, headers: { 'cache-control': 'no-store' } };
};
