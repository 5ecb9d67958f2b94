// `POST /jobs`; the Lambda entry is src/lambda/create-job.ts.
import { randomUUID } from 'node:crypto';
import {
  API_METRICS,
  createJobRequestSchema,
  IDEMPOTENCY_KEY_PATTERN,
  isTenantUploadKey,
  jobResponseFromRecord,
  DEFAULT_PHOTO_WORK,
  MODEL_OPTIONS,
  photoWorkEstimate,
  planOutput,
  READABLE_IMAGE_NAMES,
  sniffImageType,
  type AddressPolicy,
  type AvailableModels,
  type JobOptions,
  type JobRecord,
  type WorkEstimate,
  workUnits,
} from '@revive/contract';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { DepsWith, RouteLogic } from '../app.js';
import { describeSdkError, serviceAnswered } from '../aws/sdk-options.js';
import { ApiError, ClientError, ServiceError } from '../errors.js';
import { parseJsonBody } from '../http/body.js';
import { UPLOAD_HEADER_BYTES, uploadGeometry } from '../image-header.js';
import { baseUrl, header, json, type ApiEvent, type ApiResult } from '../http/event.js';
import { tenantOf } from '../http/tenant.js';
import { assertPublicUrl } from '../http/url-guard.js';
import { idempotentJobId, jobMessageFromRecord, pendingEnqueueMark, requestHash, toJobSource } from '../jobs.js';

/**
 * A request's source is one of the caller's own uploads or a public URL: otherwise a 403 FORBIDDEN_UPLOAD_KEY that
 * names `field` and the route that hands out upload keys (`uploadRoute`), or assertPublicUrl's 400 FORBIDDEN_URL.
 */
export function assertSourceAllowed(
  tenantId: string,
  source: { readonly uploadKey: string } | { readonly url: string },
  field: string,
  uploadRoute: string,
  policy: AddressPolicy,
): void {
  if ('uploadKey' in source && !isTenantUploadKey(tenantId, source.uploadKey)) {
    throw new ClientError(403, 'FORBIDDEN_UPLOAD_KEY', `${field}.uploadKey is not one of your uploads; get one from ${uploadRoute}.`);
  }
  if ('url' in source) assertPublicUrl(source.url, `${field}.url`, policy);
}

/** Seconds in a day (the records' TTL is in days). */
export const SECONDS_PER_DAY = 86_400;

export function idempotencyKeyOf(event: ApiEvent): string | undefined {
  const key = header(event, 'idempotency-key');
  if (key === undefined) return undefined;
  if (!IDEMPOTENCY_KEY_PATTERN.test(key)) {
    throw new ClientError(400, 'INVALID_IDEMPOTENCY_KEY', 'Idempotency-Key must be 1 to 255 printable ASCII characters without spaces.');
  }
  return key;
}

/**
 * Sends the message, then takes the record out of the outbox (the pending-enqueue index); resolves with the record to
 * answer with. SQS answering with an error marks the record FAILED ENQUEUE_FAILED (so it is not QUEUED for ever) and
 * answers 503 ENQUEUE_FAILED. No answer at all (a timeout, the request's deadline, a dropped connection) may come after
 * SQS took the message: the record stays in the outbox, the job is accepted (202), and sweep-enqueue.ts sends its
 * message after the grace period if no worker has taken it by then. If the Lambda dies before either, the same.
 */
export async function enqueue(record: JobRecord, deps: DepsWith<'table' | 'queue'>): Promise<JobRecord> {
  try {
    await deps.queue.send(jobMessageFromRecord(record, deps.now()), deps.signal);
  } catch (sendError) {
    if (!serviceAnswered(sendError)) {
      deps.metrics.addMetric(API_METRICS.enqueueDeferred, MetricUnit.Count, 1);
      deps.logger.warn('no answer from SQS; the job stays in the outbox for the enqueue sweeper', { jobId: record.jobId, error: sendError as Error });
      return record;
    }
    deps.metrics.addMetric(API_METRICS.enqueueFailures, MetricUnit.Count, 1);
    const reason = `The job could not be queued (${describeSdkError(sendError)}); retry with the same Idempotency-Key.`;
    // Conditional on QUEUED with no attempt, so a worker that got the message anyway is never overruled; when the
    // condition fails (or a first attempt applied it unseen), the record itself says which happened.
    const marked = await deps.table.markEnqueueFailed(record.jobId, reason, new Date(deps.now()).toISOString(), deps.signal);
    const current = marked ?? (await deps.table.get(record.jobId, deps.signal)) ?? record;
    if (current.status === 'FAILED' && current.errorCode === 'ENQUEUE_FAILED') {
      throw new ServiceError(503, 'ENQUEUE_FAILED', reason, { cause: sendError, headers: { 'retry-after': '1' }, instance: `/jobs/${record.jobId}` });
    }
    return current;
  }
  // The work this message carries, for the scaling signal's mean work per message (a URL job: the default photo).
  const units = workUnits(record.estimatedWork ?? DEFAULT_PHOTO_WORK);
  deps.metrics.addMetric(API_METRICS.enqueuedFrames, MetricUnit.Count, units.frames);
  deps.metrics.addMetric(API_METRICS.enqueuedOutputMegapixels, MetricUnit.Count, units.outputMegapixels);
  deps.metrics.addMetric(API_METRICS.enqueuedFaces, MetricUnit.Count, units.faces);
  try {
    await deps.table.clearEnqueuePending(record.jobId, record.enqueuePendingSince, deps.signal);
  } catch (clearError) {
    // The job is queued, so the caller gets its 202; the sweeper will send a second message, which the worker's
    // conditional QUEUED → RUNNING claim turns into a no-op.
    deps.logger.warn('sent, but could not clear the pending-enqueue mark', { jobId: record.jobId, error: clearError as Error });
  }
  return record;
}

