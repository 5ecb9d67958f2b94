// `POST /videos`; the Lambda entry is src/lambda/create-video.ts.
import { randomUUID } from 'node:crypto';
import { createVideoRequestSchema, sniffVideoContainer, VIDEO_HEADER_BYTES, type JobRecord } from '@revive/contract';
import type { DepsWith, RouteLogic } from '../app.js';
import { ClientError } from '../errors.js';
import { parseJsonBody } from '../http/body.js';
import { baseUrl } from '../http/event.js';
import { tenantOf } from '../http/tenant.js';
import { assertPublicUrl } from '../http/url-guard.js';
import { idempotentJobId, pendingEnqueueMark, requestHash, toJobSource } from '../jobs.js';
import { assertSourceAllowed, checkModels, idempotencyKeyOf, putThenAnswer, SECONDS_PER_DAY } from './create-job.js';

/**
 * `POST /videos`: as POST /jobs (validation, Idempotency-Key, conditional put, send, outbox), for a job of kind
 * `video`. What the upload's first bytes and size already say is refused here (INVALID_VIDEO, VIDEO_TOO_LARGE); what
 * only a probe tells (duration, resolution, streams, a truncated file) the worker refuses with a FAILED job.
 */
export const createVideo: RouteLogic<DepsWith<'table' | 'queue' | 'bucket'>> = async (event, deps) => {
  const tenantId = tenantOf(event, deps.config);
  const key = idempotencyKeyOf(event);
  const request = parseJsonBody(event, createVideoRequestSchema);
  assertSourceAllowed(tenantId, request.source, 'source', 'POST /uploads/multipart', deps.urlAllowList);
  if (request.webhookUrl !== undefined) assertPublicUrl(request.webhookUrl, 'webhookUrl', deps.urlAllowList);
  const options = request.options ?? createVideoRequestSchema.shape.options.unwrap().parse({});
  checkModels(options, deps.config.REVIVE_AVAILABLE_MODELS);
  const hash = requestHash({ video: { ...request, options } });
  const jobId = key === undefined ? randomUUID() : idempotentJobId(tenantId, key);
  const now = deps.now();
  const record: JobRecord = {
    jobId,
    tenantId,
    status: 'QUEUED',
    kind: 'video',
    source: toJobSource(request.source),
    options,
    ...(request.video?.crf === undefined ? {} : { videoCrf: request.video.crf }),
    ...(request.webhookUrl === undefined ? {} : { webhookUrl: request.webhookUrl }),
    requestHash: hash,
    ...(key === undefined ? {} : { idempotencyKey: key }),
    attempts: 0,
    createdAt: new Date(now).toISOString(),
    expiresAt: Math.floor(now / 1000) + deps.config.REVIVE_JOB_TTL_DAYS * SECONDS_PER_DAY,
    ...pendingEnqueueMark(jobId, now),
  };
  const base = baseUrl(event);

  if ('uploadKey' in request.source) {
    const upload = await deps.bucket.readHeadAndSize(request.source.uploadKey, VIDEO_HEADER_BYTES, deps.signal);
    if (upload === undefined) {
      const earlier = key === undefined ? undefined : await deps.table.get(jobId, deps.signal);
      if (earlier === undefined) {
        throw new ClientError(422, 'UPLOAD_NOT_FOUND', 'Nothing was uploaded at source.uploadKey (or the upload expired); upload the video with POST /uploads/multipart first.');
      }
    } else {
      if (sniffVideoContainer(upload.head) === undefined) {
        throw new ClientError(422, 'INVALID_VIDEO', 'The upload at source.uploadKey is not a video container the worker reads (MP4, MOV, MKV, WebM).');
      }
      if (upload.sizeBytes !== undefined && upload.sizeBytes > deps.config.REVIVE_VIDEO_MAX_BYTES) {
        throw new ClientError(422, 'VIDEO_TOO_LARGE', `The upload is ${upload.sizeBytes} bytes; videos may have at most ${deps.config.REVIVE_VIDEO_MAX_BYTES}.`);
      }
    }
  }

  return await putThenAnswer(record, deps, base, key);
};
