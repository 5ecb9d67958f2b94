// The autoscaling signal the scheduled scaling-signal Lambda publishes every minute (scaling-signal-lambda.ts holds
// the AWS calls). Pure, so the Lambda, its tests and the infra's scaling bench compute it the same way.

/** CloudWatch namespace of the scaling signal (a dimension ServiceName names the ECS service). */
export const SCALING_SIGNAL_NAMESPACE = 'Revive/Scaling';
/** Powertools `service` of the Lambda: Powertools adds it as a dimension to every metric, so alarms name it too. */
export const SCALING_SIGNAL_SERVICE = 'scaling-signal';
/** The metric names, one per field of ScalingSignal that an alarm or the dashboard reads. */
export const SCALING_SIGNAL_METRICS = {
  jobs: 'Jobs',
  taskDeficit: 'TaskDeficit',
  idleTasks: 'IdleTasks',
  idleSurplus: 'IdleTaskSurplus',
  quiet: 'Quiet',
} as const;

/**
 * Scale-in keeps the tasks whose slots the running jobs fill to at most this share: Poisson arrivals leave a few tasks
 * idle at any moment even when the fleet is just big enough, and removing those would bring a backlog (and a
 * scale-out) minutes later. @default 0.8
 */
export const SCALE_IN_MAX_BUSY_SHARE = 0.8;

/** One reading of the job queue (GetQueueAttributes) and the worker service (DescribeServices). */
export interface ScalingSnapshot {
  /** ApproximateNumberOfMessages: jobs waiting. */
  readonly visible: number;
  /** ApproximateNumberOfMessagesNotVisible: jobs a worker holds. */
  readonly inFlight: number;
  /** The service's desiredCount, which Application Auto Scaling sets (so it already counts its last action). */
  readonly desired: number;
  readonly running: number;
  readonly pending: number;
}

export interface ScalingSignalOptions {
  /** Jobs, waiting or running, one task is worth: the work asks for CEIL(jobs / jobsPerTask) tasks. */
  readonly jobsPerTask: number;
  /** Jobs one task runs at once (REVIVE_CONCURRENCY): how many held messages make one task busy. */
  readonly concurrency: number;
}

/** What the Lambda publishes, in tasks unless named otherwise. */
export interface ScalingSignal {
  /** Jobs waiting or running. */
  readonly jobs: number;
  /** CEIL(jobs / jobsPerTask). */
  readonly wantedTasks: number;
  /** wantedTasks − desired: positive asks for that many more tasks (the scale-out alarm), negative is a surplus. */
  readonly taskDeficit: number;
  /**
   * Desired tasks with no job: desired − CEIL(inFlight / concurrency), counted in whole tasks' worth of free slots;
   * 0 while a job waits (a free slot takes it at once).
   */
  readonly idleTasks: number;
  /**
   * Tasks the scale-in may remove: the surplus over what the work asks for (at least one task: the last one is the
   * scale-to-zero alarm's), but never so many that the running jobs would fill more than SCALE_IN_MAX_BUSY_SHARE of
   * the slots left, and none while a job waits. Busy tasks are never counted, so a fleet whose tasks all hold jobs is
   * not shrunk just because jobsPerTask would allow fewer: that is the dead band between scale-out (a backlog of
   * jobsPerTask jobs per task) and scale-in (idle tasks beyond the headroom).
   */
  readonly idleSurplus: number;
  /** 1 when tasks are desired and no job waits or runs, else 0 (the scale-to-zero alarm counts these minutes). */
  readonly quiet: 0 | 1;
}

function count(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) throw new RangeError(`scaling signal: ${name} must be a whole number ≥ 0 (got ${value})`);
  return value;
}

/** The signal for one snapshot. Throws on counts that are not whole numbers ≥ 0 (nothing is published then). */
export function scalingSignal(snapshot: ScalingSnapshot, options: ScalingSignalOptions): ScalingSignal {
  const jobsPerTask = count('jobsPerTask', options.jobsPerTask);
  const concurrency = count('concurrency', options.concurrency);
  if (jobsPerTask < 1 || concurrency < 1) throw new RangeError('scaling signal: jobsPerTask and concurrency must be ≥ 1');
  const visible = count('visible', snapshot.visible);
  const inFlight = count('inFlight', snapshot.inFlight);
  const desired = count('desired', snapshot.desired);
  count('running', snapshot.running);
  count('pending', snapshot.pending);
  const jobs = visible + inFlight;
  const wantedTasks = Math.ceil(jobs / jobsPerTask);
  const idleTasks = visible > 0 ? 0 : Math.max(0, desired - Math.ceil(inFlight / concurrency));
  const keepForRunningJobs = Math.ceil(inFlight / (concurrency * SCALE_IN_MAX_BUSY_SHARE));
  const idleSurplus = visible > 0 ? 0 : Math.max(0, desired - Math.max(1, wantedTasks, keepForRunningJobs));
  return {
    jobs,
    wantedTasks,
    taskDeficit: wantedTasks - desired,
    idleTasks,
    idleSurplus,
    quiet: desired >= 1 && jobs === 0 ? 1 : 0,
  };
}
