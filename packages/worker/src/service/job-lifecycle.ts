// The part of running a job that every kind shares (claim, lease and visibility, budget, outcome, message, webhook);
// what a kind of job does is its task (tasks/).
import type { Message } from '@aws-sdk/client-sqs';
import { JOB_ERROR_CODES, TERMINAL_STATUSES, videoWorkPrefix, jobMessageSchema, jobIdSchema, tenantIdSchema, type JobErrorCode, type JobMessage, type JobRecord } from '@revive/contract';
import { z } from 'zod';
import { PermanentError, WorkerError, messageOf, describeThrown } from '@revive/pipeline';
import type { HealthReporter } from './health.js';
import type { ChildEnd, JobStore } from './job-store.js';
import type { ObjectStore } from './object-store.js';
import { JobDeadline } from './job-budget.js';
import type { JobQueueConsumer } from './queue.js';
import { isYield, type JobTask, type TaskContext, type TaskYield } from './tasks/task.js';
import type { Telemetry } from './telemetry.js';
import { webhookPayload, type WebhookDispatcher } from './webhook-retries.js';

/** First backoff after a transient failure; doubles per delivery. @default 5 */
export const DEFAULT_RETRY_BASE_SECONDS = 5;
/** Cap on that backoff. @default 300 */
export const DEFAULT_RETRY_MAX_SECONDS = 300;
/** Largest gap between a job's lease expiry and its message's visibility timeout. @default 5_000 */
export const LEASE_MARGIN_MAX_MS = 5_000;
/**
 * How long a child may wait for its parent's record. POST /albums writes the photos before the album; a Lambda that
 * dies in between leaves photos the enqueue sweeper sends without an album, which the client's retry (same
 * Idempotency-Key) then writes. Within this age a missing parent means "not written yet"; past it, "never will be".
 * @default 900 (15 minutes)
 */
export const MISSING_PARENT_WAIT_SECONDS = 900;
/**
 * How long a child whose parent is not written yet waits before it looks again: it is sent again hidden this long
 * (a fresh message, so the waiting spends none of its receives and never reaches the DLQ).
 * @default 60
 */
export const MISSING_PARENT_RECHECK_SECONDS = 60;

/** Just enough of a body to find its record when the rest is invalid. */
const messageIdsSchema = z.object({ jobId: jobIdSchema, tenantId: tenantIdSchema });

export interface JobLifecycleSettings {
  /** This process's lease owner id (unique per process). */
  readonly workerId: string;
  readonly visibilityTimeoutSeconds: number;
  readonly heartbeatIntervalMs: number;
  readonly maxReceiveCount: number;
  readonly jobTtlDays: number;
  /**
   * The fixed part of a job's budget from the moment its task starts it (REVIVE_JOB_TIMEOUT_SECONDS); once the task
   * knows its work (a photo's faces and output size) it grows by the two shares below (job-budget.ts). Past it the job
   * FAILS with JOB_TIMEOUT.
   */
  readonly jobTimeoutSeconds: number;
  /** Jobs the task runs at once (REVIVE_CONCURRENCY), for the per-unit costs it publishes. @default 1 */
  readonly concurrency?: number;
  /** REVIVE_JOB_TIMEOUT_PER_FACE_SECONDS. @default the contract's DEFAULT_JOB_TIMEOUT_PER_FACE_SECONDS */
  readonly jobTimeoutPerFaceSeconds?: number;
  /** REVIVE_JOB_TIMEOUT_PER_MEGAPIXEL_SECONDS. @default the contract's DEFAULT_JOB_TIMEOUT_PER_MEGAPIXEL_SECONDS */
  readonly jobTimeoutPerMegapixelSeconds?: number;
  /** @default DEFAULT_RETRY_BASE_SECONDS */
  readonly retryBaseSeconds?: number;
  /** @default DEFAULT_RETRY_MAX_SECONDS */
  readonly retryMaxSeconds?: number;
}

