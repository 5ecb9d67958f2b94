// The scaling decision the scheduled scaling-signal Lambda takes every minute (lambda.ts holds the AWS calls): the
// desired count of the worker service, computed from the seconds of work queued and in flight. Pure, so the Lambda,
// its tests and the infra's scaling bench compute it the same way.
import { z } from 'zod';

/** CloudWatch namespace of the scaling signal (a dimension ServiceName names the ECS service). */
export const SCALING_SIGNAL_NAMESPACE = 'Revive/Scaling';
/** Powertools `service` of the Lambda: Powertools adds it as a dimension to every metric, so alarms name it too. */
export const SCALING_SIGNAL_SERVICE = 'scaling-signal';
/** The metric names, one per field of ScalingSignal that an alarm, the dashboard or the next run reads. */
export const SCALING_SIGNAL_METRICS = {
  jobs: 'Jobs',
  workSeconds: 'WorkSeconds',
  wantedTasks: 'WantedTasks',
  targetTasks: 'TargetTasks',
  idleTasks: 'IdleTasks',
} as const;

/**
 * Scale-in keeps the tasks whose slots the running jobs fill to at most this share: Poisson arrivals leave a few tasks
 * idle at any moment even when the fleet is just big enough, and removing those would bring a backlog (and a
 * scale-out) minutes later. @default 0.8
 */
export const SCALE_IN_MAX_BUSY_SHARE = 0.8;
/**
 * The arrival-rate term sizes the fleet to run the median minute's arrivals at this share of its throughput (rounded
 * up to whole tasks; the drain term catches the Poisson noise above it). `pnpm bench:scaling`, GPU daily 2 d: 0.9
 * cost 1.98× the busy floor at a p95 wait of 15 s, 1.0 cost 1.78× at 25 s; rounding to the nearest task instead of
 * up gave 1.56× at 6.3 min. @default 1
 */
export const RATE_TARGET_UTILIZATION = 1;
/**
 * Scale-in waits until the surplus is at least this share of the desired count (and one task): a fleet one task
 * above a noisy steady load holds. `pnpm bench:scaling`, CPU daily: 5.5 reversals an hour without it, 4.7 with it.
 * @default 0.1
 */
export const SCALE_IN_DEAD_BAND_SHARE = 0.1;

/**
 * The shortest idle window (seconds) for which the signal takes a single task to zero on an empty queue: a minute, the
 * signal's own period, so the fleet is never at zero within a minute of a send. A shorter window (or one no longer
 * than the worker's few-second release delay, when the task holds no window at all) leaves the last task to the
 * quiet minutes like the others; the CDK context refuses 1–59. @default 60
 */
export const MIN_IDLE_PROTECTION_SECONDS = 60;

/** An idle window the deployment accepts: 0 (off) or a whole number of at least MIN_IDLE_PROTECTION_SECONDS. */
export function isIdleWindowSeconds(seconds: number): boolean {
  return Number.isInteger(seconds) && (seconds === 0 || seconds >= MIN_IDLE_PROTECTION_SECONDS);
}

/** One reading of the job queue (GetQueueAttributes) and the worker service (DescribeServices). */
export interface ScalingSnapshot {
  /** ApproximateNumberOfMessages: jobs waiting. */
  readonly visible: number;
  /** ApproximateNumberOfMessagesNotVisible: jobs a worker holds. */
  readonly inFlight: number;
  /**
   * ApproximateNumberOfMessagesDelayed: jobs sent with a delay (the missing-parent recheck re-sends children so), not
   * yet receivable. Only the zero rules read it: they are no work to size the fleet for until they show, but the
   * fleet must not go to zero under them. @default 0
   */
  readonly delayed?: number;
  /** The service's desiredCount (which this signal sets). */
  readonly desired: number;
  readonly running: number;
  readonly pending: number;
}

/** One past minute as CloudWatch holds it; a minute the Lambda did not publish is `undefined` in the history. */
export interface SignalMinute {
  /** Jobs waiting or running (the signal's own Jobs). */
  readonly jobs: number;
  /** Tasks the work asked for (the signal's own WantedTasks). */
  readonly wantedTasks: number;
}

/** What the signal reads besides the snapshot: CloudWatch points, oldest first, the newest ending at least the metric lag ago. */
export interface ScalingHistory {
  /** The signal's own minutes (undefined where it published nothing). */
  readonly minutes: readonly (SignalMinute | undefined)[];
  /** SQS NumberOfMessagesSent per minute, same minutes (SQS publishes nothing for an idle queue: undefined reads 0). */
  readonly sent: readonly (number | undefined)[];
  /** Task-seconds per message of the recent sends (the senders' estimates at the measured costs); undefined: none sent. */
  readonly secondsPerMessage: number | undefined;
}

