// A second-by-second replay of one scaling policy (read from a template) against a job arrival pattern.
//
// Modelled (Application Auto Scaling, CloudWatch, SQS, ECS):
// - The scaling-signal Lambda (its settings read from its environment in the template) runs at every minute's end on
//   the live queue and service counts, with CloudWatch's history as it stands then (the newest point one lag old),
//   and sets the desired count itself; while the count is 0 it reads the queue every `zeroPollSeconds`. It publishes
//   nothing during `signalOutages`. Option `actuation: 'exactSteps'` models the other way of driving the count: the
//   Lambda publishes its target and an alarm applies it one lag later through ExactCapacity steps (at most 20, so
//   the target rounds up to the next band).
// - SQS, Container Insights and the Lambda publish one-minute samples; a datapoint reaches alarms `metricLagSeconds`
//   after its period ends (default METRIC_LAG_S), and each source's point of a minute is missing with probability
//   `missingPointRate`. Longer periods (ecs-patterns alarms on 5-minute queue
//   metrics) aggregate those samples with the stat. NumberOfMessagesSent counts the minute's arrivals.
// - Alarms: M of N datapoints, evaluated every minute; missing datapoints (no data, x / 0) are skipped, or count as
//   the alarm's treatMissingData says (breaching, notBreaching); with `missingAs: 'mostRecent'` every alarm instead
//   evaluates the most recent real points, as CloudWatch documents for alarms whose recent points are missing.
// - An alarm in ALARM invokes its step policy every minute (CloudWatch re-invokes Auto Scaling actions per period).
// - Step scaling: the step for (value − threshold); ChangeInCapacity or ExactCapacity (0 included); during the cooldown after a scale-out only a
//   larger scale-out goes through (the earlier one counted in), scale-in is blocked during any cooldown of the policy.
// - Target tracking: the alarms Application Auto Scaling creates (3 datapoints above target to scale out, 15 below
//   90 % of it to scale in), capacity = CEIL(desired × metric / target); scale-in waits out both cooldowns.
// - ECS: tasks start 60–90 s after the desired count rises (Fargate); a GPU task needs an instance: one that is up
//   and free (container and model start, 45 s), one from the warm pool (150 s), or a new one (300–480 s). Free
//   instances are terminated (or returned to the warm pool) after 15 minutes, as managed scaling does.
// - Scale-in protection: a task with a job (or idle for less than the protection debounce) is not stopped; ECS
//   stops starting tasks first, then idle ones, and the rest as they go idle. A task that went idle keeps its
//   protection for the worker's idle window (REVIVE_IDLE_PROTECTION_SECONDS in the template's task definition) after
//   its last job if, at the end of the debounce, no job waits or runs anywhere (it was the fleet's last busy task).
// - Workers long-poll: a message goes at once to a free slot, picked at random among all the tasks' free slots (SQS
//   hands a message to one of the waiting receives). A task runs `concurrency` jobs, each taking
//   concurrency × its task-seconds (± 20 %): a job is a number (secondsPerJob) or a SimJob with its own seconds
//   and the estimate its sender declared.
// - A Fargate task ECS stops is billed TASK_STOP_BILLED_S more (it takes no job meanwhile).
// Assumed, not modelled: SQS's approximate counts are exact; no task or instance fails; no capacity shortage;
// Container Insights' DesiredTaskCount equals the scalable target's desired count.

import { DEFAULT_PROTECTION_RELEASE_DELAY_MS, QUEUE_IDLE_READS } from '@revive/contract';
import { scalingSignal, SCALING_SIGNAL_METRICS, SCALING_SIGNAL_NAMESPACE, type SignalMinute } from '../src/scaling-signal/signal.js';
import { compile, type Value } from './metric-math.js';
import type { AlarmSpec, ScalingSpec, Signal, StepPolicySpec, TargetPolicySpec } from './policy.js';

