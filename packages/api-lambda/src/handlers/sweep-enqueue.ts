// The enqueue sweeper (an EventBridge schedule; no HTTP route); the Lambda entry is src/lambda/sweep-enqueue.ts.
//
// The outbox: create-job puts the record with a pending-enqueue mark (a sparse index), sends the message, then clears
// the mark. A Lambda that dies between the put and the send leaves the mark; this sweeper finds such records once
// they are older than the grace period and sends their message.
import { MetricUnit } from '@aws-lambda-powertools/metrics';
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
/** Jobs handled per run; the rest wait for the next run, so one run stays well inside its Lambda timeout. @default 100 */
export const DEFAULT_SWEEP_MAX_JOBS_PER_RUN = 100;
/** Index items read per Query page. @default 25 */
export const DEFAULT_SWEEP_PAGE_SIZE = 25;
/** Time one run may spend before it stops starting new jobs. @default 5_000 */
export const DEFAULT_SWEEP_TIME_BUDGET_MS = 5_000;
/** Left of the Lambda's remaining time when the budget comes from the invocation context. */
const CONTEXT_SAFETY_MARGIN_MS = 2_000;

export interface SweepOptions {
  /** @default DEFAULT_ENQUEUE_GRACE_PERIOD_MS (60 s) */
  readonly gracePeriodMs?: number;
  /** @default DEFAULT_SWEEP_MAX_JOBS_PER_RUN (100) */
  readonly maxJobsPerRun?: number;
  /** @default DEFAULT_SWEEP_PAGE_SIZE (25) */
  readonly pageSize?: number;
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

async function sweepOne(jobId: string, deps: SweepDeps): Promise<Outcome> {
  const record = await deps.table.get(jobId);
  // The index lags the table: the record may be gone or already out of the outbox.
  if (record === undefined || record.enqueuePendingSince === undefined) return 'skipped';
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
 * One sweep: reads the outbox oldest first, page by page, up to `maxJobsPerRun` jobs or the time budget. A job still
 * QUEUED with no attempt gets its message (again); a job that moved on only leaves the outbox. A second message for
 * one job is harmless: the worker's claim is a conditional QUEUED → RUNNING update, so the later delivery finds the
 * job RUNNING or ended and is deferred or deleted.
 */
export async function sweepEnqueue(deps: SweepDeps, options: SweepOptions = {}): Promise<SweepResult> {
  const gracePeriodMs = options.gracePeriodMs ?? DEFAULT_ENQUEUE_GRACE_PERIOD_MS;
  const maxJobs = options.maxJobsPerRun ?? DEFAULT_SWEEP_MAX_JOBS_PER_RUN;
  const pageSize = options.pageSize ?? DEFAULT_SWEEP_PAGE_SIZE;
  if (!(maxJobs >= 1 && pageSize >= 1 && gracePeriodMs >= 0)) {
    throw new RangeError(`sweepEnqueue: maxJobsPerRun and pageSize must be ≥ 1 and gracePeriodMs ≥ 0 (got ${maxJobs}, ${pageSize}, ${gracePeriodMs})`);
  }
  const stopAt = performance.now() + (options.timeBudgetMs ?? DEFAULT_SWEEP_TIME_BUDGET_MS);
  const counts = { examined: 0, reenqueued: 0, cleared: 0, failed: 0 };
  const cutoffMs = deps.now() - gracePeriodMs;
  let startKey: PendingPageKey | undefined;
  do {
    const page = await deps.table.listEnqueuePending(cutoffMs, Math.min(pageSize, maxJobs - counts.examined), startKey);
    for (const { jobId } of page.pending) {
      counts.examined++;
      try {
        const outcome = await sweepOne(jobId, deps);
        if (outcome !== 'skipped') counts[outcome]++;
      } catch (error) {
        // A storage error on one job must not stop the others; its mark stays for the next run.
        deps.logger.error('could not sweep the job', { jobId, error: error as Error });
        counts.failed++;
      }
      if (counts.examined >= maxJobs || performance.now() >= stopAt) break;
    }
    startKey = page.lastKey;
  } while (startKey !== undefined && counts.examined < maxJobs && performance.now() < stopAt);

  deps.metrics.addMetric('JobsReenqueued', MetricUnit.Count, counts.reenqueued);
  deps.metrics.addMetric('EnqueuePendingCleared', MetricUnit.Count, counts.cleared);
  deps.metrics.addMetric('ReenqueueFailures', MetricUnit.Count, counts.failed);
  if (counts.examined > 0 || startKey !== undefined) deps.logger.info('enqueue sweep done', { ...counts, more: startKey !== undefined });
  return counts;
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
