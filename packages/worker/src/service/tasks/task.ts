// What a kind of job does, apart from everything every job goes through (job-lifecycle.ts: the claim, the lease and
// the message's visibility, the budget, the final write, the message's fate, the webhook). Photos are one kind
// (photo.ts); albums and videos run beside them as further implementations of `JobTask`.
import type { JobErrorCode, JobMessage } from '@revive/contract';
import type { JobWork, ParentWork } from '../job-budget.js';
import type { JobSuccess } from '../job-store.js';

/** What the lifecycle hands a task for one attempt. */
export interface TaskContext {
  /** This worker's lease owner id: a parent's task writes its plan only while it holds the lease. */
  readonly owner: string;
  /** The record's attempt number (1 on the first): outputs keyed by it never overwrite another attempt's. */
  readonly attempt: number;
  /**
   * Aborts once the job's budget (REVIVE_JOB_TIMEOUT_SECONDS) is spent, with a PermanentError JOB_TIMEOUT as its
   * reason. Every long step takes it (or is raced against it with `withSignal`).
   */
  readonly signal: AbortSignal;
  /**
   * Starts the budget. A task calls it when its own work starts (a pipeline thread takes the job), so time spent
   * waiting for the worker's resources is never counted against the job. Later calls do nothing.
   */
  readonly startBudget: () => void;
  /**
   * Tells the lifecycle how much work the job turned out to be (a photo's faces to restore and output pixels, once
   * detected; a parent's bytes, frames and children to handle): the budget grows to base + the work at its rates,
   * still counted from its start (job-budget.ts). A later call replaces the earlier work.
   */
  readonly workFound: (work: JobWork | ParentWork) => void;
  /**
   * True once this attempt must not write anything more: released at shutdown, or its lease taken over by another
   * worker. A task checks it before each write and returns undefined when it is set.
   */
  readonly abandoned: boolean;
}

/** What the record of a succeeded job gets from its task; the lifecycle adds `finishedAt` and `expiresAt`. */
export type TaskSuccess = Omit<JobSuccess, 'finishedAt' | 'expiresAt'>;

/** A task's outcome when it succeeded. */
export interface TaskResult {
  readonly success: TaskSuccess;
  /**
   * Set when the job ends FAILED although it delivers `success.resultKey`: a partly failed album, whose ZIP holds the
   * photos that succeeded.
   */
  readonly failure?: { readonly code: JobErrorCode; readonly message: string };
  /** The frames a video segment restored: added to its video's `framesDone` when its end is counted. */
  readonly frames?: number;
  /**
   * Run once the success is recorded, never before: deletes what the job worked from (a video's probe and segments).
   * Run earlier, a final write that failed would leave the retry nothing to finish from. Its errors are only logged.
   */
  readonly afterSuccess?: () => Promise<void>;
  /** Keys added to the "job succeeded" log line. */
  readonly logKeys?: Readonly<Record<string, unknown>>;
}

/**
 * A parent's outcome when it has nothing to finish yet (its children have not all ended): the lifecycle gives the lease
 * back and deletes the message; the job stays RUNNING, and the end of its last child sends the next message.
 */
export interface TaskYield {
  readonly yielded: string;
}

/** True when a task's outcome is a yield. */
export function isYield(outcome: TaskResult | TaskYield): outcome is TaskYield {
  return 'yielded' in outcome;
}

/**
 * One kind of job's work. `run` throws a WorkerError when the job cannot succeed on this attempt: a PermanentError
 * fails the job with its code (a job error code, else INTERNAL), a RetryableError leaves it for another delivery
 * (RETRIES_EXHAUSTED on the last). Anything else thrown is a bug and fails the job INTERNAL.
 */
export interface JobTask {
  /** Resolves with what the record gets, a yield (a parent with work still out), or undefined when it stopped because `context.abandoned` was set. */
  run(job: JobMessage, context: TaskContext): Promise<TaskResult | TaskYield | undefined>;
}

/** Rejects with the signal's reason once it aborts; the step itself is left to settle (or be stopped) on its own. */
export function withSignal<T>(step: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    step.catch(() => undefined);
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    step.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}
