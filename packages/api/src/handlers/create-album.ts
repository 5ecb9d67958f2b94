// `POST /albums`; the Lambda entry is src/lambda/create-album.ts.
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import {
  API_METRICS,
  childJobId,
  createAlbumRequestSchema,
  jobResponseFromRecord,
  READABLE_IMAGE_NAMES,
  sniffImageType,
  type JobRecord,
  type WorkEstimate,
} from '@revive/contract';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { DepsWith, RouteLogic } from '../app.js';
import { ApiError, ClientError } from '../errors.js';
import { parseJsonBody } from '../http/body.js';
import { baseUrl, json } from '../http/event.js';
import { tenantOf } from '../http/tenant.js';
import { assertPublicUrl } from '../http/url-guard.js';
import { UPLOAD_HEADER_BYTES, uploadGeometry } from '../image-header.js';
import { idempotentJobId, jobMessageFromRecord, mapLimit, pendingEnqueueMark, requestHash, toJobSource } from '../jobs.js';
import { assertSourceAllowed, checkModels, idempotencyKeyOf, maybeCreated, SECONDS_PER_DAY } from './create-job.js';

/** DynamoDB and S3 calls an album's create makes at once. @default 16 */
export const DEFAULT_ALBUM_CREATE_CONCURRENCY = 16;
/**
 * Largest POST /albums body: 1,000 sources of up to 2,048 characters each, with their JSON. Larger than other routes'
 * 64 KiB (1,000 upload keys alone are about 90 KB); API Gateway's own cap is 10 MB. @default 2.5 MiB
 */
export const MAX_ALBUM_BODY_BYTES = 2.5 * 1024 * 1024;
/** SendMessageBatch's limit. */
const SQS_BATCH = 10;

/**
 * `POST /albums`: one photo job per source (ids derived from the album's, so a retry with the same Idempotency-Key
 * writes the same children), then the album's record, then the children's messages. Each child is in the outbox until
 * its message is sent, so the enqueue sweeper sends what a dying Lambda did not; the album stays in the outbox until it
 * ends (the parent sweeper's watch).
 */
export const createAlbum: RouteLogic<DepsWith<'table' | 'queue' | 'bucket'>> = async (event, deps) => {
  const tenantId = tenantOf(event, deps.config);
  const key = idempotencyKeyOf(event);
  const request = parseJsonBody(event, createAlbumRequestSchema, { maxBytes: MAX_ALBUM_BODY_BYTES });
  request.sources.forEach((source, i) => assertSourceAllowed(tenantId, source, `sources[${i}]`, 'POST /uploads', deps.urlAllowList));
  if (request.webhookUrl !== undefined) assertPublicUrl(request.webhookUrl, 'webhookUrl', deps.urlAllowList);
  const options = request.options ?? createAlbumRequestSchema.shape.options.unwrap().parse({});
  checkModels(options, deps.config.REVIVE_AVAILABLE_MODELS);
  const hash = requestHash({ album: { ...request, options } });
  const albumId = key === undefined ? randomUUID() : idempotentJobId(tenantId, key);
  const base = baseUrl(event);

  // Each of the concurrent calls below listens on the request's deadline.
  if (deps.signal !== undefined) setMaxListeners(DEFAULT_ALBUM_CREATE_CONCURRENCY * 2, deps.signal);
  if (key !== undefined) {
    const earlier = await deps.table.get(albumId, deps.signal);
    if (earlier !== undefined) return replay(earlier, tenantId, hash, base, deps);
  }
  // Each photo's work, declared in its message for scaling on work (work.ts): its pixels, from the upload's header.
  const work = new Map<number, WorkEstimate>();
  await mapLimit(request.sources, DEFAULT_ALBUM_CREATE_CONCURRENCY, async (source, i) => {
    if (!('uploadKey' in source)) return;
    const head = await deps.bucket.readHead(source.uploadKey, UPLOAD_HEADER_BYTES, deps.signal);
    if (head === undefined) throw new ClientError(422, 'UPLOAD_NOT_FOUND', `Nothing was uploaded at sources[${i}].uploadKey (or the upload expired).`);
    if (sniffImageType(head) === undefined) {
      throw new ClientError(422, 'INVALID_IMAGE', `The upload at sources[${i}].uploadKey is not an image the worker reads (${READABLE_IMAGE_NAMES}).`);
    }
    const geometry = uploadGeometry(head);
    if (geometry !== undefined) {
      const pixels = geometry.width * geometry.height;
      work.set(i, { frames: 1, pixelsPerFrame: pixels, outputPixelsPerFrame: pixels * options.upscale ** 2 });
    }
  });

  const now = deps.now();
  const common = { tenantId, status: 'QUEUED', options, attempts: 0, createdAt: new Date(now).toISOString(), expiresAt: Math.floor(now / 1000) + deps.config.REVIVE_JOB_TTL_DAYS * SECONDS_PER_DAY } as const;
  const children: JobRecord[] = request.sources.map((source, i) => {
    const jobId = childJobId(albumId, i);
    const estimatedWork = work.get(i);
    return { ...common, jobId, kind: 'photo', parentJobId: albumId, childIndex: i, source: toJobSource(source), ...(estimatedWork === undefined ? {} : { estimatedWork }), ...pendingEnqueueMark(jobId, now) };
  });
  const album: JobRecord = {
    ...common,
    jobId: albumId,
    kind: 'album',
    source: { kind: 'album', photos: children.length },
    ...(request.webhookUrl === undefined ? {} : { webhookUrl: request.webhookUrl }),
    requestHash: hash,
    ...(key === undefined ? {} : { idempotencyKey: key }),
    childrenTotal: children.length,
    childrenSucceeded: 0,
    childrenFailed: 0,
    childrenCanceled: 0,
    ...pendingEnqueueMark(albumId, now),
  };

  try {
    // Children first: an album record is only ever written with all of its children there.
    await mapLimit(children, DEFAULT_ALBUM_CREATE_CONCURRENCY, async (child) => {
      await deps.table.putNew(child, deps.signal);
    });
    if (!(await deps.table.putNew(album, deps.signal))) {
      const raced = await deps.table.get(albumId, deps.signal);
      if (raced !== undefined) return replay(raced, tenantId, hash, base, deps);
    }
  } catch (error) {
    throw error instanceof ApiError && error.code === 'SERVICE_UNAVAILABLE' ? error : maybeCreated(error, albumId, key);
  }
  await sendChildren(children, deps);
  deps.metrics.addMetric(API_METRICS.jobsCreated, MetricUnit.Count, 1);
  deps.logger.info('album created', { jobId: albumId, tenantId, photos: children.length });
  return json(202, jobResponseFromRecord(album, { apiBaseUrl: base, nowMs: now }), { location: `${base}/jobs/${albumId}` });
};