export interface JobLifecycleDeps {
  readonly store: JobStore;
  /** Signs the result URL a webhook carries; deletes a segment its ended video will never assemble. */
  readonly objects: Pick<ObjectStore, 'presignResult' | 'deleteObjects'>;
  readonly queue: JobQueueConsumer;
  /** Quick attempts, then the durable retries (webhook-retries.ts). */
  readonly webhooks: WebhookDispatcher;
  readonly telemetry: Telemetry;
  readonly health: HealthReporter;
  /** Told the running-job count after each job starts and ends (task scale-in protection listens). */
  readonly onActiveChange?: (activeCount: number) => void;
}

/** A job a slot is running, so that shutdown can release it. */
interface ActiveJob {
  readonly jobId: string;
  readonly slot: number;
  readonly receiptHandle: string;
  readonly done: Promise<void>;
  /** Set when shutdown has released the job: its outcome must not be written any more. */
  released: boolean;
  leaseLost: boolean;
}

/**
 * Runs one delivery of one job message through what every job goes through, whatever its kind: validation, the
 * conditional claim, the heartbeat (message visibility and lease), the budget, the job's task, the final conditional
 * write, the failure mapping (FAILED with a code and a reason, or a retry), the message's fate and the webhook. It
 * never throws: every outcome ends as a deleted message, a deferred one (visibility backed off) or one left for the
 * DLQ, and a log line.
 */
export class JobLifecycle {
  private readonly active = new Map<number, ActiveJob>();
  private readonly webhooksInFlight = new Set<Promise<void>>();
  /** Claims under way: SIGTERM waits for them so a job claimed mid-shutdown is either run or released. */
  private readonly claimsInFlight = new Set<Promise<unknown>>();
  private draining = false;

  constructor(
    private readonly deps: JobLifecycleDeps,
    private readonly settings: JobLifecycleSettings,
    /** The work of the job's kind (tasks/): photos today; albums and videos beside them. */
    private readonly taskFor: (job: JobMessage) => JobTask,
  ) {}

  private get log() {
    return this.deps.telemetry.logger;
  }

  /** Entry point for a received message (sqs-consumer's handleMessage). */
  async handle(message: Message, slot: number): Promise<void> {
    const receiptHandle = message.ReceiptHandle ?? '';
    const receiveCount = Number(message.Attributes?.ApproximateReceiveCount ?? '1');
    try {
      if (this.draining) {
        // Received by a long poll that was already under way at SIGTERM: hand it straight back.
        await this.deps.queue.changeVisibility(receiptHandle, 0);
        return;
      }
      await this.dispatch(message, receiptHandle, receiveCount, slot);
    } catch (error) {
      // Only storage calls outside a claimed job land here (reading the record, the claim itself, deleting):
      // the message stays and comes back after its visibility timeout.
      this.log.error('delivery failed before the job could start; the message will be redelivered', { messageId: message.MessageId, receiveCount, error: describeThrown(error) });
      await this.deps.queue.changeVisibility(receiptHandle, this.retryDelaySeconds(receiveCount)).catch(() => undefined);
      this.deps.telemetry.jobDeferred('transient');
    }
  }

  private async dispatch(message: Message, receiptHandle: string, receiveCount: number, slot: number): Promise<void> {
    const parsed = parseBody(message.Body);
    if (!parsed.ok) {
      await this.handleInvalid(message, receiptHandle, receiveCount, parsed.reason);
      return;
    }
    const job = parsed.message;
    const logKeys = { jobId: job.jobId, tenantId: job.tenantId, messageId: message.MessageId, receiveCount };
    const now = new Date();
    // The claim phase ends with the job active or the message handed back; SIGTERM's wait covers it (claimsInFlight).
    const starting = this.start(job, receiptHandle, receiveCount, slot, now, logKeys);
    this.claimsInFlight.add(starting);
    let started: Awaited<typeof starting>;
    try {
      started = await starting;
    } finally {
      this.claimsInFlight.delete(starting);
    }
    if (started === undefined) return;
    const { record, active, resolveDone } = started;
    const queueWaitMs = Date.parse(job.enqueuedAt) ? now.getTime() - Date.parse(job.enqueuedAt) : undefined;
    this.log.info('job started', { ...logKeys, attempts: record.attempts, queueWaitMs, slot });
    const heartbeat = setInterval(() => void this.heartbeat(active), this.settings.heartbeatIntervalMs);
    try {
      await this.run(job, record, active, receiveCount, now, queueWaitMs, logKeys);
    } finally {
      clearInterval(heartbeat);
      this.active.delete(slot);
      this.deps.onActiveChange?.(this.active.size);
      this.deps.health.jobEnded(slot);
      resolveDone();
    }
  }