/**
 * What the caller is told when something failed after the put was sent: the job may exist, so never "nothing was
 * created". ClientErrors, ENQUEUE_FAILED (the record says FAILED) and contract violations (500) stay as they are.
 */
export function maybeCreated(error: unknown, jobId: string, key: string | undefined): unknown {
  if (error instanceof ApiError && (error.status < 500 || error.code === 'ENQUEUE_FAILED' || error.code === 'INTERNAL')) return error;
  const retry =
    key === undefined
      ? `GET /jobs/${jobId} tells whether it exists; sending the request again without an Idempotency-Key would create a second job.`
      : 'Send the same request with the same Idempotency-Key: it answers with the job if it exists, or creates it.';
  const why = error instanceof Error ? error.message : String(error);
  return new ServiceError(503, 'JOB_STATE_UNKNOWN', `The job may or may not have been created or queued (${why}). ${retry}`, {
    cause: error,
    headers: { 'retry-after': '1' },
    instance: `/jobs/${jobId}`,
  });
}

/** Refuses a restorer or background upsampler the deployed worker does not serve (REVIVE_AVAILABLE_MODELS), as the worker would. */
export function checkModels(options: JobOptions, available: AvailableModels | undefined): void {
  if (available === undefined) return;
  for (const option of MODEL_OPTIONS) {
    const wanted = options[option];
    if (wanted === undefined || available[option].includes(wanted)) continue;
    const kind = option === 'restorer' ? 'restorer' : 'background upsampler';
    const message =
      available[option].length === 0
        ? `this deployment serves no ${kind} a job may name, not ${wanted}`
        : `this deployment serves the ${kind} ${available[option].join(' or ')}, not ${wanted}`;
    throw new ClientError(422, 'UNSUPPORTED_MODEL', `options.${option}: ${message}.`, { errors: [{ path: `options.${option}`, message }] });
  }
}

/**
 * Refuses an upload the worker would refuse from its first bytes: not one of the formats it reads (INVALID_IMAGE),
 * or a header that says it is too large (IMAGE_TOO_LARGE, OUTPUT_TOO_LARGE, with the worker's message: input and
 * output pixels and the format's largest side). The working memory depends on the worker's task, so the worker alone
 * checks it; a header image-size can't read is left to the worker too. Returns the job's work estimate from the
 * header (pixels, output pixels at the upscale; faces unknown), or undefined when the header can't be read.
 */
function checkUpload(head: Uint8Array, options: JobOptions, deps: DepsWith<never>): WorkEstimate | undefined {
  if (sniffImageType(head) === undefined) {
    throw new ClientError(422, 'INVALID_IMAGE', `The upload at source.uploadKey is not an image the worker reads (${READABLE_IMAGE_NAMES}).`);
  }
  const geometry = uploadGeometry(head);
  if (geometry === undefined) return undefined;
  const plan = planOutput(geometry, options, { maxOutputPixels: deps.config.REVIVE_MAX_OUTPUT_PIXELS, jobMemoryMiB: Number.POSITIVE_INFINITY });
  if (!plan.ok) throw new ClientError(422, plan.code, plan.message);
  return photoWorkEstimate(geometry.width, geometry.height, options.upscale);
}

