import { join } from 'node:path';
import { DEFAULT_PHOTO_WORK, DEFAULT_WORK_COSTS, estimateWorkSeconds, type WorkCosts, type WorkMode } from '@revive/contract';
import {
  isIdleWindowSeconds,
  MIN_IDLE_PROTECTION_SECONDS,
  SCALING_SIGNAL_METRICS,
  SCALING_SIGNAL_NAMESPACE,
  SCALING_SIGNAL_SERVICE,
  scalingSettingsSchema,
  type ScalingSettings,
} from './scaling-signal/signal.js';
import { Duration } from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwactions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { putLocalEsbuildOnPath, LAMBDA_BUNDLING } from './esbuild.js';
import { REPO_ROOT } from './paths.js';

/** The scaling-signal Lambda runs once a minute and the alarms evaluate one-minute points. */
export const SCALING_PERIOD_SECONDS = 60;
/**
 * How late a point reaches the alarms (and the Lambda's GetMetricData): an EMF line becomes a metric within seconds,
 * SQS and Container Insights publish a minute after it ends, and an alarm evaluates a minute once it has ended. The
 * fallback's action shows in the DesiredTaskCount it subtracts only a period plus this lag later.
 */
export const SCALING_METRIC_LAG_SECONDS = 60;
/** The shortest cooldown that never acts twice on the same stale desired count. @default 120 */
export const MIN_SCALING_COOLDOWN_SECONDS = SCALING_PERIOD_SECONDS + SCALING_METRIC_LAG_SECONDS;
/**
 * The fallback policy's cooldown: one period, the metric lag and a spare minute, so a point that reaches the alarm a
 * minute late still shows the last action before the next one. @default 180
 */
export const DEFAULT_SCALING_COOLDOWN_SECONDS = MIN_SCALING_COOLDOWN_SECONDS + SCALING_PERIOD_SECONDS;
/** Minutes that must all have wanted fewer tasks than desired before the surplus goes, in one step. @default 5 */
export const DEFAULT_SCALE_IN_EVALUATION_PERIODS = 5;
/**
 * Minutes with no job waiting, running or sent before a fleet of more than one task goes to zero at once (a single
 * task goes by the idle window its worker holds, DEFAULT_IDLE_PROTECTION_SECONDS, unless that is 0). Chosen as the
 * rent-or-buy rule, about what a start from zero costs. CPU: a Fargate task starts in 60–90 s. GPU: a task on an
 * instance resumed from the warm pool starts in about 2.5 min, a cold one in 5–8; the instance then stays up (billed)
 * 15 minutes after its task leaves, whatever the quiet time, so a job within that quarter of an hour finds it.
 * Chosen with `pnpm bench:scaling` (trickles). @default cpu 1, gpu 2
 */
export const DEFAULT_SCALE_TO_ZERO_QUIET_MINUTES: Readonly<Record<'cpu' | 'gpu', number>> = { cpu: 1, gpu: 2 };
/**
 * Seconds a worker task keeps its scale-in protection after its last job when it finds the queue empty
 * (REVIVE_IDLE_PROTECTION_SECONDS): the rent-or-buy window before the fleet reaches zero, held by the task itself
 * because only the task knows at once that a job came and went (SQS's sent counts reach CloudWatch a minute late).
 * At least a minute (MIN_IDLE_PROTECTION_SECONDS), so the fleet does not reach zero within a minute of a message being
 * sent, as far as SQS's approximate counts tell: the last task keeps its window on the first of up to three reads that
 * finds the queue empty (delayed messages included); a task whose three reads all still count a message (one just
 * deleted may linger in them) lets go, and a single task then goes at once. CPU: below the 75 s a
 * Fargate start costs by about what stopping a task takes (10 s assumed), so a trickle costs under 2× a cold start per
 * job. GPU: the task costs nothing beside its instance, which managed scaling keeps 15 minutes after the task leaves;
 * a longer window only delays that. `pnpm bench:scaling --idle-protection-s N`, trickles: 45 s let the fleet reach
 * zero within the minute of a send (25 times on CPU daily), 75 s cost 2.1× on CPU trickles
 * (decisions/idle-window-in-the-task.md). @default 60 (cpu and gpu)
 */