export const METRIC_LAG_S = 60;
const FARGATE_START_S: readonly [number, number] = [60, 90];
const GPU_COLD_START_S: readonly [number, number] = [300, 480];
const GPU_WARM_START_S = 150;
const WARM_POOL_REFILL_S = 600;
const GPU_TASK_ON_FREE_INSTANCE_S = 45;
const INSTANCE_IDLE_TERMINATE_S = 15 * 60;
/** The worker's release delay: how long a task stays protected after its last job before it reads the queue. */
const PROTECTION_DEBOUNCE_S = DEFAULT_PROTECTION_RELEASE_DELAY_MS / 1000;
/**
 * Billed seconds of a Fargate task after ECS picks it to stop: ECS noticing that its protection is off, SIGTERM, an
 * idle worker's drain (polls aborted, nothing to wait for) and the container's exit. Not measured; assumed.
 */
const TASK_STOP_BILLED_S = 10;
const TARGET_TRACKING_OUT_POINTS = 3;
const TARGET_TRACKING_IN_POINTS = 15;

export interface WorkerModel {
  readonly mode: 'cpu' | 'gpu';
  readonly secondsPerJob: number;
  readonly concurrency: number;
  /** Stopped instances in the warm pool (gpu). */
  readonly warmPoolSize: number;
  /** REVIVE_IDLE_PROTECTION_SECONDS: how long the fleet's last busy task keeps its protection after its last job. */
  readonly idleProtectionSeconds: number;
}

/** A job with its own length: `seconds` of task time, and the task-seconds its sender's estimate says (default: the same). */
export interface SimJob {
  readonly at: number;
  readonly seconds: number;
  readonly estimatedSeconds?: number;
}

/** ExactCapacity steps allowed per policy: the target rounds up to one of at most this many bands. */
export const EXACT_CAPACITY_MAX_STEPS = 20;
/** The counts an ExactCapacity policy of at most EXACT_CAPACITY_MAX_STEPS steps can set, up to maxTasks. */
export function exactCapacityBands(maxTasks: number): number[] {
  const bands: number[] = [];
  for (let n = 1; n <= maxTasks; n = Math.max(n + 1, Math.ceil(n * 1.25))) bands.push(n);
  while (bands.length >= EXACT_CAPACITY_MAX_STEPS) bands.splice(bands.length - 2, 1);
  if (bands.at(-1) !== maxTasks) bands.push(maxTasks);
  return bands;
}

export interface SimOptions {
  /** Seconds [from, to) when the scaling-signal Lambda does not run. @default none */
  readonly signalOutages?: readonly (readonly [number, number])[];
  /** How alarms read missing points: as each alarm's treatMissingData says, or as CloudWatch's most recent real points. @default 'declared' */
  readonly missingAs?: 'declared' | 'mostRecent';
  /** How the Lambda's target reaches the service. @default 'lambda' */
  readonly actuation?: 'lambda' | 'exactSteps';
  /** The Lambda knows each message's real length (a right-sized reference), instead of the senders' estimates. @default false */
  readonly oracleWork?: boolean;
  /** How long after its period ends a datapoint reaches the alarms. @default METRIC_LAG_S (60) */
  readonly metricLagSeconds?: number;
  /** Probability that one source's point (SQS, Container Insights, the scaling signal) of a minute is missing. @default 0 */
  readonly missingPointRate?: number;
}

export interface SimResult {
  readonly jobs: number;
  readonly unstarted: number;
  readonly firstStartSeconds: number | undefined;
  readonly waitP50Seconds: number;
  readonly waitP95Seconds: number;
  readonly waitMaxSeconds: number;
  readonly peakTasks: number;
  /** Task-minutes (cpu) or instance-minutes (gpu). */
  readonly costMinutes: number;
  /** The jobs' task-seconds: what a perfectly packed fleet would pay. */
  readonly busyFloorMinutes: number;
  /** Times the desired count went to 0 while a task was running a job. */
  readonly zeroWithWork: number;
  /**
   * Of those, the times the newest datapoint the policy could see already showed work: the policy scaled to zero
   * knowingly. The others are jobs that arrived inside the metric lag after a quiet spell.
   */
  readonly zeroWithWorkSeen: number;
  readonly launches: number;
  /** Times a policy set the desired count from above 0 to 0 (scale-to-zero applied). */
  readonly zeroActions: number;
  /** Changes of the desired count in the opposite direction of the change before, per hour simulated. */
  readonly reversalsPerHour: number;
  /** Waits of the jobs that found the fleet at zero (no task, not even one starting) with nothing else waiting. */
  readonly fromZeroWaitsSeconds: readonly number[];
  /**
   * Times the fleet reached zero tasks (running or starting) within 60 s of a message being sent: in the minute a
   * message was sent, the minute read as the 60 s before the fleet reaches zero (which holds the part of the clock
   * minute before that moment). A message sent after it is one no policy could have known of.
   */
  readonly zeroInSentMinute: number;
  /** During outages, from the fallback's first point on: the longest stretch with fewer tasks desired than the Lambda would have wanted. */
  readonly outageShortfallSeconds: number | undefined;
}