export interface ScalingSignalOptions {
  readonly minTasks: number;
  readonly maxTasks: number;
  /** Jobs one task runs at once (REVIVE_CONCURRENCY): how many held messages make one task busy. */
  readonly concurrency: number;
  /** Task-seconds of a message whose work is not known from recent sends (the default photo at the default costs). */
  readonly defaultSecondsPerMessage: number;
  /** How long the queued work may take to drain: one task more is worth it per this many seconds of queued work. */
  readonly drainSeconds: number;
  /** Minutes over which the arrival rate is measured (the newest `rateMinutes` of the sent history). */
  readonly rateMinutes: number;
  /** Minutes every one of which must have wanted fewer tasks than desired before the surplus goes (in one step). */
  readonly scaleInMinutes: number;
  /**
   * Minutes with no job waiting, running or sent before a fleet of more than one task goes to zero at once (and the
   * last task too when the tasks hold no idle window): CloudWatch's points, so they show a minute late.
   */
  readonly idleMinutesToZero: number;
  /**
   * Seconds each task holds its scale-in protection after its last job when it finds the queue empty
   * (REVIVE_IDLE_PROTECTION_SECONDS: the worker's rent-or-buy window). At least MIN_IDLE_PROTECTION_SECONDS, a fleet of
   * one task goes to zero as soon as the queue is empty (delayed messages included): ECS stops the task only once its
   * window has passed with no job, and a job sent meanwhile finds it polling. Below (0: off): the last task waits for
   * `idleMinutesToZero` quiet minutes like the others.
   */
  readonly idleProtectionSeconds: number;
  /**
   * Tasks a scale-out may reach while no send of the last minutes is visible in CloudWatch yet (a burst into a quiet
   * queue): its work is unknown for the minute or two the points take, and a burst of one-second jobs must not be
   * taken for a burst of photos. Once SQS shows the sends, the senders' declared work (or, if they declare none,
   * the default) counts.
   */
  readonly unknownWorkStartTasks: number;
}

const positive = z.number().positive();
const whole = z.number().int().min(0);
/** The Lambda's settings (REVIVE_SCALING, JSON, set by the QueueDepthScaling construct; the bench reads them from the template). */
export const scalingSettingsSchema = z.strictObject({
  options: z.strictObject({
    minTasks: whole,
    maxTasks: whole,
    concurrency: z.number().int().min(1),
    defaultSecondsPerMessage: positive,
    drainSeconds: positive,
    rateMinutes: z.number().int().min(1),
    scaleInMinutes: z.number().int().min(1),
    idleMinutesToZero: z.number().int().min(1),
    idleProtectionSeconds: z.number().int().min(0),
    unknownWorkStartTasks: z.number().int().min(1),
  }),
  /** While the desired count is 0, how often the Lambda reads the queue within its minute. */
  zeroPollSeconds: z.number().int().min(1).max(60),
  /** Minutes of sends whose declared work gives the mean task-seconds per message. */
  workMixMinutes: z.number().int().min(1),
  /** The mode's per-unit costs (contract DEFAULT_WORK_COSTS scaled to secondsPerJob), task-seconds. */
  workCosts: z.strictObject({ secondsPerFrame: positive, secondsPerOutputMegapixel: positive, secondsPerFace: positive }),
});
export type ScalingSettings = z.infer<typeof scalingSettingsSchema>;

/** What the Lambda publishes and does. */
export interface ScalingSignal {
  /** Jobs waiting or running. */
  readonly jobs: number;
  /** Task-seconds of the jobs waiting and running (each at its full estimate). */
  readonly workSeconds: number;
  /**
   * Tasks the work asks for now (0 with no job): the larger of what keeps up with the median minute's arrivals and
   * what drains all the work within drainSeconds (never more than the jobs can occupy).
   */
  readonly wantedTasks: number;
  /** The desired count to set (bounded by min and max); equal to the snapshot's desired count to hold. */
  readonly targetTasks: number;
  /** Desired tasks with no job (whole tasks of free slots); 0 while a job waits. */
  readonly idleTasks: number;
  /** Why the target is what it is, for the log line. */
  readonly reason: 'out' | 'hold' | 'in' | 'zero';
}

function count(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) throw new RangeError(`scaling signal: ${name} must be a whole number ≥ 0 (got ${value})`);
  return value;
}

function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length === 0 ? 0 : sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The tail of `xs` of length n, or undefined if it is shorter. */
function last<T>(xs: readonly T[], n: number): readonly T[] | undefined {
  return xs.length < n ? undefined : xs.slice(xs.length - n);
}