export const DEFAULT_IDLE_PROTECTION_SECONDS: Readonly<Record<'cpu' | 'gpu', number>> = { cpu: 60, gpu: 60 };
/** Minutes without a point from the scaling-signal Lambda before SignalMissingAlarm pages (the fallback acts meanwhile). @default 3 */
export const SIGNAL_MISSING_ALARM_MINUTES = 3;
/**
 * How often the Lambda reads the queue, within its minute, while the desired count is 0: a job sent to an empty fleet
 * waits this long at most for its scale-out, not the rest of the minute. @default 2
 */
export const SCALING_ZERO_POLL_SECONDS = 2;
/** The Lambda reads counts and points, and may poll for the rest of its minute while at zero. @default 58 */
export const SCALING_SIGNAL_TIMEOUT_SECONDS = 58;
/**
 * Tasks a scale-out may start while the work of a burst into a quiet queue is not visible yet: Fargate tasks start
 * alike; on GPU, the default warm pool's instances (a cold instance is only worth it for known work). CPU 8 since the
 * measured photo (2.3 task-s, not 60): a 500-photo burst then asks for 10 tasks to drain in 120 s, and a burst of
 * 1–2 s jobs is no longer 30 times smaller than a burst of photos. `pnpm bench:scaling`, 1–2 s jobs burst 500 against
 * the right-sized policy: cap 4 cost 0.91× at a p95 wait of 1.27× (bar 1.3×), cap 8 1.14× at 0.92×.
 * @default cpu 8, gpu 2
 */
export const UNKNOWN_WORK_START_TASKS: Readonly<Record<'cpu' | 'gpu', number>> = { cpu: 8, gpu: 2 };
/** Minutes of arrivals the rate term reads (their median minute). @default 5 */
export const SCALING_RATE_MINUTES = 5;
/** Minutes of sends whose declared work gives the mean work per message. @default 15 */
export const SCALING_WORK_MIX_MINUTES = 15;

/**
 * Fallback scale-out steps on the deficit (tasks wanted from the queue − tasks desired), used only while the signal is
 * missing: at each step the lower bound is added, so one action adds at most the deficit.
 */
export const SCALE_OUT_STEPS: readonly number[] = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64];

export interface QueueDepthScalingProps {
  readonly scalableTarget: appscaling.ScalableTarget;
  readonly queue: sqs.IQueue;
  readonly cluster: ecs.ICluster;
  readonly service: ecs.BaseService;
  readonly mode: WorkMode;
  readonly minTasks: number;
  readonly maxTasks: number;
  /** Jobs one task runs at once (REVIVE_CONCURRENCY): how many held messages make one task busy. */
  readonly concurrency: number;
  /** Task-seconds of the default photo (DEFAULT_PHOTO_WORK): scales the mode's DEFAULT_WORK_COSTS. */
  readonly secondsPerJob: number;
  /** How long the queued and running work may take to drain before another task is worth starting. */
  readonly drainSeconds: number;
  /** Fleet metrics of Container Insights (DesiredTaskCount), for the fallback. */
  readonly desiredTaskCount: cloudwatch.IMetric;
  readonly logRetention: logs.RetentionDays;
  /** The fallback policy's cooldown; ≥ MIN_SCALING_COOLDOWN_SECONDS. @default DEFAULT_SCALING_COOLDOWN_SECONDS (180) */
  readonly cooldownSeconds?: number;
  /** @default DEFAULT_SCALE_IN_EVALUATION_PERIODS (5) */
  readonly scaleInEvaluationPeriods?: number;
  /** @default DEFAULT_SCALE_TO_ZERO_QUIET_MINUTES[mode] */
  readonly scaleToZeroQuietMinutes?: number;
  /**
   * The workers' REVIVE_IDLE_PROTECTION_SECONDS, which the task definition sets (required, so the two cannot differ by
   * a default: the worker's own is 0). 0 or at least MIN_IDLE_PROTECTION_SECONDS: then the signal takes a single task
   * to zero as soon as the queue is empty and leaves the window to the task.
   */
  readonly idleProtectionSeconds: number;
  /** The API functions' Powertools `service` names whose EnqueuedWork* metrics describe the messages sent. */
  readonly senderServices: readonly string[];
}

