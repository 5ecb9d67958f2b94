// `POST /jobs`; the Lambda entry is src/lambda/create-job.ts.
import { randomUUID } from 'node:crypto';
import { API_METRICS, createJobRequestSchema, IDEMPOTENCY_KEY_PATTERN, isTenantUploadKey, planOutput, type JobOptions, type JobRecord, jobResponseFromRecord } from '@revive/contract';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { DepsWith, RouteLogic } from '../app.js';
import { ClientError, ServiceError } from '../errors.js';
import { parseJsonBody } from '../http/body.js';
import { UPLOAD_HEADER_BYTES, uploadGeometry } from '../image-header.js';
import { baseUrl, header, json, type ApiEvent } from '../http/event.js';
import { tenantOf } from '../http/tenant.js';
import { assertPublicUrl } from '../http/url-guard.js';
import { idempotentJobId, jobMessageFromRecord, pendingEnqueueMark, requestHash, toJobSource } from '../jobs.js';

const SECONDS_PER_DAY = 86_400;

function idempotencyKeyOf(event: ApiEvent): string | undefined {
  const key = header(event, 'idempotency-key');
  if (key === undefined) return undefined;
  if (!IDEMPOTENCY_KEY_PATTERN.test(key)) {
    throw new ClientError(400, 'INVALID_IDEMPOTENCY_KEY', 'Idempotency-Key must be 1 to 255 printable ASCII characters without spaces.');
  }
  return key;
}

/**
 * Sends the message, then takes the record out of the outbox (the pending-enqueue index). A failed send marks the
 * record FAILED ENQUEUE_FAILED (so it is not QUEUED for ever) and answers 503. If the Lambda dies before either, the
 * record stays in the outbox and sweep-enqueue.ts sends its message after the grace period.
 */
async function enqueue(record: JobRecord, deps: DepsWith<'table' | 'queue'>): Promise<void> {
  try {
    await deps.queue.send(jobMessageFromRecord(record, deps.now()));
  } catch (sendError) {
    deps.metrics.addMetric(API_METRICS.enqueueFailures, MetricUnit.Count, 1);
    const reason = `The job could not be queued (${(sendError as Error).name ?? 'error'}); retry with the same Idempotency-Key.`;
    try {
      await deps.table.markEnqueueFailed(record.jobId, reason, new Date(deps.now()).toISOString());
    } catch (markError) {
      // Both SQS and DynamoDB failed: the record stays QUEUED in the outbox, and the sweeper sends it once SQS answers.
      deps.logger.error('could not mark the job ENQUEUE_FAILED', { jobId: record.jobId, error: markError as Error });
    }
    throw new ServiceError(503, 'ENQUEUE_FAILED', reason, { cause: sendError, headers: { 'retry-after': '1' }, instance: `/jobs/${record.jobId}` });
  }
  try {
    await deps.table.clearEnqueuePending(record.jobId, record.enqueuePendingSince);
  } catch (clearError) {
    // The job is queued, so the caller gets its 202; the sweeper will send a second message, which the worker's
    // conditional QUEUED → RUNNING claim turns into a no-op.
    deps.logger.warn('sent, but could not clear the pending-enqueue mark', { jobId: record.jobId, error: clearError as Error });
  }
}

/**
 * Refuses an upload whose header says the worker would refuse it (IMAGE_TOO_LARGE, OUTPUT_TOO_LARGE) with the same
 * message: input and output pixels and the format's largest side. The working memory depends on the worker's task,
 * so the worker alone checks it; a header image-size can't read is left to the worker too.
 */
function checkUploadSize(head: Uint8Array, options: JobOptions, deps: DepsWith<never>): void {
  const geometry = uploadGeometry(head);
  if (geometry === undefined) return;
  const plan = planOutput(geometry, options, { maxOutputPixels: deps.config.REVIVE_MAX_OUTPUT_PIXELS, jobMemoryMiB: Number.POSITIVE_INFINITY });
  if (!plan.ok) throw new ClientError(422, plan.code, plan.message);
}