/**
 * Sends the children's messages, ten a call, and takes each sent child out of the outbox. A batch that fails leaves
 * its children in the outbox: the enqueue sweeper sends them after its grace period, and the album is created either way.
 */
async function sendChildren(children: readonly JobRecord[], deps: DepsWith<'table' | 'queue'>): Promise<void> {
  const batches = Array.from({ length: Math.ceil(children.length / SQS_BATCH) }, (_, b) => children.slice(b * SQS_BATCH, (b + 1) * SQS_BATCH));
  await mapLimit(batches, 4, async (batch) => {
    let sent: Set<string>;
    try {
      sent = await deps.queue.sendBatch(batch.map((child) => jobMessageFromRecord(child, deps.now())), deps.signal);
    } catch (error) {
      deps.logger.warn('could not send a batch of album photos; they stay in the outbox for the enqueue sweeper', { error: error as Error, jobIds: batch.map((c) => c.jobId) });
      return;
    }
    await Promise.all(
      batch
        .filter((child) => sent.has(child.jobId))
        .map((child) =>
          deps.table.clearEnqueuePending(child.jobId, child.enqueuePendingSince, deps.signal).catch((error: unknown) => {
            // Sent: the sweeper's second message is turned into a no-op by the worker's conditional claim.
            deps.logger.warn('sent, but could not clear the pending-enqueue mark', { jobId: child.jobId, error: error as Error });
          }),
        ),
    );
  });
}

/** An Idempotency-Key repeat: the same album, or 422 when the key was used for another request. */
function replay(existing: JobRecord, tenantId: string, hash: string, base: string, deps: DepsWith<never>) {
  if (existing.tenantId !== tenantId || existing.requestHash !== hash) {
    throw new ClientError(422, 'IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with a different request body; use a new key.', { instance: `/jobs/${existing.jobId}` });
  }
  deps.metrics.addMetric(API_METRICS.idempotentReplays, MetricUnit.Count, 1);
  return json(202, jobResponseFromRecord(existing, { apiBaseUrl: base, nowMs: deps.now() }), { location: `${base}/jobs/${existing.jobId}`, 'idempotent-replayed': 'true' });
}