  /** Claims the job and registers it as active; undefined when it is not to run here (not claimed, or draining). */
  private async start(job: JobMessage, receiptHandle: string, receiveCount: number, slot: number, now: Date, logKeys: Record<string, unknown>) {
    // A parent is claimed again for its fan-in: its startedAt stays the first claim's (progress and ETA count from it).
    const parent = job.kind === 'album' || job.kind === 'video';
    const claim = await this.deps.store.claim(job.jobId, job.tenantId, this.settings.workerId, now, this.leaseMs(), { keepStartedAt: parent });
    if (!claim.claimed) {
      await this.notClaimed(claim.record, job, receiptHandle, receiveCount, logKeys);
      return undefined;
    }
    if (this.draining) {
      // Claimed while SIGTERM was already draining (its poll was under way): give it back rather than start it.
      await this.release(job.jobId, receiptHandle);
      return undefined;
    }
    let resolveDone!: () => void;
    const active: ActiveJob = { jobId: job.jobId, slot, receiptHandle, done: new Promise((r) => (resolveDone = r)), released: false, leaseLost: false };
    this.active.set(slot, active);
    this.deps.onActiveChange?.(this.active.size);
    this.deps.health.jobStarted(slot, job.jobId);
    return { record: claim.record, active, resolveDone };
  }

  /** The claim failed: the record is missing, finished, another tenant's, or leased by a live worker. */
  private async notClaimed(record: JobRecord | undefined, job: JobMessage, receiptHandle: string, receiveCount: number, logKeys: Record<string, unknown>): Promise<void> {
    if (!record) {
      // The API puts the record before it sends the message, so a missing record is either a read racing that put
      // (DynamoDB Local and some replicas lag) or a message without a job (expired by TTL, or not from the API).
      // Wait and look again; on the last delivery SQS moves it to the DLQ, where an operator can see it.
      const last = receiveCount >= this.settings.maxReceiveCount;
      this.log[last ? 'error' : 'warn']('no job record for this message; deferring', { ...logKeys, toDlq: last });
      await this.deps.queue.changeVisibility(receiptHandle, last ? 0 : this.retryDelaySeconds(receiveCount));
      this.deps.telemetry.jobDeferred('record-missing');
      return;
    }
    if (record.tenantId !== job.tenantId) {
      this.log.error('message tenant does not own the job record; leaving the message for the DLQ', { ...logKeys, recordTenantId: record.tenantId });
      await this.deps.queue.changeVisibility(receiptHandle, 0);
      return;
    }
    if (TERMINAL_STATUSES.includes(record.status)) {
      this.log.info('job already ended; deleting the redelivered message', { ...logKeys, status: record.status });
      await this.deps.queue.delete(receiptHandle);
      return;
    }
    // RUNNING with a live lease (or QUEUED again by a race): try again once that lease can have expired.
    const leaseLeftSeconds = Math.ceil(Math.max(0, (record.leaseExpiresAt ?? 0) - Date.now()) / 1000);
    this.log.info('job is leased by another worker; deferring', { ...logKeys, leaseOwner: record.leaseOwner, leaseLeftSeconds });
    await this.deps.queue.changeVisibility(receiptHandle, Math.max(1, leaseLeftSeconds + 1));
    this.deps.telemetry.jobDeferred('lease-held');
  }