/** `POST /jobs`: validate, conditional put, send; an idempotent repeat returns the same job. */
export const createJob: RouteLogic<DepsWith<'table' | 'queue' | 'bucket'>> = async (event, deps) => {
  const tenantId = tenantOf(event, deps.config);
  const key = idempotencyKeyOf(event);
  const request = parseJsonBody(event, createJobRequestSchema);
  assertSourceAllowed(tenantId, request.source, 'source', 'POST /uploads', deps.urlAllowList);
  if (request.webhookUrl !== undefined) assertPublicUrl(request.webhookUrl, 'webhookUrl', deps.urlAllowList);

  const now = deps.now();
  const options = request.options ?? createJobRequestSchema.shape.options.unwrap().parse({});
  checkModels(options, deps.config.REVIVE_AVAILABLE_MODELS);
  // Hashed with defaults applied: `options: {}` and no options are the same request.
  const hash = requestHash({ ...request, options });
  const jobId = key === undefined ? randomUUID() : idempotentJobId(tenantId, key);

  // A job for an upload that is not there, or that the worker would refuse from its first bytes, would only fail
  // later in the worker: refuse it now. An Idempotency-Key repeat of a job created before the upload expired still gets its job.
  let estimatedWork: WorkEstimate | undefined;
  if ('uploadKey' in request.source) {
    const head = await deps.bucket.readHead(request.source.uploadKey, UPLOAD_HEADER_BYTES, deps.signal);
    if (head === undefined) {
      const earlier = key === undefined ? undefined : await deps.table.get(jobId, deps.signal);
      if (earlier === undefined) {
        throw new ClientError(422, 'UPLOAD_NOT_FOUND', 'Nothing was uploaded at source.uploadKey (or the upload expired); upload the photo to the URL from POST /uploads first.');
      }
    } else {
      estimatedWork = checkUpload(head, options, deps);
    }
  }

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
    ...(estimatedWork === undefined ? {} : { estimatedWork }),
    // In the outbox until the message is sent: the sweeper sends it if this Lambda dies before it can.
    ...pendingEnqueueMark(jobId, now),
  };
  return await putThenAnswer(record, deps, baseUrl(event), key);
};

/**
 * Writes a new job's record and answers: 202 with the message sent (`created`), or the job an idempotent repeat names
 * (`replay`). Up to the put nothing was written, so a failure is a plain 503; from the put on the job may exist, and
 * a failure says so (`maybeCreated`). Photo and video creates share it.
 */
export async function putThenAnswer(record: JobRecord, deps: DepsWith<'table' | 'queue'>, base: string, idempotencyKey: string | undefined): Promise<ApiResult> {
  let isNew: boolean;
  try {
    isNew = await deps.table.putNew(record, deps.signal);
  } catch (error) {
    // A put that was never sent (the request's deadline had passed) changed nothing.
    throw error instanceof ApiError && error.code === 'SERVICE_UNAVAILABLE' ? error : maybeCreated(error, record.jobId, idempotencyKey);
  }
  try {
    return await (isNew ? created(record, deps, base) : replay(record, deps, base));
  } catch (error) {
    throw maybeCreated(error, record.jobId, idempotencyKey);
  }
}

/** The answer to a create whose put wrote the record: the message is sent (or left to the sweeper), 202. */
export async function created(record: JobRecord, deps: DepsWith<'table' | 'queue'>, base: string): Promise<ApiResult> {
  const shown = await enqueue(record, deps);
  deps.metrics.addMetric(API_METRICS.jobsCreated, MetricUnit.Count, 1);
  deps.logger.info('job created', { jobId: record.jobId, tenantId: record.tenantId });
  return json(202, jobResponseFromRecord(shown, { apiBaseUrl: base }), { location: `${base}/jobs/${record.jobId}` });
}

/** The answer to a create whose id already had a record: an idempotent repeat returns the job the key names. */
export async function replay(record: JobRecord, deps: DepsWith<'table' | 'queue'>, base: string): Promise<ApiResult> {
  const { jobId, tenantId } = record;
  // The id exists: an Idempotency-Key repeat (random UUIDs do not collide), or this put itself, applied by an attempt
  // that timed out before the SDK's retry found the record: that one carries this request's createdAt.
  const existing = await deps.table.get(jobId, deps.signal);
  if (existing === undefined || existing.tenantId !== tenantId || existing.requestHash !== record.requestHash) {
    throw new ClientError(422, 'IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with a different request body; use a new key.', {
      instance: `/jobs/${jobId}`,
    });
  }
  if (existing.createdAt === record.createdAt && existing.status === 'QUEUED' && existing.attempts === 0) return await created(existing, deps, base);
  deps.metrics.addMetric(API_METRICS.idempotentReplays, MetricUnit.Count, 1);
  const replayHeaders = { location: `${base}/jobs/${jobId}`, 'idempotent-replayed': 'true' };
  if (existing.status === 'FAILED' && existing.errorCode === 'ENQUEUE_FAILED') {
    const requeuedAt = deps.now();
    let requeued = await deps.table.requeueAfterEnqueueFailure(jobId, requeuedAt, deps.signal);
    const current = requeued ?? (await deps.table.get(jobId, deps.signal)) ?? existing;
    // A first attempt of the update may have applied it unseen: then the record carries this request's mark.
    if (requeued === undefined && current.status === 'QUEUED' && current.enqueuePendingSince === requeuedAt) requeued = current;
    if (requeued !== undefined) {
      const shown = await enqueue(requeued, deps);
      deps.logger.info('job re-enqueued after an enqueue failure', { jobId, tenantId });
      return json(202, jobResponseFromRecord(shown, { apiBaseUrl: base }), replayHeaders);
    }
    return json(202, jobResponseFromRecord(current, { apiBaseUrl: base }), replayHeaders);
  }
  return json(202, jobResponseFromRecord(existing, { apiBaseUrl: base }), replayHeaders);
}