/** `POST /jobs`: validate, conditional put, send; an idempotent repeat returns the same job. */
export const createJob: RouteLogic<DepsWith<'table' | 'queue' | 'bucket'>> = async (event, deps) => {
  const tenantId = tenantOf(event, deps.config);
  const key = idempotencyKeyOf(event);
  const request = parseJsonBody(event, createJobRequestSchema);
  if ('uploadKey' in request.source && !isTenantUploadKey(tenantId, request.source.uploadKey)) {
    throw new ClientError(403, 'FORBIDDEN_UPLOAD_KEY', 'source.uploadKey is not one of your uploads; get one from POST /uploads.');
  }
  if ('url' in request.source) assertPublicUrl(request.source.url, 'source.url', deps.urlAllowList);
  if (request.webhookUrl !== undefined) assertPublicUrl(request.webhookUrl, 'webhookUrl', deps.urlAllowList);

  const now = deps.now();
  const options = request.options ?? createJobRequestSchema.shape.options.unwrap().parse({});
  // Hashed with defaults applied: `options: {}` and no options are the same request.
  const hash = requestHash({ ...request, options });
  const jobId = key === undefined ? randomUUID() : idempotentJobId(tenantId, key);
  const record: JobRecord = {
    jobId,
    tenantId,
    status: 'QUEUED',
    source: toJobSource(request.source),
    options,
    ...(request.webhookUrl === undefined ? {} : { webhookUrl: request.webhookUrl }),
    requestHash: hash,
    ...(key === undefined ? {} : { idempotencyKey: key }),
    attempts: 0,
    createdAt: new Date(now).toISOString(),
    expiresAt: Math.floor(now / 1000) + deps.config.REVIVE_JOB_TTL_DAYS * SECONDS_PER_DAY,
    // In the outbox until the message is sent: the sweeper sends it if this Lambda dies before it can.
    ...pendingEnqueueMark(jobId, now),
  };
  const base = baseUrl(event);

  // A job for an upload that is not there, or that the worker would refuse from its header, would only fail later in
  // the worker: refuse it now. An Idempotency-Key repeat of a job created before the upload expired still gets its job.
  if ('uploadKey' in request.source) {
    const head = await deps.bucket.readHead(request.source.uploadKey, UPLOAD_HEADER_BYTES);
    if (head === undefined) {
      const earlier = key === undefined ? undefined : await deps.table.get(record.jobId);
      if (earlier === undefined) {
        throw new ClientError(422, 'UPLOAD_NOT_FOUND', 'Nothing was uploaded at source.uploadKey (or the upload expired); upload the photo to the URL from POST /uploads first.');
      }
    } else {
      checkUploadSize(head, options, deps);
    }
  }

  if (await deps.table.putNew(record)) {
    await enqueue(record, deps);
    deps.metrics.addMetric(API_METRICS.jobsCreated, MetricUnit.Count, 1);
    deps.logger.info('job created', { jobId: record.jobId, tenantId });
    return json(202, jobResponseFromRecord(record, { apiBaseUrl: base }), { location: `${base}/jobs/${record.jobId}` });
  }

  // The id exists: only an Idempotency-Key repeat gets here (random UUIDs do not collide).
  const existing = await deps.table.get(record.jobId);
  if (existing === undefined || existing.tenantId !== tenantId || existing.requestHash !== hash) {
    throw new ClientError(422, 'IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with a different request body; use a new key.', {
      instance: `/jobs/${record.jobId}`,
    });
  }
  deps.metrics.addMetric(API_METRICS.idempotentReplays, MetricUnit.Count, 1);
  const replayHeaders = { location: `${base}/jobs/${existing.jobId}`, 'idempotent-replayed': 'true' };
  if (existing.status === 'FAILED' && existing.errorCode === 'ENQUEUE_FAILED') {
    const requeued = await deps.table.requeueAfterEnqueueFailure(existing.jobId, deps.now());
    if (requeued !== undefined) {
      await enqueue(requeued, deps);
      deps.logger.info('job re-enqueued after an enqueue failure', { jobId: requeued.jobId, tenantId });
      return json(202, jobResponseFromRecord(requeued, { apiBaseUrl: base }), replayHeaders);
    }
    const current = await deps.table.get(existing.jobId);
    return json(202, jobResponseFromRecord(current ?? existing, { apiBaseUrl: base }), replayHeaders);
  }
  return json(202, jobResponseFromRecord(existing, { apiBaseUrl: base }), replayHeaders);
};