  /** A body that does not match the contract: fail the job if it can be named, else let the DLQ have it. */
  private async handleInvalid(message: Message, receiptHandle: string, receiveCount: number, reason: string): Promise<void> {
    const ids = messageIdsSchema.safeParse(safeJson(message.Body));
    const now = new Date();
    if (ids.success) {
      const failed = await this.deps.store.failUnclaimed(ids.data.jobId, ids.data.tenantId, now, {
        code: 'INVALID_MESSAGE',
        message: `the queue message does not match the contract: ${reason}`,
        finishedAt: now,
        expiresAt: this.expiresAt(now),
      });
      if (failed) {
        this.log.warn('invalid message; job marked FAILED', { jobId: ids.data.jobId, messageId: message.MessageId, reason });
        this.deps.telemetry.jobFailed('INVALID_MESSAGE', undefined);
        await this.deps.queue.delete(receiptHandle);
        return;
      }
      const record = await this.deps.store.get(ids.data.jobId);
      if (record && record.tenantId === ids.data.tenantId && TERMINAL_STATUSES.includes(record.status)) {
        await this.deps.queue.delete(receiptHandle);
        return;
      }
    }
    // Visible again at once: it reaches maxReceiveCount quickly and SQS moves it to the DLQ with its body intact.
    this.log.error('invalid message that names no job of ours; leaving it for the DLQ', { messageId: message.MessageId, receiveCount, reason });
    this.deps.telemetry.jobFailed('INVALID_MESSAGE', undefined);
    await this.deps.queue.changeVisibility(receiptHandle, 0);
  }

  private async run(job: JobMessage, record: JobRecord, active: ActiveJob, receiveCount: number, startedAt: Date, queueWaitMs: number | undefined, logKeys: Record<string, unknown>): Promise<void> {
    const { store, queue, telemetry } = this.deps;
    // The budget aborts whatever step is under way: a pipeline thread is stopped and replaced by the pool, so neither
    // the slot nor the task is lost to one job that would take too long. A retry would take as long: permanent.
    // The task starts it when its own work starts, so time spent waiting for the worker's resources (a replacement
    // pipeline thread) is the worker's, never counted against the job.
    const budget = new JobDeadline({
      baseSeconds: this.settings.jobTimeoutSeconds,
      ...(this.settings.jobTimeoutPerFaceSeconds !== undefined && { perFaceSeconds: this.settings.jobTimeoutPerFaceSeconds }),
      ...(this.settings.jobTimeoutPerMegapixelSeconds !== undefined && { perMegapixelSeconds: this.settings.jobTimeoutPerMegapixelSeconds }),
    }, (seconds) => this.deps.health.jobBudgetSet(active.slot, seconds));
    const context: TaskContext = {
      owner: this.settings.workerId,
      attempt: record.attempts,
      signal: budget.signal,
      startBudget: () => budget.start(),
      workFound: (work) => budget.detected(work),
      get abandoned() {
        return active.released || active.leaseLost;
      },
    };
    try {
      if (job.parentJobId !== undefined && (await this.skippedForEndedParent(job, record, job.parentJobId, active, logKeys))) return;
      const outcome = await this.taskFor(job).run(job, context);
      if (outcome === undefined) return;
      if (isYield(outcome)) {
        await this.yielded(job, active, outcome, logKeys);
        return;
      }
      const result = outcome;
      if (result.failure !== undefined) {
        // A job that delivers something and still failed (a partly failed album): FAILED with its code, output kept.
        if (budget.signal.aborted) throw budget.signal.reason;
        await this.failed(job, record, active, receiveCount, startedAt, new PermanentError(result.failure.code, result.failure.message), logKeys, result.success.resultKey);
        return;
      }
      // The last step can have ended just as the budget ran out: past it, the job fails whatever was written.
      if (budget.signal.aborted) throw budget.signal.reason;
      const finishedAt = new Date();
      const success = { ...result.success, finishedAt, expiresAt: this.expiresAt(finishedAt) };
      if (!(await store.succeed(job.jobId, this.settings.workerId, success))) {
        this.log.warn('lost the lease before recording success; another worker owns the job now', logKeys);
        return;
      }
      if (result.afterSuccess !== undefined) await result.afterSuccess().catch((e: unknown) => this.log.warn("could not clean up after the success; the bucket's lifecycle rules will", { ...logKeys, error: describeThrown(e) }));
      // The outcome is durable now: a failed delete only means a redelivery, which finds SUCCEEDED and deletes it.
      await queue.delete(active.receiptHandle).catch((e: unknown) => this.log.warn('could not delete the message of a succeeded job; it will be redelivered and skipped', { ...logKeys, error: describeThrown(e) }));
      const durationMs = finishedAt.getTime() - startedAt.getTime();
      const { facesFound, timingsMs, resultKey } = success;
      telemetry.jobSucceeded(durationMs, facesFound, queueWaitMs, timingsMs);
      telemetry.workCosts({
        durationMs,
        timingsMs,
        facesRestored: facesFound,
        outputPixels: (success.resultWidth ?? 0) * (success.resultHeight ?? 0),
        concurrency: this.settings.concurrency ?? 1,
      });
      this.log.info('job succeeded', { ...logKeys, durationMs, facesFound, resultKey, timingsMs, ...result.logKeys });
      const { leaseOwner: _o, leaseExpiresAt: _l, ...rest } = record;
      this.notify({ ...rest, status: 'SUCCEEDED', ...success, faces: [...success.faces], finishedAt: finishedAt.toISOString() });
      await this.childEnded(job, 'SUCCEEDED', result.frames ?? 0, logKeys, success.resultKey);
    } catch (caught) {
      if (active.released || active.leaseLost) return;
      await this.failed(job, record, active, receiveCount, startedAt, toWorkerError(caught), logKeys);
    } finally {
      budget.clear();
    }
  }