/** The mode's per-unit costs scaled so that DEFAULT_PHOTO_WORK costs `secondsPerJob`. */
export function workCostsFor(mode: WorkMode, secondsPerJob: number): WorkCosts {
  const base = DEFAULT_WORK_COSTS[mode];
  const k = secondsPerJob / estimateWorkSeconds(DEFAULT_PHOTO_WORK, base);
  return { secondsPerFrame: base.secondsPerFrame * k, secondsPerOutputMegapixel: base.secondsPerOutputMegapixel * k, secondsPerFace: base.secondsPerFace * k };
}

/**
 * Scaling on work, driven by the scaling-signal Lambda, run every minute by an EventBridge rule. It reads the queue
 * (GetQueueAttributes), the service (DescribeServices) and CloudWatch's recent points (GetMetricData: its own, SQS's
 * NumberOfMessagesSent, the senders' EnqueuedWork* units), computes the desired count with scalingSignal()
 * (scaling-signal/signal.ts: the seconds of work queued and running, at the measured mix of recent sends, drained
 * within `drainSeconds`, or the arrival rate's throughput), and sets it on the service itself (UpdateService), bounded
 * by min and max. Scale-in removes the whole idle surplus once every one of `scaleInEvaluationPeriods` minutes wanted
 * fewer tasks; zero comes after `scaleToZeroQuietMinutes` minutes with no job and no message sent, or, from a single
 * task with a window of at least a minute, as soon as the queue is empty (no message waiting, delayed or held): that
 * task holds its scale-in protection for `idleProtectionSeconds` after its last job (the worker's rent-or-buy window)
 * when its reads of the approximate counts find the queue empty, so ECS stops it only once the window has passed
 * with no job. A minute
 * without a point breaks both streaks: nothing shrinks on missing data.
 *
 * Without the Lambda: a step policy on SQS's counts and Container Insights' DesiredTaskCount, whose alarm can only
 * fire while the signal is missing, adds tasks (from zero too) for the jobs waiting and running at the default work
 * per job; nothing removes tasks meanwhile. SignalMissingAlarm (which Monitoring pages on) fires after
 * SIGNAL_MISSING_ALARM_MINUTES minutes without a point. Busy tasks are never stopped: the worker's scale-in protection
 * keeps a task that holds a job running until the job ends.
 */
export class QueueDepthScaling extends Construct {
  /** The Lambda that computes and sets the desired count; its grants are in grants.ts. */
  public readonly signalFunction: NodejsFunction;
  public readonly signalLogGroup: logs.LogGroup;
  /** Runs the Lambda once a minute. */
  public readonly schedule: events.Rule;
  /** What the Lambda was told (REVIVE_SCALING). */
  public readonly settings: ScalingSettings;
  /** WantedTasks: the tasks the work asks for. */
  public readonly wantedTasks: cloudwatch.Metric;
  /** TargetTasks: the desired count the Lambda set. */
  public readonly targetTasks: cloudwatch.Metric;
  /** WorkSeconds: task-seconds of the jobs waiting and running. */
  public readonly workSeconds: cloudwatch.Metric;
  /** The fallback: ChangeInCapacity steps, only while the signal is missing. */
  public readonly fallbackPolicy: appscaling.StepScalingAction;
  public readonly fallbackAlarm: cloudwatch.Alarm;
  /** In alarm when the Lambda has published nothing for SIGNAL_MISSING_ALARM_MINUTES minutes. */
  public readonly signalMissingAlarm: cloudwatch.Alarm;
  public readonly concurrency: number;
  public readonly cooldownSeconds: number;
  public readonly scaleToZeroQuietMinutes: number;

