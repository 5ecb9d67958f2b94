// The enqueue sweeper (an EventBridge schedule; no HTTP route); the Lambda entry is src/lambda/sweep-enqueue.ts.
//
// The outbox: create-job puts the record with a pending-enqueue mark (a sparse index), sends the message, then clears
// the mark. A Lambda that dies between the put and the send leaves the mark; this sweeper finds such records once
// they are older than the grace period and sends their message.
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { API_METRICS, pendingShardKeys, TERMINAL_STATUSES, type JobRecord } from '@revive/contract';
import type { Context, ScheduledEvent } from 'aws-lambda';
import type { DepsWith } from '../app.js';
import type { PendingPageKey } from '../aws/job-table.js';
import { jobMessageFromRecord } from '../jobs.js';

/** What the sweeper uses: the table's pending index and the queue. */
export type SweepDeps = DepsWith<'table' | 'queue'>;

/**
 * How long a record may stay pending before the sweeper acts. Longer than create-job's Lambda timeout (10 s), so a
 * create that is still running is never raced; short enough that a lost job starts within about a minute.
 * @default 60_000
 */
export const DEFAULT_ENQUEUE_GRACE_PERIOD_MS = 60_000;
/**
 * How long an open album or video may go without a child ending before the sweeper sends it a message to recount its
 * children and finish it if they have all ended (the parent sweeper: a worker that died between a child's end and
 * its count, or before finishing the parent). Longer than a segment takes, so a busy video is not recounted needlessly;
 * a needless recount only finds children still out. @default 300_000 (5 minutes)
 */
export const DEFAULT_PARENT_SWEEP_GRACE_PERIOD_MS = 300_000;
/**
 * Jobs handled per run; the rest wait for the next run. At DEFAULT_SWEEP_CONCURRENCY and about 30 ms per job (a
 * consistent read, a send, a conditional update) 2,000 jobs take about 2 s, well inside the time budget. @default 2_000
 */
export const DEFAULT_SWEEP_MAX_JOBS_PER_RUN = 2_000;
/** Index items read per Query page, per shard. @default 25 */
export const DEFAULT_SWEEP_PAGE_SIZE = 25;
/** Jobs swept at once. @default 32 */
export const DEFAULT_SWEEP_CONCURRENCY = 32;
/** Time one run may spend before it stops starting new jobs. @default 5_000 */
export const DEFAULT_SWEEP_TIME_BUDGET_MS = 5_000;
/** Left of the Lambda's remaining time when the budget comes from the invocation context. */
const CONTEXT_SAFETY_MARGIN_MS = 2_000;

export interface SweepOptions {
  /** @default DEFAULT_ENQUEUE_GRACE_PERIOD_MS (60 s) */
  readonly gracePeriodMs?: number;
  /** @default DEFAULT_PARENT_SWEEP_GRACE_PERIOD_MS (5 min) */
  readonly parentGracePeriodMs?: number;
  /** @default DEFAULT_SWEEP_MAX_JOBS_PER_RUN (2,000) */
  readonly maxJobsPerRun?: number;
  /** @default DEFAULT_SWEEP_PAGE_SIZE (25) */
  readonly pageSize?: number;
  /** @default DEFAULT_SWEEP_CONCURRENCY (32) */
  readonly concurrency?: number;
  /** Wall-clock budget (not deps.now, which tests move forward). @default DEFAULT_SWEEP_TIME_BUDGET_MS (5 s) */
  readonly timeBudgetMs?: number;
}

/** What one run did. */
export interface SweepResult {
  /** Pending records read from the index. */
  readonly examined: number;
  /** Still QUEUED and never started: the message was sent again. */
  readonly reenqueued: number;
  /** Already taken by a worker, canceled or gone: only the mark was removed. */
  readonly cleared: number;
  /** Send or update failed; the mark stays, so the next run tries again. */
  readonly failed: number;
}

type Outcome = 'reenqueued' | 'cleared' | 'failed' | 'skipped';

async function sweepOne(jobId: string, deps: SweepDeps, parentGracePeriodMs: number): Promise<Outcome> {
  const record = await deps.table.get(jobId);
  // The index lags the table: the record may be gone or already out of the outbox.
  if (record === undefined || record.enqueuePendingSince === undefined) return 'skipped';
  const parent = record.kind === 'album' || record.kind === 'video';
  // A video never sent is sent as a photo is; an open album, or a video under way, is a parent to watch.
  if (parent && !TERMINAL_STATUSES.includes(record.status) && !(record.kind === 'video' && record.status === 'QUEUED' && record.attempts === 0)) {
    return await sweepParent(record, deps, parentGracePeriodMs);
  }
  let outcome: Outcome = 'cleared';
  if (record.status === 'QUEUED' && record.attempts === 0) {
    try {
      await deps.queue.send(jobMessageFromRecord(record, deps.now()));
    } catch (error) {
      deps.logger.error('could not re-enqueue the job; the next run retries', { jobId, error: error as Error });
      return 'failed';
    }
    outcome = 'reenqueued';
  }
  // Conditional on the same mark: a re-queue after ENQUEUE_FAILED since our read set a new one, which is its own.
  await deps.table.clearEnqueuePending(jobId, record.enqueuePendingSince);
  deps.logger.info(outcome === 'reenqueued' ? 'job re-enqueued by the sweeper' : 'pending-enqueue mark cleared', {
    jobId,
    tenantId: record.tenantId,
    status: record.status,
    pendingMs: deps.now() - record.enqueuePendingSince,
  });
  return outcome;
}