  private async failed(job: JobMessage, record: JobRecord, active: ActiveJob, receiveCount: number, startedAt: Date, error: WorkerError, logKeys: Record<string, unknown>, resultKey?: string): Promise<void> {
    const { store, queue, telemetry } = this.deps;
    const owner = this.settings.workerId;
    const last = receiveCount >= this.settings.maxReceiveCount;
    if (error.retryable && !last) {
      const delaySeconds = this.retryDelaySeconds(receiveCount);
      this.log.warn('transient failure; the job will be retried', { ...logKeys, code: error.code, error: error.message, retryInSeconds: delaySeconds });
      await store.releaseLease(job.jobId, owner).catch(() => undefined);
      await queue.changeVisibility(active.receiptHandle, delaySeconds).catch(() => undefined);
      telemetry.jobDeferred('transient');
      return;
    }
    const code: JobErrorCode = error.retryable ? 'RETRIES_EXHAUSTED' : isJobErrorCode(error.code) ? error.code : 'INTERNAL';
    const reason = error.retryable ? `gave up after ${receiveCount} deliveries; last error: ${error.message}` : error.message;
    const finishedAt = new Date();
    let recorded = false;
    try {
      recorded = await store.fail(job.jobId, owner, { code, message: reason, finishedAt, expiresAt: this.expiresAt(finishedAt), ...(resultKey !== undefined && { resultKey }) });
    } catch (storeError) {
      this.log.error('could not record the failure; the message will be redelivered', { ...logKeys, code, error: describeThrown(storeError) });
      await queue.changeVisibility(active.receiptHandle, this.retryDelaySeconds(receiveCount)).catch(() => undefined);
      return;
    }
    if (!recorded) {
      this.log.warn('lost the lease before recording failure; another worker owns the job now', { ...logKeys, code });
      return;
    }
    telemetry.jobFailed(code, finishedAt.getTime() - startedAt.getTime());
    this.log.warn('job failed', { ...logKeys, code, reason });
    if (error.retryable) {
      // Last delivery: the record says RETRIES_EXHAUSTED; the message goes to the DLQ on its next receive.
      await queue.changeVisibility(active.receiptHandle, 0).catch(() => undefined);
    } else {
      await queue.delete(active.receiptHandle).catch((e: unknown) => this.log.warn('could not delete the message of a failed job; it will be redelivered and skipped', { ...logKeys, error: describeThrown(e) }));
    }
    const { leaseOwner: _o, leaseExpiresAt: _l, ...rest } = record;
    this.notify({ ...rest, status: 'FAILED', errorCode: code, errorMessage: reason, finishedAt: finishedAt.toISOString(), expiresAt: this.expiresAt(finishedAt), ...(resultKey !== undefined && { resultKey }) });
    await this.childEnded(job, 'FAILED', 0, logKeys);
  }

