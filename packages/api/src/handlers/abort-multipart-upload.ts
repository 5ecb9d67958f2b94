// `POST /uploads/multipart/abort`; the Lambda entry is src/lambda/abort-multipart-upload.ts.
import { abortMultipartUploadRequestSchema } from '@revive/contract';
import type { DepsWith, RouteLogic } from '../app.js';
import { parseJsonBody } from '../http/body.js';
import { tenantOf } from '../http/tenant.js';
import { assertOwnUpload } from './multipart-parts.js';

/** `POST /uploads/multipart/abort`: drops the tenant's own upload's parts; an upload already gone is a 204 too. */
export const abortMultipartUpload: RouteLogic<DepsWith<'bucket'>> = async (event, deps) => {
  const tenantId = tenantOf(event, deps.config);
  const request = parseJsonBody(event, abortMultipartUploadRequestSchema);
  assertOwnUpload(tenantId, request.uploadKey);
  await deps.bucket.abortMultipartUpload(request.uploadKey, request.uploadId, deps.signal);
  return { statusCode: 204, headers: { 'cache-control': 'no-store' } };
};