/**
 * The desired count for one snapshot. Scale-out is absolute and immediate (the target is what the work asks for, not a
 * step on top of a step in progress). Scale-in waits for `scaleInMinutes` complete minutes that all wanted fewer tasks,
 * then removes the whole idle surplus at once, never a task the running jobs need. Zero needs no job now and, from
 * more than one task (or where the tasks hold no idle window of at least MIN_IDLE_PROTECTION_SECONDS),
 * `idleMinutesToZero` complete minutes with no job and no message sent; a single task whose worker holds such a
 * window goes to zero on an empty queue alone (no job waiting, delayed or running),
 * its window deciding when it stops. A minute the signal did not publish breaks both streaks: with points missing
 * the fleet never shrinks (but for the single task, whose window does not depend on points). Throws on counts that
 * are not whole numbers ≥ 0.
 */
export function scalingSignal(snapshot: ScalingSnapshot, history: ScalingHistory, o: ScalingSignalOptions): ScalingSignal {
  const concurrency = count('concurrency', o.concurrency);
  if (concurrency < 1) throw new RangeError('scaling signal: concurrency must be ≥ 1');
  if (!(o.maxTasks >= o.minTasks) || !(o.drainSeconds > 0) || !(o.defaultSecondsPerMessage > 0)) throw new RangeError('scaling signal: bad options');
  const visible = count('visible', snapshot.visible);
  const inFlight = count('inFlight', snapshot.inFlight);
  const delayed = count('delayed', snapshot.delayed ?? 0);
  const desired = count('desired', snapshot.desired);
  count('running', snapshot.running);
  count('pending', snapshot.pending);
  const perMessage = history.secondsPerMessage !== undefined && history.secondsPerMessage > 0 ? history.secondsPerMessage : o.defaultSecondsPerMessage;
  const jobs = visible + inFlight;
  const busyTasks = Math.ceil(inFlight / concurrency);
  const workSeconds = jobs * perMessage;
  // Enough tasks to clear all the work within drainSeconds, but never more than the jobs can occupy.
  const drainTasks = Math.min(Math.ceil(workSeconds / o.drainSeconds), Math.ceil(jobs / concurrency));
  // The median minute, not the mean: a burst is work to drain (above), not a rate to keep up with.
  const recentSent = last(history.sent, o.rateMinutes);
  const ratePerSecond = recentSent === undefined ? 0 : median(recentSent.map((x) => x ?? 0)) / 60;
  const rateTasks = Math.ceil((ratePerSecond * perMessage) / RATE_TARGET_UTILIZATION);
  // The rate alone never starts tasks for an empty queue (a trickle's last job is not a reason to come back up).
  const wantedTasks = jobs > 0 ? Math.max(rateTasks, drainTasks) : 0;
  const idleTasks = visible > 0 ? 0 : Math.max(0, desired - busyTasks);
  const clamp = (n: number) => Math.max(o.minTasks, Math.min(o.maxTasks, n));
  const base = { jobs, workSeconds, wantedTasks, idleTasks };

  const workKnown = history.secondsPerMessage !== undefined || history.sent.some((x) => (x ?? 0) > 0);
  const outTo = workKnown ? wantedTasks : Math.min(wantedTasks, Math.max(desired, o.unknownWorkStartTasks));
  if (clamp(outTo) > desired) return { ...base, targetTasks: clamp(outTo), reason: 'out' };
  const hold = { ...base, targetTasks: desired, reason: 'hold' as const };
  if (desired <= o.minTasks) return hold;

  // The last task: SQS's sent counts and the signal's own points arrive a minute late, so they cannot tell whether a
  // job came and went in the last minute; the task can, and keeps itself for its window after that job. Without such
  // a window, the fleet goes to zero after idleMinutesToZero quiet minutes.
  const lastTaskKeepsItself = o.idleProtectionSeconds >= MIN_IDLE_PROTECTION_SECONDS && desired <= 1;
  const quiet = last(history.minutes, o.idleMinutesToZero);
  const quietSent = last(history.sent, o.idleMinutesToZero);
  const quietLong = quiet?.every((m) => m !== undefined && m.jobs === 0) && quietSent?.every((x) => (x ?? 0) === 0);
  if (jobs === 0 && delayed === 0 && (lastTaskKeepsItself || quietLong)) return { ...base, targetTasks: clamp(0), reason: 'zero' };
  // The running jobs keep their tasks, with headroom for the noise of arrivals; the last task is the zero rule's.
  const keep = Math.max(1, wantedTasks, rateTasks, Math.ceil(inFlight / (concurrency * SCALE_IN_MAX_BUSY_SHARE)));
  const streak = last(history.minutes, o.scaleInMinutes);
  if (visible === 0 && keep < desired && streak?.every((m) => m !== undefined && m.wantedTasks < desired)) {
    const target = clamp(Math.max(keep, ...streak.map((m) => m!.wantedTasks)));
    // A dead band: a surplus of one task in ten (at least one) is the noise of a steady load, not a reason to stop
    // tasks that the next minutes would start again.
    if (target <= desired - Math.max(1, Math.ceil(SCALE_IN_DEAD_BAND_SHARE * desired))) return { ...base, targetTasks: target, reason: 'in' };
  }
  return hold;
}