/** A seeded PRNG (mulberry32): every run of the bench replays the same arrivals and start times. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Task {
  state: 'starting' | 'running';
  readyAt: number;
  slots: number[]; // end time of each busy slot
  jobs: SimJob[]; // the job in each slot
  idleSince: number;
  /** When the debounce after its last job ends: the worker then looks at the queue (and again, while it finds work). */
  checkAt?: number;
  /** Queue reads of this idle spell so far (the worker reads up to QUEUE_IDLE_READS times before letting go). */
  reads: number;
  /** Protected until then: its idle window, held because it found the queue empty. */
  holdUntil: number;
  instance?: Instance;
}
interface Instance {
  readyAt: number;
  task?: Task;
  freeSince: number;
  launchedAt: number;
}

const percentile = (sorted: readonly number[], p: number) => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!);

function breaches(a: AlarmSpec, v: number): boolean {
  switch (a.comparison) {
    case 'GreaterThanThreshold': return v > a.threshold;
    case 'GreaterThanOrEqualToThreshold': return v >= a.threshold;
    case 'LessThanThreshold': return v < a.threshold;
    case 'LessThanOrEqualToThreshold': return v <= a.threshold;
  }
}

/** Replays `arrivals` (seconds or jobs, sorted by time) against `spec`; runs until every job is done plus 30 minutes, or `horizonS`. */
export function simulate(spec: ScalingSpec, worker: WorkerModel, arrivalsIn: readonly (number | SimJob)[], horizonS: number, seed = 1, options: SimOptions = {}): SimResult {
  const jobsIn: readonly SimJob[] = arrivalsIn.map((a) => (typeof a === 'number' ? { at: a, seconds: worker.secondsPerJob } : a));
  const arrivals = jobsIn.map((j) => j.at);
  const random = rng(seed);
  const lagS = options.metricLagSeconds ?? METRIC_LAG_S;
  const missingRate = options.missingPointRate ?? 0;
  // Its own stream, so the arrivals and start times are the same with and without missing points.
  const missing = rng(seed ^ 0x5eed);
  const dispatch = rng(seed ^ 0xd15c);
  const between = ([lo, hi]: readonly [number, number]) => lo + random() * (hi - lo);
  const samples: Record<string, number>[] = []; // one per minute: metric key → value
  const compiled = new Map<Signal, (v: Record<string, Value>) => Value>();
  const signalAt = (signal: Signal, endMinute: number): Value => {
    // The datapoint of the period that ends at endMinute (exclusive), aggregated from one-minute samples.
    const n = signal.periodSeconds / 60;
    if (endMinute - n < 0) return undefined;
    const values: Record<string, Value> = {};
    for (const [id, m] of Object.entries(signal.metrics)) {
      const xs: number[] = [];
      for (let k = endMinute - n; k < endMinute; k++) {
        const x = samples[k]?.[`${m.namespace}/${m.metricName}`];
        if (x !== undefined) xs.push(x);
      }
      values[id] = m.stat === 'SampleCount' ? (xs.length === 0 ? undefined : xs.length) : xs.length === 0 ? undefined : m.stat === 'Maximum' ? Math.max(...xs) : m.stat === 'Minimum' ? Math.min(...xs) : m.stat === 'Sum' && n === 1 ? xs[0] : xs.reduce((s, x) => s + x, 0) / xs.length;
    }
    let f = compiled.get(signal);
    if (!f) compiled.set(signal, (f = compile(signal.expression)));
    return f(values);
  };
  /** Datapoints an alarm sees at time t: the latest `count` whose period ended at least the lag ago. */
  const datapoints = (signal: Signal, t: number, count: number): number[] => {
    const periodMin = signal.periodSeconds / 60;
    const lastEnd = Math.floor((t - lagS) / signal.periodSeconds) * periodMin;
    const out: number[] = [];
    for (let end = lastEnd, guard = 0; out.length < count && end > 0 && guard < count * 3 + 20; end -= periodMin, guard++) {
      const v = signalAt(signal, end);
      if (v !== undefined) out.unshift(v);
    }
    return out;
  };
  const inAlarm = (a: AlarmSpec, t: number) => {
    if (options.missingAs !== 'mostRecent' && (a.treatMissingData === 'notBreaching' || a.treatMissingData === 'breaching')) {
      // The last N periods as they are; a missing one counts as the alarm says.
      const periodMin = a.signal.periodSeconds / 60;
      const lastEnd = Math.floor((t - lagS) / a.signal.periodSeconds) * periodMin;
      let breaching = 0;
      for (let k = 0; k < a.evaluationPeriods; k++) {
        const end = lastEnd - k * periodMin;
        const v = end > 0 ? signalAt(a.signal, end) : undefined;
        if (v === undefined ? a.treatMissingData === 'breaching' : breaches(a, v)) breaching++;
      }
      return breaching >= a.datapointsToAlarm;
    }
    const pts = datapoints(a.signal, t, a.evaluationPeriods);
    return pts.length >= a.datapointsToAlarm && pts.slice(-a.datapointsToAlarm).every((v) => breaches(a, v));
  };

  let desired = spec.minCapacity;
  const clamp = (n: number) => Math.max(spec.minCapacity, Math.min(spec.maxCapacity, n));
  const tasks: Task[] = [];
  const instances: Instance[] = [];
  let warmPool = worker.warmPoolSize;
  /** When used warm-pool slots are refilled: the group launches and initialises a replacement, about 10 minutes. */
  const refills: number[] = [];
  const cooldowns = new Map<string, { until: number; lastOut: number; outUntil: number; inUntil: number }>();
  const queue: number[] = []; // arrival times, in order
  const queueJob: SimJob[] = [];
  const fromZero: boolean[] = [];
  const fromZeroWaits: number[] = [];
  let zeroInSentMinute = 0;
  let lastArrivalAt = Number.NEGATIVE_INFINITY;
  const outages = options.signalOutages ?? [];
  const inOutage = (t: number) => outages.some(([a, b]) => t >= a && t < b);
  let fallbackFirstPointAt: number | undefined;
  let shortfallSince: number | undefined;
  let outageShortfall: number | undefined;
  const pendingExact: [at: number, target: number][] = [];
  const bands = exactCapacityBands(spec.maxCapacity);
  /** Per minute: messages sent and the task-seconds their senders declared. */
  const sentEstimate: number[] = [];
  let head = 0;
  let next = 0;
  const waits: number[] = [];
  let done = 0;
  let firstStart: number | undefined;
  let peak = 0;
  let costSeconds = 0;
  let zeroWithWork = 0;
  let zeroWithWorkSeen = 0;
  let launches = 0;
  let zeroActions = 0;
  let reversals = 0;
  let lastDirection = 0;
  let sentThisMinute = 0;
  let cpuAccum = 0;
  let cpuCount = 0;
  let lastDone = -1;
  let estimateThisMinute = 0;

  const setDesired = (n: number, t: number) => {
    const before = desired;
    desired = clamp(Math.round(n));
    const direction = Math.sign(desired - before);
    if (direction !== 0) {
      if (lastDirection !== 0 && direction !== lastDirection) reversals++;
      lastDirection = direction;
    }
    if (desired === 0 && before > 0) zeroActions++;
    if (desired === 0 && before > 0 && tasks.some((k) => k.slots.length > 0)) {
      zeroWithWork++;
      // The newest one-minute sample an alarm could see at t: did it show the work?
      const seen = samples[Math.floor((t - lagS) / 60) - 1];
      if ((seen?.['AWS/SQS/ApproximateNumberOfMessagesNotVisible'] ?? 0) + (seen?.['AWS/SQS/ApproximateNumberOfMessagesVisible'] ?? 0) > 0) zeroWithWorkSeen++;
    }
  };

  const step = (p: StepPolicySpec, value: number, a: AlarmSpec, t: number) => {
    const delta = value - a.threshold;
    // Above the threshold a band includes its lower bound, below it its upper bound (Application Auto Scaling).
    const below = a.comparison.startsWith('Less');
    const s = p.steps.find((x) => (below ? delta > x.lower && delta <= x.upper : delta >= x.lower && delta < x.upper));
    if (!s) return;
    const cd = cooldowns.get(p.id) ?? { until: -1, lastOut: 0, outUntil: -1, inUntil: -1 };
    const adjust = p.adjustmentType === 'ExactCapacity' ? s.adjustment - desired : p.adjustmentType === 'PercentChangeInCapacity' ? Math.round((desired * s.adjustment) / 100) : s.adjustment;
    if (adjust > 0) {
      if (t < cd.until && cd.lastOut > 0) {
        if (adjust <= cd.lastOut) return;
        setDesired(desired + adjust - cd.lastOut, t);
      } else setDesired(desired + adjust, t);
      cooldowns.set(p.id, { ...cd, until: t + p.cooldownSeconds, lastOut: adjust });
    } else if (adjust < 0) {
      if (t < cd.until) return;
      setDesired(desired + adjust, t);
      cooldowns.set(p.id, { ...cd, until: t + p.cooldownSeconds, lastOut: 0 });
    }
  };

  const track = (p: TargetPolicySpec, t: number) => {
    const cd = cooldowns.get(p.id) ?? { until: -1, lastOut: 0, outUntil: -1, inUntil: -1 };
    const out = datapoints(p.signal, t, TARGET_TRACKING_OUT_POINTS);
    const inn = datapoints(p.signal, t, TARGET_TRACKING_IN_POINTS);
    const metric = out.at(-1);
    if (metric === undefined || desired === 0) return;
    if (out.length === TARGET_TRACKING_OUT_POINTS && out.every((v) => v > p.target)) {
      const want = clamp(Math.ceil((desired * metric) / p.target));
      if (want > desired) {
        setDesired(want, t);
        cooldowns.set(p.id, { ...cd, outUntil: t + p.scaleOutCooldownSeconds });
      }
    } else if (inn.length === TARGET_TRACKING_IN_POINTS && inn.every((v) => v < 0.9 * p.target) && t >= cd.inUntil && t >= cd.outUntil) {
      const want = clamp(Math.ceil((desired * metric) / p.target));
      if (want < desired) {
        setDesired(want, t);
        cooldowns.set(p.id, { ...cd, inUntil: t + p.scaleInCooldownSeconds });
      }
    }
  };

  const lambda = spec.signal;
  const historyMinutes = lambda ? Math.max(lambda.options.rateMinutes, lambda.options.scaleInMinutes, lambda.options.idleMinutesToZero, lambda.workMixMinutes) : 0;
  /** What the Lambda decides at `now`: the live counts, CloudWatch's points up to one lag ago. */
  const decide = (now: number) => {
    const o = lambda!.options;
    const newest = Math.floor((now - lagS) / 60);
    const minutes: (SignalMinute | undefined)[] = [];
    const sent: (number | undefined)[] = [];
    for (let k = Math.max(0, newest - historyMinutes); k < newest; k++) {
      const x = samples[k];
      const jobs = x?.[`${SCALING_SIGNAL_NAMESPACE}/${SCALING_SIGNAL_METRICS.jobs}`];
      const wanted = x?.[`${SCALING_SIGNAL_NAMESPACE}/${SCALING_SIGNAL_METRICS.wantedTasks}`];
      minutes.push(jobs === undefined || wanted === undefined ? undefined : { jobs, wantedTasks: wanted });
      sent.push(x?.['AWS/SQS/NumberOfMessagesSent']);
    }
    let mixSent = 0;
    let mixSeconds = 0;
    for (let k = Math.max(0, newest - lambda!.workMixMinutes); k < newest; k++) {
      mixSent += samples[k]?.['AWS/SQS/NumberOfMessagesSent'] ?? 0;
      mixSeconds += sentEstimate[k] ?? 0;
    }
    const inFlight = tasks.reduce((n, k) => n + k.slots.length, 0);
    const running = tasks.filter((k) => k.state === 'running').length;
    let secondsPerMessage = mixSent > 0 ? mixSeconds / mixSent : undefined;
    if (options.oracleWork) {
      // The reference: the mean real length of what is waiting and running.
      const open = [...queueJob.slice(head), ...tasks.flatMap((k) => k.jobs)];
      secondsPerMessage = open.length > 0 ? open.reduce((n, j) => n + j.seconds, 0) / open.length : undefined;
    }
    return scalingSignal(
      { visible: queue.length - head, inFlight, desired, running, pending: tasks.length - running },
      { minutes, sent, secondsPerMessage },
      o,
    );
  };

  for (let t = 0; t < horizonS; t++) {
    while (next < arrivals.length && arrivals[next]! <= t) {
      const job = jobsIn[next++]!;
      queue.push(job.at);
      queueJob.push(job);
      // The first job to find the fleet at zero (no task, not even one starting) with nothing else waiting: the one a
      // start from zero is for. A job that finds a task still in its idle window is served by it.
      fromZero.push(tasks.length === 0 && queue.length - 1 === head);
      lastArrivalAt = t;
      sentThisMinute++;
      estimateThisMinute += job.estimatedSeconds ?? job.seconds;
    }
    // While the count is 0 the Lambda reads the queue every zeroPollSeconds.
    if (lambda && (options.actuation ?? 'lambda') === 'lambda' && desired === 0 && queue.length > head && t % lambda.zeroPollSeconds === 0 && t % 60 !== 59 && !inOutage(t)) {
      const sig = decide(t);
      if (sig.targetTasks !== desired) setDesired(sig.targetTasks, t);
    }
    while (pendingExact.length > 0 && pendingExact[0]![0] <= t) {
      const [, target] = pendingExact.shift()!;
      const band = target === 0 ? 0 : (bands.find((b) => b >= target) ?? spec.maxCapacity);
      if (band !== desired) setDesired(band, t);
    }

    // Jobs end, slots free up.
    for (const task of tasks) {
      if (task.state === 'starting' && t >= task.readyAt) {
        task.state = 'running';
        task.idleSince = t;
      }
      if (task.slots.length > 0) {
        const before = task.slots.length;
        task.jobs = task.jobs.filter((_, i) => task.slots[i]! > t);
        task.slots = task.slots.filter((end) => end > t);
        done += before - task.slots.length;
        if (task.slots.length === 0 && before > 0) {
          task.idleSince = t;
          task.checkAt = t + PROTECTION_DEBOUNCE_S;
          task.reads = 0;
        }
      }
    }
    // The oldest messages go to free slots, each to one picked at random among all the tasks' free slots.
    if (head < queue.length) {
      const free: Task[] = [];
      for (const task of tasks) if (task.state === 'running') for (let k = task.slots.length; k < worker.concurrency; k++) free.push(task);
      while (free.length > 0 && head < queue.length) {
        const task = free.splice(Math.floor(dispatch() * free.length), 1)[0]!;
        const job = queueJob[head]!;
        if (fromZero[head]) fromZeroWaits.push(t - job.at);
        const arrived = queue[head++]!;
        waits.push(t - arrived);
        firstStart ??= t - arrivals[0]!;
        task.slots.push(t + job.seconds * worker.concurrency * (0.8 + 0.4 * random()));
        task.jobs.push(job);
        task.checkAt = undefined;
        task.holdUntil = Number.NEGATIVE_INFINITY;
      }
    }
    // The debounce after a task's last job has passed: if no job waits or runs anywhere, it was the fleet's last busy
    // task and holds its idle window (from its last job's end); otherwise it lets go.
    for (const task of tasks) {
      if (task.checkAt !== t || task.slots.length > 0) continue;
      task.checkAt = undefined;
      task.reads++;
      if (head === queue.length && tasks.every((k) => k.slots.length === 0)) task.holdUntil = task.idleSince + worker.idleProtectionSeconds;
      // Work elsewhere: the worker reads again, the debounce apart, within its window (SQS's counts are approximate).
      else if (worker.idleProtectionSeconds > PROTECTION_DEBOUNCE_S && task.reads < QUEUE_IDLE_READS && t + PROTECTION_DEBOUNCE_S < task.idleSince + worker.idleProtectionSeconds) task.checkAt = t + PROTECTION_DEBOUNCE_S;
    }

    // The service converges on the desired count.
    const active = tasks.length;
    if (active < desired) {
      for (let k = active; k < desired; k++) {
        const task: Task = { state: 'starting', readyAt: 0, slots: [], jobs: [], idleSince: t, holdUntil: Number.NEGATIVE_INFINITY, reads: 0 };
        if (worker.mode === 'cpu') task.readyAt = t + between(FARGATE_START_S);
        else {
          let inst = instances.find((i) => !i.task && i.readyAt <= t);
          if (inst) task.readyAt = t + GPU_TASK_ON_FREE_INSTANCE_S;
          else {
            inst = instances.find((i) => !i.task);
            if (inst) task.readyAt = Math.max(t, inst.readyAt) + GPU_TASK_ON_FREE_INSTANCE_S;
            else {
              const warm = warmPool > 0;
              if (warm) {
                warmPool--;
                refills.push(t + WARM_POOL_REFILL_S);
              }
              inst = { readyAt: t + (warm ? GPU_WARM_START_S - GPU_TASK_ON_FREE_INSTANCE_S : between(GPU_COLD_START_S)), freeSince: t, launchedAt: t };
              instances.push(inst);
              launches++;
              task.readyAt = inst.readyAt + GPU_TASK_ON_FREE_INSTANCE_S;
            }
          }
          inst.task = task;
          task.instance = inst;
        }
        tasks.push(task);
        if (worker.mode === 'cpu') launches++;
      }
    } else if (active > desired) {
      let excess = active - desired;
      const before = tasks.length;
      // Starting tasks first (newest first), then idle, unprotected ones; busy ones are protected.
      for (let k = tasks.length - 1; k >= 0 && excess > 0; k--) {
        const task = tasks[k]!;
        const protectedNow = task.slots.length > 0 || (task.state === 'running' && (t - task.idleSince < PROTECTION_DEBOUNCE_S || task.checkAt !== undefined || t < task.holdUntil));
        if (task.state === 'starting' || !protectedNow) {
          if (task.instance) {
            task.instance.task = undefined;
            task.instance.freeSince = t;
          }
          tasks.splice(k, 1);
          if (worker.mode === 'cpu') costSeconds += TASK_STOP_BILLED_S;
          excess--;
        }
      }
      if (before > 0 && tasks.length === 0 && t - lastArrivalAt < 60) zeroInSentMinute++;
    }
    // Managed scaling gives back instances free for 15 minutes.
    for (let k = instances.length - 1; k >= 0; k--) {
      const inst = instances[k]!;
      if (!inst.task && inst.readyAt <= t && t - inst.freeSince >= INSTANCE_IDLE_TERMINATE_S) {
        instances.splice(k, 1);
        costSeconds += t - inst.launchedAt;
        // reuseOnScaleIn: the instance is stopped into the pool, which stays at its size.
      }
    }
    while (refills.length > 0 && refills[0]! <= t) {
      refills.shift();
      warmPool = Math.min(worker.warmPoolSize, warmPool + 1);
    }

    if (worker.mode === 'cpu') costSeconds += tasks.length;
    peak = Math.max(peak, worker.mode === 'cpu' ? tasks.length : instances.length);
    const running = tasks.filter((k) => k.state === 'running');
    if (running.length > 0) {
      cpuAccum += running.reduce((s, k) => s + (k.slots.length > 0 ? 100 : 2), 0) / running.length;
      cpuCount++;
    }

    // One-minute samples, then policies act on what the alarms can see.
    if ((t + 1) % 60 === 0) {
      const inFlight = tasks.reduce((s, k) => s + k.slots.length, 0);
      const sample: Record<string, number> = {};
      const present = () => missingRate === 0 || missing() >= missingRate;
      if (present()) {
        sample['AWS/SQS/ApproximateNumberOfMessagesVisible'] = queue.length - head;
        sample['AWS/SQS/ApproximateNumberOfMessagesNotVisible'] = inFlight;
        sample['AWS/SQS/NumberOfMessagesSent'] = sentThisMinute;
      }
      sentEstimate.push(estimateThisMinute);
      estimateThisMinute = 0;
      if (present()) {
        sample['ECS/ContainerInsights/DesiredTaskCount'] = desired;
        sample['ECS/ContainerInsights/RunningTaskCount'] = running.length;
      }
      const now = t + 1;
      if (lambda && !inOutage(t)) {
        const sig = decide(now);
        if (present()) {
          for (const [field, name] of Object.entries(SCALING_SIGNAL_METRICS) as [keyof typeof SCALING_SIGNAL_METRICS, string][]) {
            sample[`${SCALING_SIGNAL_NAMESPACE}/${name}`] = sig[field];
          }
        }
        if ((options.actuation ?? 'lambda') === 'lambda') {
          if (sig.targetTasks !== desired) setDesired(sig.targetTasks, now);
        } else pendingExact.push([now + lagS, sig.targetTasks]);
      } else if (lambda) {
        // Outage: how far the fleet is from what the Lambda would have asked for, from the first minute whose point
        // (missing the signal) reached the fallback's alarm.
        const need = Math.min(spec.maxCapacity, decide(now).wantedTasks);
        const started = outages.find(([a, b]) => t >= a && t < b)![0];
        if (now >= Math.ceil(started / 60) * 60 + 60 + lagS) fallbackFirstPointAt ??= now;
        if (fallbackFirstPointAt !== undefined) {
          if (desired < need) shortfallSince ??= now - 60;
          else shortfallSince = undefined;
          if (shortfallSince !== undefined) outageShortfall = Math.max(outageShortfall ?? 0, now - shortfallSince);
          else outageShortfall ??= 0;
        }
      }
      sentThisMinute = 0;
      if (cpuCount > 0) sample['AWS/ECS/CPUUtilization'] = cpuAccum / cpuCount;
      samples.push(sample);
      cpuAccum = 0;
      cpuCount = 0;
      for (const p of spec.policies) {
        if (p.kind === 'target') track(p, now);
        else
          for (const a of p.alarms) {
            if (!inAlarm(a, now)) continue;
            const v = datapoints(a.signal, now, 1).at(-1);
            if (v !== undefined) step(p, v, a, now);
          }
      }
    }

    if (done === arrivals.length && lastDone < 0) lastDone = t;
    if (lastDone >= 0 && t - lastDone >= 30 * 60) {
      horizonS = t + 1;
      break;
    }
  }
  for (const inst of instances) costSeconds += horizonS - inst.launchedAt;
  // Jobs never started wait at least until the horizon.
  for (let k = head; k < queue.length; k++) waits.push(horizonS - queue[k]!);
  for (let k = next; k < arrivals.length; k++) waits.push(Math.max(0, horizonS - arrivals[k]!));
  const sorted = [...waits].sort((a, b) => a - b);
  return {
    jobs: arrivals.length,
    unstarted: queue.length - head + arrivals.length - next,
    firstStartSeconds: firstStart,
    waitP50Seconds: percentile(sorted, 0.5),
    waitP95Seconds: percentile(sorted, 0.95),
    waitMaxSeconds: sorted.at(-1) ?? 0,
    peakTasks: peak,
    costMinutes: costSeconds / 60,
    busyFloorMinutes: jobsIn.reduce((n, j) => n + j.seconds, 0) / 60,
    zeroWithWork,
    zeroWithWorkSeen,
    launches,
    zeroActions,
    reversalsPerHour: reversals / (horizonS / 3600),
    fromZeroWaitsSeconds: fromZeroWaits,
    zeroInSentMinute,
    outageShortfallSeconds: outageShortfall,
  };
}