  /**
   * A child whose parent ended before it started (canceled, or failed by another segment) is skipped: CANCELED
   * without running, and counted. True when it was; otherwise its parent is marked RUNNING (its first child started).
   * A young child whose parent has no record yet waits for it (true as well): see MISSING_PARENT_WAIT_SECONDS.
   */
  private async skippedForEndedParent(job: JobMessage, record: JobRecord, parentJobId: string, active: ActiveJob, logKeys: Record<string, unknown>): Promise<boolean> {
    const { store, queue } = this.deps;
    const parent = await store.get(parentJobId);
    if (parent !== undefined && !TERMINAL_STATUSES.includes(parent.status)) {
      await store.markParentRunning(parentJobId, new Date());
      return false;
    }
    const ageSeconds = (Date.now() - Date.parse(record.createdAt)) / 1000;
    if (parent === undefined && ageSeconds < MISSING_PARENT_WAIT_SECONDS) {
      // Sent again before the lease goes and the original is deleted: whatever fails in between leaves a message.
      await queue.send(job, MISSING_PARENT_RECHECK_SECONDS);
      await store.releaseLease(job.jobId, this.settings.workerId).catch(() => undefined);
      await queue.delete(active.receiptHandle).catch(() => undefined);
      this.log.info('parent record not written yet; the child waits for it', { ...logKeys, parentJobId, ageSeconds: Math.round(ageSeconds), recheckInSeconds: MISSING_PARENT_RECHECK_SECONDS });
      return true;
    }
    const now = new Date();
    if (await store.cancelClaimed(job.jobId, this.settings.workerId, now, this.expiresAt(now))) {
      this.log.info('parent ended before this child started; child canceled', { ...logKeys, parentJobId, parentStatus: parent?.status ?? 'gone' });
      await queue.delete(active.receiptHandle).catch(() => undefined);
      await this.childEnded(job, 'CANCELED', 0, logKeys);
    }
    return true;
  }

  /**
   * Counts a child's end on its parent (exactly once, see JobStore.countChildEnd). When that was the last child, or a
   * video's segment that did not succeed (which fails the video at once), the parent gets a message: whichever worker
   * claims it (a conditional update, so exactly one) finishes it. What fails here is left to the parent sweeper, which
   * recounts a parent whose children stopped ending.
   */
  private async childEnded(job: JobMessage, end: ChildEnd, frames: number, logKeys: Record<string, unknown>, resultKey?: string): Promise<void> {
    const parentJobId = job.parentJobId;
    if (parentJobId === undefined) return;
    const { store, queue } = this.deps;
    try {
      if (!(await store.countChildEnd({ jobId: job.jobId, parentJobId }, end, frames, new Date()))) return;
      const parent = await store.get(parentJobId);
      if (parent === undefined) return;
      if (TERMINAL_STATUSES.includes(parent.status)) {
        // A video that ended before this segment (canceled, or failed by another segment) never assembles it: its
        // object goes now, and the probe with the last segment, so no part of the job is left (lifecycle rules on
        // segments/ are the backstop).
        if (job.kind === 'video-segment') await this.discardSegment(job, parent, resultKey);
        return;
      }
      const ended = (parent.childrenSucceeded ?? 0) + (parent.childrenFailed ?? 0) + (parent.childrenCanceled ?? 0);
      const last = parent.childrenTotal !== undefined && ended >= parent.childrenTotal;
      if (!last && !(parent.kind === 'video' && end !== 'SUCCEEDED')) return;
      await queue.send(fanInMessage(parent, new Date()));
      this.log.info(last ? 'last child ended; parent sent to be finished' : 'a segment failed; video sent to be failed', { ...logKeys, parentJobId, ended, total: parent.childrenTotal });
    } catch (error) {
      this.log.warn("could not count the child's end on its parent; the parent sweeper will", { ...logKeys, parentJobId, error: describeThrown(error) });
    }
  }