  constructor(scope: Construct, id: string, props: QueueDepthScalingProps) {
    super(scope, id);
    const cooldownSeconds = props.cooldownSeconds ?? DEFAULT_SCALING_COOLDOWN_SECONDS;
    const scaleInPeriods = props.scaleInEvaluationPeriods ?? DEFAULT_SCALE_IN_EVALUATION_PERIODS;
    if (!Number.isInteger(props.concurrency) || props.concurrency < 1) throw new Error(`QueueDepthScaling: concurrency must be a whole number ≥ 1 (got ${props.concurrency})`);
    if (cooldownSeconds < MIN_SCALING_COOLDOWN_SECONDS) {
      throw new Error(
        `QueueDepthScaling: cooldownSeconds must be ≥ ${MIN_SCALING_COOLDOWN_SECONDS} (one ${SCALING_PERIOD_SECONDS} s period plus the ${SCALING_METRIC_LAG_SECONDS} s metric lag; got ${cooldownSeconds})`,
      );
    }
    if (!Number.isInteger(scaleInPeriods) || scaleInPeriods < 1) {
      throw new Error(`QueueDepthScaling: scaleInEvaluationPeriods must be a whole number ≥ 1 (got ${scaleInPeriods})`);
    }
    const quietMinutes = props.scaleToZeroQuietMinutes ?? DEFAULT_SCALE_TO_ZERO_QUIET_MINUTES[props.mode];
    if (!Number.isInteger(quietMinutes) || quietMinutes < 1) throw new Error(`QueueDepthScaling: scaleToZeroQuietMinutes must be a whole number ≥ 1 (got ${quietMinutes})`);
    const idleProtectionSeconds = props.idleProtectionSeconds;
    if (!isIdleWindowSeconds(idleProtectionSeconds)) {
      throw new Error(`QueueDepthScaling: idleProtectionSeconds must be 0 or a whole number ≥ ${MIN_IDLE_PROTECTION_SECONDS} (got ${idleProtectionSeconds})`);
    }
    this.concurrency = props.concurrency;
    this.cooldownSeconds = cooldownSeconds;
    this.scaleToZeroQuietMinutes = quietMinutes;
    const workCosts = workCostsFor(props.mode, props.secondsPerJob);
    this.settings = scalingSettingsSchema.parse({
      options: {
        minTasks: props.minTasks,
        maxTasks: props.maxTasks,
        concurrency: props.concurrency,
        defaultSecondsPerMessage: estimateWorkSeconds(DEFAULT_PHOTO_WORK, workCosts),
        drainSeconds: props.drainSeconds,
        rateMinutes: SCALING_RATE_MINUTES,
        scaleInMinutes: scaleInPeriods,
        idleMinutesToZero: quietMinutes,
        idleProtectionSeconds,
        unknownWorkStartTasks: UNKNOWN_WORK_START_TASKS[props.mode],
      },
      zeroPollSeconds: SCALING_ZERO_POLL_SECONDS,
      workMixMinutes: SCALING_WORK_MIX_MINUTES,
      workCosts,
    } satisfies ScalingSettings);
    const period = Duration.seconds(SCALING_PERIOD_SECONDS);

    putLocalEsbuildOnPath();
    this.signalLogGroup = new logs.LogGroup(this, 'SignalLogs', { retention: props.logRetention });
    const role = new iam.Role(this, 'SignalRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Revive scaling signal (reads queue, service and metric points; sets the desired count)',
    });
    this.signalFunction = new NodejsFunction(this, 'Signal', {
      role,
      entry: join(REPO_ROOT, 'packages/infra/src/scaling-signal/lambda.ts'),
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 128,
      timeout: Duration.seconds(SCALING_SIGNAL_TIMEOUT_SECONDS),
      // A late retry would act on a minute it does not describe; the next run is a minute away.
      retryAttempts: 0,
      // Two runs at once would read each other's half-set counts; the schedule starts one a minute.
      reservedConcurrentExecutions: 1,
      logGroup: this.signalLogGroup,
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'pnpm-lock.yaml'),
      environment: {
        REVIVE_QUEUE_URL: props.queue.queueUrl,
        REVIVE_QUEUE_NAME: props.queue.queueName,
        REVIVE_CLUSTER_NAME: props.cluster.clusterName,
        REVIVE_SERVICE_NAME: props.service.serviceName,
        REVIVE_SENDER_SERVICES: props.senderServices.join(','),
        REVIVE_SCALING: JSON.stringify(this.settings),
      },
      bundling: LAMBDA_BUNDLING,
    });
    this.schedule = new events.Rule(this, 'EveryMinute', {
      description: 'Runs the Revive scaling signal once a minute',
      schedule: events.Schedule.rate(Duration.minutes(1)),
      targets: [new targets.LambdaFunction(this.signalFunction, { retryAttempts: 0, maxEventAge: Duration.seconds(SCALING_PERIOD_SECONDS) })],
    });

    const signal = (field: keyof typeof SCALING_SIGNAL_METRICS, statistic: 'Maximum' | 'Minimum' | 'SampleCount') =>
      new cloudwatch.Metric({
        namespace: SCALING_SIGNAL_NAMESPACE,
        metricName: SCALING_SIGNAL_METRICS[field],
        dimensionsMap: { service: SCALING_SIGNAL_SERVICE, ServiceName: props.service.serviceName },
        statistic,
        period,
      });
    this.wantedTasks = signal('wantedTasks', 'Maximum');
    this.targetTasks = signal('targetTasks', 'Maximum');
    this.workSeconds = signal('workSeconds', 'Maximum');

    // The fallback, in jobs at the default work per job (the work mix is the Lambda's), as the signal computes them:
    // the larger of the drain's tasks and the last minute's arrival rate, minus the desired count; only while the
    // signal is missing. Metric math has no median, so one minute's sends could be a burst: the rate term may at
    // most double the fleet (plus one) per action (a 500-job GPU burst otherwise asked for 30 instances, not 3).
    const s = this.settings.options;
    const perJob = +s.defaultSecondsPerMessage.toFixed(6);
    const byWork = `CEIL((visible + held) * ${perJob} / ${s.drainSeconds})`;
    const bySlots = `CEIL((visible + held) / ${s.concurrency})`;
    const drain = `IF(${byWork} < ${bySlots}, ${byWork}, ${bySlots})`;
    const rate = `CEIL(FILL(sent, 0) * ${perJob} / ${SCALING_PERIOD_SECONDS})`;
    const rateCap = `(2 * FILL(desired, 0) + 1)`;
    const cappedRate = `IF(${rate} > ${rateCap}, ${rateCap}, ${rate})`;
    const fallbackDeficit = new cloudwatch.MathExpression({
      label: 'Tasks the queue asks for minus tasks desired, while the scaling signal is missing (else 0)',
      expression: `IF(FILL(signal, 0) == 0, IF(${cappedRate} > ${drain}, ${cappedRate}, ${drain}) - FILL(desired, 0), 0)`,
      period,
      usingMetrics: {
        signal: signal('wantedTasks', 'SampleCount'),
        visible: props.queue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period }),
        held: props.queue.metricApproximateNumberOfMessagesNotVisible({ statistic: 'Maximum', period }),
        // SQS publishes nothing for a queue with no traffic: FILL reads that as 0 sent.
        sent: props.queue.metricNumberOfMessagesSent({ statistic: 'Sum', period }),
        desired: props.desiredTaskCount,
      },
    });
    this.fallbackPolicy = new appscaling.StepScalingAction(this, 'FallbackScaleOutPolicy', {
      scalingTarget: props.scalableTarget,
      adjustmentType: appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
      cooldown: Duration.seconds(cooldownSeconds),
      metricAggregationType: appscaling.MetricAggregationType.MAXIMUM,
    });
    for (const step of scaleOutSteps()) this.fallbackPolicy.addAdjustment(step);
    this.fallbackAlarm = fallbackDeficit.createAlarm(this, 'FallbackScaleOutAlarm', {
      alarmDescription: 'The scaling signal is missing and the queue asks for more worker tasks than are desired (fallback scale-out)',
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.fallbackAlarm.addAlarmAction(new cwactions.ApplicationScalingAction(this.fallbackPolicy));

    this.signalMissingAlarm = signal('wantedTasks', 'SampleCount').createAlarm(this, 'SignalMissingAlarm', {
      alarmDescription: `The scaling-signal Lambda published nothing for ${SIGNAL_MISSING_ALARM_MINUTES} minutes: only the fallback scales out, nothing scales in (see its log group)`,
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: SIGNAL_MISSING_ALARM_MINUTES,
      datapointsToAlarm: SIGNAL_MISSING_ALARM_MINUTES,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
  }
}

/** Fallback scale-out steps on the deficit, lowest first: the lower bound of each band added (so an action adds at most the deficit). */
export function scaleOutSteps(): appscaling.AdjustmentTier[] {
  return SCALE_OUT_STEPS.map((add, i) => {
    const next = SCALE_OUT_STEPS[i + 1];
    // The first band starts at 0 (the alarm's threshold): a deficit is whole, so (0, 1) never occurs.
    return { adjustment: add, lowerBound: i === 0 ? 0 : add, ...(next === undefined ? {} : { upperBound: next }) };
  });
}

/** Minutes ECS managed scaling keeps a GPU instance after its last task left (its scale-in alarm's 15 points). @default 900 */
export const GPU_INSTANCE_LINGER_SECONDS = 900;

/**
 * Seconds of queued and running work one task may be left to drain before another is worth starting, per mode.
 * CPU: the latency budget. GPU: the longer of it and half an instance's fixed cost (a cold start and the 15 minutes
 * managed scaling keeps it after its task leaves), so an instance started for a burst gets at least half its overhead
 * in work: a burst then costs at most about 3× its work (`pnpm bench:scaling`; with a cold start alone as the
 * horizon, a 500-job burst started 7 instances and cost 6.5×).
 */
export function drainSecondsOf(mode: WorkMode, acceptableLatencySeconds: number, gpuColdStartSeconds: number): number {
  return mode === 'cpu' ? acceptableLatencySeconds : Math.max(acceptableLatencySeconds, Math.ceil((gpuColdStartSeconds + GPU_INSTANCE_LINGER_SECONDS) / 2));
}

export interface GpuWarmPoolProps {
  readonly autoScalingGroup: autoscaling.AutoScalingGroup;
  /** The launch template's user data: the ECS agent must know about warm pools. */
  readonly userData: ec2.UserData;
  /** Stopped, initialised instances kept beside the running ones. */
  readonly size: number;
  /** The worker image: an instance entering the pool pulls it, so a task on a resumed instance starts from the cache. */
  readonly imageUri: string;
}

/** The launch hook that holds an instance until its boot script is done (the pull, for one entering the pool). */
export const GPU_WARM_POOL_HOOK_NAME = 'revive-warm-pool-boot';
/** Longest a boot script may hold an instance: the CUDA image is several GB. @default 900 */
export const GPU_WARM_POOL_HOOK_TIMEOUT_SECONDS = 900;
/** The boot script user data installs (first boot: user data; later boots: cloud-init's per-boot scripts). */
export const GPU_WARM_POOL_BOOT_SCRIPT = '/usr/local/sbin/revive-warm-pool-boot';

/**
 * The boot script. An instance launching into the warm pool (target state Warmed:*) logs in to ECR and pulls the
 * worker image, so a later task finds it cached (ECS_IMAGE_PULL_BEHAVIOR=prefer-cached); then, whatever the state,
 * it completes the launch hook. Auto Scaling stops a warm-pool instance as soon as it has launched, without waiting
 * for user data, so only the hook gives the pull time to finish; a failed pull only costs the task its own pull.
 */
function warmPoolBootScript(): string {
  return [
    '#!/bin/bash',
    'set -u',
    'image="$1"',
    "token=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' http://169.254.169.254/latest/api/token)",
    'imds() { curl -sf -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"; }',
    'instance=$(imds instance-id); region=$(imds placement/region)',
    'group=$(imds tags/instance/aws:autoscaling:groupName); state=$(imds autoscaling/target-lifecycle-state)',
    'command -v aws >/dev/null || dnf install -y -q awscli-2',
    'if [[ $state == Warmed:* ]]; then',
    '  systemctl start docker',
    '  if aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "${image%%/*}" && docker pull "$image"; then',
    '    echo "revive: pulled $image for the warm pool"',
    '  else',
    '    echo "revive: warm-pool pull of $image failed; the first task pulls it" >&2',
    '  fi',
    'fi',
    `aws autoscaling complete-lifecycle-action --region "$region" --auto-scaling-group-name "$group" --lifecycle-hook-name ${GPU_WARM_POOL_HOOK_NAME} --instance-id "$instance" --lifecycle-action-result CONTINUE`,
  ].join('\n');
}

/**
 * An EC2 Auto Scaling warm pool of stopped GPU instances that already booted and pulled the worker image: a
 * scale-out resumes one in about two minutes instead of launching one in five to eight. Stopped instances cost only
 * their EBS volume. ECS_WARM_POOLS_CHECK keeps the agent from registering an instance while it is being warmed.
 * A launch hook holds each launching instance until the boot script (warmPoolBootScript) completes it: on the first
 * boot from user data, on a resume from the warm pool from cloud-init's per-boot scripts (user data runs once).
 * The instance role's rights for it (ECR pull, CompleteLifecycleAction on this group) are in grants.ts.
 */
export function addGpuWarmPool(props: GpuWarmPoolProps): autoscaling.WarmPool {
  if (!Number.isInteger(props.size) || props.size < 1) throw new Error(`addGpuWarmPool: size must be a whole number ≥ 1 (got ${props.size})`);
  const perBoot = `/var/lib/cloud/scripts/per-boot/${GPU_WARM_POOL_BOOT_SCRIPT.split('/').pop()}`;
  props.userData.addCommands(
    'echo ECS_WARM_POOLS_CHECK=true >> /etc/ecs/ecs.config',
    'echo ECS_IMAGE_PULL_BEHAVIOR=prefer-cached >> /etc/ecs/ecs.config',
    `cat > ${GPU_WARM_POOL_BOOT_SCRIPT} <<'REVIVE_EOF'\n${warmPoolBootScript()}\nREVIVE_EOF`,
    `chmod 755 ${GPU_WARM_POOL_BOOT_SCRIPT}`,
    `printf '#!/bin/bash\\nexec ${GPU_WARM_POOL_BOOT_SCRIPT} %q\\n' '${props.imageUri}' > ${perBoot}`,
    `chmod 755 ${perBoot}`,
    `${GPU_WARM_POOL_BOOT_SCRIPT} '${props.imageUri}'`,
  );
  const hook = props.autoScalingGroup.addLifecycleHook('WarmPoolBoot', {
    lifecycleHookName: GPU_WARM_POOL_HOOK_NAME,
    lifecycleTransition: autoscaling.LifecycleTransition.INSTANCE_LAUNCHING,
    heartbeatTimeout: Duration.seconds(GPU_WARM_POOL_HOOK_TIMEOUT_SECONDS),
    // A script that fails to complete it delays the instance by the timeout, never loses it.
    defaultResult: autoscaling.DefaultResult.CONTINUE,
  });
  const warmPool = props.autoScalingGroup.addWarmPool({
    minSize: props.size,
    maxGroupPreparedCapacity: props.size,
    reuseOnScaleIn: true,
  });
  // The pool's first instances launch when it is created: the hook must already hold them.
  warmPool.node.addDependency(hook);
  return warmPool;
}
