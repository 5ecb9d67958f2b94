// `POST /uploads/multipart/parts`; the Lambda entry is src/lambda/sign-multipart-upload-parts.ts.
import { signMultipartUploadPartsRequestSchema } from '@revive/contract';
import type { DepsWith, RouteLogic } from '../app.js';
import { ClientError } from '../errors.js';
import { parseJsonBody } from '../http/body.js';
import { json } from '../http/event.js';
import { tenantOf } from '../http/tenant.js';
import { assertOwnUpload, assertVideoSize, partLayout, signParts } from './multipart-parts.js';

/**
 * `POST /uploads/multipart/parts`: presigns the parts of the tenant's own open upload again, each for its exact length
 * from `sizeBytes`, as POST /uploads/multipart did. URLs signed up front expire (and with a Lambda role's temporary
 * credentials they die with those credentials whatever their TTL), so a slow connection asks for the parts it has
 * not sent yet as it gets to them. The upload does not remember its declared size: a client that declares a larger
 * size than at creation gets URLs for longer parts (up to REVIVE_VIDEO_MAX_BYTES in all), so the bound on the object is
 * completion, which measures it and deletes one over REVIVE_VIDEO_MAX_BYTES (422 VIDEO_TOO_LARGE). `expires_at` is the
 * whole signing second plus the TTL, and `expires_in_seconds` what is left of it as the answer leaves.
 */
export const signMultipartUploadParts: RouteLogic<DepsWith<'bucket'>> = async (event, deps) => {
  const tenantId = tenantOf(event, deps.config);
  const request = parseJsonBody(event, signMultipartUploadPartsRequestSchema);
  assertOwnUpload(tenantId, request.uploadKey);
  assertVideoSize(request.sizeBytes, deps.config.REVIVE_VIDEO_MAX_BYTES);
  const { count } = partLayout(request.sizeBytes);
  const asked = request.partNumbers === undefined ? Array.from({ length: count }, (_, index) => index + 1) : [...new Set(request.partNumbers)].sort((a, b) => a - b);
  const beyond = asked.filter((partNumber) => partNumber > count);
  if (beyond.length > 0) {
    // A number the schema accepts (1..10,000) but that this upload does not have: a 422 about the upload's parts, like
    // completion's refusals, rather than a 400 VALIDATION_FAILED of the body's shape.
    throw new ClientError(
      422,
      'INVALID_UPLOAD_PARTS',
      `A ${request.sizeBytes}-byte upload has ${count} part${count === 1 ? '' : 's'}; there is no part ${beyond.join(', ')}.`,
    );
  }
  // Signing needs no call to S3; this one check keeps the route from presigning for an upload that cannot take parts.
  await deps.bucket.assertMultipartUploadOpen(request.uploadKey, request.uploadId, deps.signal);
  const signed = await signParts(deps.bucket, { key: request.uploadKey, uploadId: request.uploadId, sizeBytes: request.sizeBytes }, asked, deps.config.REVIVE_PRESIGN_TTL_SECONDS, deps.now);
  return json(200, signed, { 'cache-control': 'no-store' });
};