  private async discardSegment(job: JobMessage, video: JobRecord, resultKey: string | undefined): Promise<void> {
    const ended = (video.childrenSucceeded ?? 0) + (video.childrenFailed ?? 0) + (video.childrenCanceled ?? 0);
    const last = video.childrenTotal !== undefined && ended >= video.childrenTotal;
    const work = videoWorkPrefix(video.tenantId, video.jobId);
    const keys = [...(resultKey === undefined ? [] : [resultKey]), ...(last ? [`${work}probe.json`, `${work}source`] : [])];
    if (keys.length > 0) await this.deps.objects.deleteObjects(keys);
    this.log.info('segment of an ended video discarded', { jobId: job.jobId, parentJobId: video.jobId, parentStatus: video.status, keys });
  }

  /** A parent with work still out: lease given back, message deleted, the job stays RUNNING. */
  private async yielded(job: JobMessage, active: ActiveJob, outcome: TaskYield, logKeys: Record<string, unknown>): Promise<void> {
    await this.deps.store.releaseLease(job.jobId, this.settings.workerId).catch(() => undefined);
    await this.deps.queue.delete(active.receiptHandle).catch(() => undefined);
    this.log.info('parent has children still out; waiting for them', { ...logKeys, why: outcome.yielded });
  }

  private async heartbeat(active: ActiveJob): Promise<void> {
    if (active.released || active.leaseLost) return;
    const { queue, store } = this.deps;
    try {
      await queue.changeVisibility(active.receiptHandle, this.settings.visibilityTimeoutSeconds);
    } catch (error) {
      this.log.warn('heartbeat could not extend the message visibility', { jobId: active.jobId, error: describeThrown(error) });
    }
    try {
      if (!(await store.renewLease(active.jobId, this.settings.workerId, Date.now() + this.leaseMs()))) {
        active.leaseLost = true;
        this.log.warn('heartbeat found the lease taken over; this attempt will not write its outcome', { jobId: active.jobId });
      }
    } catch (error) {
      this.log.warn('heartbeat could not renew the lease', { jobId: active.jobId, error: describeThrown(error) });
    }
  }

  /**
   * Posts the final job to its webhook in the background; shutdown waits for these within its budget. What the quick
   * attempts leave undelivered is retried from the webhook-retry queue, not from this process.
   */
  private notify(record: JobRecord): void {
    if (!record.webhookUrl) return;
    // The dispatcher records every outcome on the job, so GET /jobs/{id} shows a refused address or a receiver that never answered 2xx.
    const delivery = (async () => this.deps.webhooks.deliver(record, await webhookPayload(record, this.deps.objects)))().catch((error: unknown) =>
      this.log.warn('webhook failed', { jobId: record.jobId, error: describeThrown(error) }),
    );
    this.webhooksInFlight.add(delivery);
    void delivery.finally(() => this.webhooksInFlight.delete(delivery));
  }

  /** Stop taking work: messages received from now on are handed straight back. */
  startDraining(): void {
    this.draining = true;
  }

  get activeCount(): number {
    return this.active.size;
  }

  /** Resolves when every running job has ended, or after `timeoutMs`; true when none is left. */
  async waitForActive(timeoutMs: number): Promise<boolean> {
    // A claim that was under way at SIGTERM either becomes an active job (waited for below) or is released.
    await Promise.allSettled([...this.claimsInFlight]);
    const all = Promise.all([...this.active.values()].map((a) => a.done));
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
    return (await Promise.race([all, timer])) !== 'timeout';
  }

  /** Gives every job still running back to the queue: lease cleared, message visible at once. */
  async releaseActive(): Promise<number> {
    const jobs = [...this.active.values()];
    await Promise.all(
      jobs.map(async (job) => {
        job.released = true;
        await this.release(job.jobId, job.receiptHandle);
      }),
    );
    return jobs.length;
  }