/**
 * An open parent whose children stopped ending for the grace period gets its own message: the worker that claims it
 * counts any child whose end was not counted, and finishes it (the album's ZIP, the video's assembly) once all ended,
 * or gives it back. Its mark moves to now, so it is looked at again only after another grace period.
 */
async function sweepParent(record: JobRecord, deps: SweepDeps, parentGracePeriodMs: number): Promise<Outcome> {
  const since = record.enqueuePendingSince!;
  if (deps.now() - since < parentGracePeriodMs) return 'skipped';
  try {
    await deps.queue.send(jobMessageFromRecord(record, deps.now()));
  } catch (error) {
    deps.logger.error('could not send the parent its recount; the next run retries', { jobId: record.jobId, error: error as Error });
    return 'failed';
  }
  await deps.table.touchParentPending(record.jobId, since, deps.now());
  deps.logger.info('open parent sent for a recount by the sweeper', { jobId: record.jobId, tenantId: record.tenantId, kind: record.kind, status: record.status, quietMs: deps.now() - since });
  return 'reenqueued';
}

/**
 * One sweep over every outbox shard. Each round reads one page of every shard that has more, in parallel, and sweeps
 * the oldest of what it read (up to what is left of `maxJobsPerRun`) `concurrency` at a time; rounds go on while
 * jobs, shards and time are left. A job still QUEUED with no attempt gets its message (again); a job that moved on
 * only leaves the outbox. A second message for one job is harmless: the worker's claim is a conditional
 * QUEUED → RUNNING update, so the later delivery finds the job RUNNING or ended and is deferred or deleted.
 */
export async function sweepEnqueue(deps: SweepDeps, options: SweepOptions = {}): Promise<SweepResult> {
  const gracePeriodMs = options.gracePeriodMs ?? DEFAULT_ENQUEUE_GRACE_PERIOD_MS;
  const maxJobs = options.maxJobsPerRun ?? DEFAULT_SWEEP_MAX_JOBS_PER_RUN;
  const pageSize = options.pageSize ?? DEFAULT_SWEEP_PAGE_SIZE;
  const concurrency = options.concurrency ?? DEFAULT_SWEEP_CONCURRENCY;
  if (!(maxJobs >= 1 && pageSize >= 1 && concurrency >= 1 && gracePeriodMs >= 0)) {
    throw new RangeError(
      `sweepEnqueue: maxJobsPerRun, pageSize and concurrency must be ≥ 1 and gracePeriodMs ≥ 0 (got ${maxJobs}, ${pageSize}, ${concurrency}, ${gracePeriodMs})`,
    );
  }
  const stopAt = performance.now() + (options.timeBudgetMs ?? DEFAULT_SWEEP_TIME_BUDGET_MS);
  const counts = { examined: 0, reenqueued: 0, cleared: 0, failed: 0 };
  const cutoffMs = deps.now() - gracePeriodMs;
  // Shards still to read, with where the next page starts (undefined: the first page).
  let shards = new Map<string, PendingPageKey | undefined>(pendingShardKeys().map((shard) => [shard, undefined]));
  let more = false;
  while (shards.size > 0 && counts.examined < maxJobs && performance.now() < stopAt) {
    const pages = await Promise.all([...shards].map(async ([shard, startKey]) => ({ shard, page: await deps.table.listEnqueuePending(shard, cutoffMs, pageSize, startKey) })));
    shards = new Map(pages.filter(({ page }) => page.lastKey !== undefined).map(({ shard, page }) => [shard, page.lastKey]));
    const read = pages.flatMap(({ page }) => page.pending).sort((a, b) => a.enqueuePendingSince - b.enqueuePendingSince);
    const batch = read.slice(0, maxJobs - counts.examined);
    more = batch.length < read.length || shards.size > 0;
    await mapLimit(batch, concurrency, async ({ jobId }) => {
      if (performance.now() >= stopAt) {
        more = true;
        return;
      }
      counts.examined++;
      try {
        const outcome = await sweepOne(jobId, deps, options.parentGracePeriodMs ?? DEFAULT_PARENT_SWEEP_GRACE_PERIOD_MS);
        if (outcome !== 'skipped') counts[outcome]++;
      } catch (error) {
        // A storage error on one job must not stop the others; its mark stays for the next run.
        deps.logger.error('could not sweep the job', { jobId, error: error as Error });
        counts.failed++;
      }
    });
  }

  deps.metrics.addMetric(API_METRICS.jobsReenqueued, MetricUnit.Count, counts.reenqueued);
  deps.metrics.addMetric(API_METRICS.enqueuePendingCleared, MetricUnit.Count, counts.cleared);
  deps.metrics.addMetric(API_METRICS.reenqueueFailures, MetricUnit.Count, counts.failed);
  if (counts.examined > 0 || more) deps.logger.info('enqueue sweep done', { ...counts, more });
  return counts;
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/** A scheduled-event handler around `sweepEnqueue`: Lambda context in the logs, the budget from the remaining time, metrics published. */
export function toSweepHandler(getDeps: () => SweepDeps, options: SweepOptions = {}) {
  return async (_event?: ScheduledEvent, context?: Context): Promise<SweepResult> => {
    const deps = getDeps();
    if (context) deps.logger.addContext(context);
    const timeBudgetMs = Math.min(
      options.timeBudgetMs ?? DEFAULT_SWEEP_TIME_BUDGET_MS,
      context ? Math.max(0, context.getRemainingTimeInMillis() - CONTEXT_SAFETY_MARGIN_MS) : Number.POSITIVE_INFINITY,
    );
    try {
      return await sweepEnqueue(deps, { ...options, timeBudgetMs });
    } finally {
      if (deps.metrics.hasStoredMetrics()) deps.metrics.publishStoredMetrics();
    }
  };
}