  /** Lease cleared, then the message visible at once, so another worker takes the job straight away. */
  private async release(jobId: string, receiptHandle: string): Promise<void> {
    await this.deps.store.releaseLease(jobId, this.settings.workerId).catch((e: unknown) => this.log.warn('could not clear the lease', { jobId, error: describeThrown(e) }));
    await this.deps.queue.changeVisibility(receiptHandle, 0).catch((e: unknown) => this.log.warn('could not release the message', { jobId, error: describeThrown(e) }));
    this.deps.telemetry.jobDeferred('shutdown');
    this.log.info('job released at shutdown', { jobId });
  }

  async waitForWebhooks(timeoutMs: number): Promise<void> {
    const timer = new Promise<void>((r) => setTimeout(r, timeoutMs).unref());
    await Promise.race([Promise.all([...this.webhooksInFlight]), timer]);
  }

  /**
   * The lease ends before the message's visibility, so a redelivery after a crash finds it expired. Visibility is
   * counted from the receive (or the heartbeat's SQS call), the lease from a little later, so the margin covers
   * those calls' latency: a quarter of the visibility, at most LEASE_MARGIN_MAX_MS.
   */
  private leaseMs(): number {
    const visibilityMs = this.settings.visibilityTimeoutSeconds * 1000;
    return Math.max(1_000, visibilityMs - Math.min(LEASE_MARGIN_MAX_MS, visibilityMs / 4));
  }

  private retryDelaySeconds(receiveCount: number): number {
    const base = this.settings.retryBaseSeconds ?? DEFAULT_RETRY_BASE_SECONDS;
    const max = this.settings.retryMaxSeconds ?? DEFAULT_RETRY_MAX_SECONDS;
    const ceiling = Math.min(max, base * 2 ** Math.max(0, receiveCount - 1));
    // Jitter in the upper half, so retries of jobs that failed together spread out but none comes back at once.
    return Math.ceil(ceiling / 2 + Math.random() * (ceiling / 2));
  }

  private expiresAt(from: Date): number {
    return Math.floor(from.getTime() / 1000) + this.settings.jobTtlDays * 86_400;
  }
}

type ParsedBody = { readonly ok: true; readonly message: JobMessage } | { readonly ok: false; readonly reason: string };

/** The message that has a parent finished (or fanned out, for a video not planned yet): the parent's own. */
export function fanInMessage(parent: JobRecord, now: Date): JobMessage {
  return {
    version: 1,
    jobId: parent.jobId,
    tenantId: parent.tenantId,
    source: parent.source,
    options: parent.options,
    ...(parent.webhookUrl !== undefined && { webhookUrl: parent.webhookUrl }),
    enqueuedAt: now.toISOString(),
    ...(parent.kind !== undefined && { kind: parent.kind }),
    ...(parent.videoCrf !== undefined && { videoCrf: parent.videoCrf }),
  };
}

/** The SQS body is an edge: validated once with the contract's schema. */
export function parseBody(body: string | undefined): ParsedBody {
  const json = safeJson(body);
  if (json === undefined) return { ok: false, reason: 'the body is not JSON' };
  const parsed = jobMessageSchema.safeParse(json);
  if (parsed.success) return { ok: true, message: parsed.data };
  return { ok: false, reason: parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ') };
}

function safeJson(body: string | undefined): unknown {
  try {
    return body === undefined ? undefined : (JSON.parse(body) as unknown);
  } catch {
    return undefined;
  }
}

function isJobErrorCode(code: string): code is JobErrorCode {
  return (JOB_ERROR_CODES as readonly string[]).includes(code);
}

/** Anything that is not a WorkerError is a bug: permanent, INTERNAL, with the message kept as the reason. */
function toWorkerError(error: unknown): WorkerError {
  if (error instanceof WorkerError) return error;
  return new PermanentError('INTERNAL', messageOf(error), { cause: error });
}

