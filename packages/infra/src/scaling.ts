import { join } from 'node:path';
import {
  SCALING_SIGNAL_METRICS,
  SCALING_SIGNAL_NAMESPACE,
  SCALING_SIGNAL_SERVICE,
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
 * How late the signal's point reaches the alarms: the Lambda reads the counts at the start of its minute, the EMF line
 * becomes a metric within seconds, and an alarm evaluates a minute once it has ended. A scaling action is visible in
 * the desired count the Lambda subtracts only from its next run, so the cooldown covers one period plus this lag.
 */
export const SCALING_METRIC_LAG_SECONDS = 60;
/** The shortest cooldown that never acts twice on the same stale desired count. @default 120 */
export const MIN_SCALING_COOLDOWN_SECONDS = SCALING_PERIOD_SECONDS + SCALING_METRIC_LAG_SECONDS;
/**
 * One period, the metric lag and a spare minute: a point that reaches the alarms a minute later than usual (a slow
 * EMF extraction, a late alarm evaluation) still shows the last action before the next one can be taken. A larger
 * deficit inside the cooldown still scales out at once (Application Auto Scaling adds the difference), so growing
 * load does not wait for it. @default 180
 */
export const DEFAULT_SCALING_COOLDOWN_SECONDS = MIN_SCALING_COOLDOWN_SECONDS + SCALING_PERIOD_SECONDS;
/** Minutes with idle tasks above what the work asks for before they are removed. @default 5 */
export const DEFAULT_SCALE_IN_EVALUATION_PERIODS = 5;
/**
 * Minutes with no job at all (none waiting, none running, none sent) before the last task goes. Per mode: a Fargate
 * task starts in 60–90 s, so CPU waits as long as any scale-in; a GPU instance freed by its task stays up (and billed)
 * for about 15 minutes under ECS managed scaling, so keeping the last GPU task that long costs almost nothing and
 * spares a 5–8 minute cold start for the next job. @default cpu 10, gpu 15
 */
export const DEFAULT_SCALE_TO_ZERO_QUIET_MINUTES: Readonly<Record<'cpu' | 'gpu', number>> = { cpu: 10, gpu: 15 };
/** Minutes without a point from the scaling-signal Lambda before SignalMissingAlarm pages (scaling holds meanwhile). @default 3 */
export const SIGNAL_MISSING_ALARM_MINUTES = 3;
/** The Lambda reads two counts; a run that takes longer has failed. @default 20 */
export const SCALING_SIGNAL_TIMEOUT_SECONDS = 20;

/**
 * Scale-out steps on the deficit (tasks wanted − tasks desired): at each step the lower bound is added, so one action
 * adds at most the deficit and never overshoots; a remainder is added by the next action (the cooldown lets a larger
 * step through at once). The largest step is +64 tasks per action.
 */
export const SCALE_OUT_STEPS: readonly number[] = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64];
/**
 * Scale-in steps on the idle surplus (idle tasks above what the work asks for): about half of it per action, so a
 * fleet converges in a few actions without dropping below the work a noisy minute shows.
 */
export const SCALE_IN_STEPS: readonly (readonly [surplusAtLeast: number, remove: number])[] = [
  [1, 1],
  [4, 2],
  [8, 4],
  [16, 8],
  [32, 16],
  [64, 32],
];

export interface QueueDepthScalingProps {
  readonly scalableTarget: appscaling.ScalableTarget;
  readonly queue: sqs.IQueue;
  readonly cluster: ecs.ICluster;
  readonly service: ecs.BaseService;
  /** Jobs (waiting or running) one task is worth: the controller wants CEIL(all jobs / jobsPerTask) tasks. */
  readonly jobsPerTask: number;
  /** Jobs one task runs at once (REVIVE_CONCURRENCY): how many held messages make one task busy. */
  readonly concurrency: number;
  readonly logRetention: logs.RetentionDays;
  /** ≥ MIN_SCALING_COOLDOWN_SECONDS. @default DEFAULT_SCALING_COOLDOWN_SECONDS (180) */
  readonly cooldownSeconds?: number;
  /** @default DEFAULT_SCALE_IN_EVALUATION_PERIODS (5) */
  readonly scaleInEvaluationPeriods?: number;
  /** Minutes with no job waiting, running or sent before the last task goes; ≥ scaleInEvaluationPeriods. @default 15 (or scaleInEvaluationPeriods, if more) */
  readonly scaleToZeroQuietMinutes?: number;
}

/**
 * Queue-depth autoscaling driven by an exact signal. A Lambda, run every minute by an EventBridge rule, reads the
 * queue (GetQueueAttributes: waiting and in-flight messages) and the service (DescribeServices: desired, running,
 * pending) and publishes, in SCALING_SIGNAL_NAMESPACE (packages/infra/src/scaling-signal/signal.ts):
 *
 *   TaskDeficit     = CEIL((visible + inFlight) / jobsPerTask) − desiredCount
 *   IdleTaskSurplus = idle tasks above what the work asks for (at least one task)
 *   Quiet           = 1 when tasks are desired and no job waits or runs
 *
 * Three alarms on those drive three step policies: TaskDeficit > 0 on one point adds tasks (and starts from zero);
 * IdleTaskSurplus > 0 for `scaleInEvaluationPeriods` points removes about half of it, down to one task; Quiet, with
 * SQS's NumberOfMessagesSent at 0 (a job sent and taken within the minute keeps the last task), for
 * `scaleToZeroQuietMinutes` points sets the count to 0. Every alarm treats a missing point as not breaching: a run that
 * failed publishes nothing, and nothing then reads as zero tasks or as a quiet queue; scaling holds, and
 * SignalMissingAlarm (which Monitoring pages on) fires after SIGNAL_MISSING_ALARM_MINUTES minutes without a point.
 *
 * Scale-in only ever counts idle tasks, never busy ones: between "a backlog of a task's worth of jobs" (scale-out) and
 * "tasks with nothing to do" (scale-in) lies a dead band where the count holds, so a steady load does not make the
 * fleet go up and down. The worker's scale-in protection keeps a task that holds a job running until the job ends.
 */
export class QueueDepthScaling extends Construct {
  /** The Lambda that publishes the signal; its grants are in grants.ts. */
  public readonly signalFunction: NodejsFunction;
  public readonly signalLogGroup: logs.LogGroup;
  /** Runs the Lambda once a minute. */
  public readonly schedule: events.Rule;
  /** TaskDeficit: positive when the work asks for more tasks than are desired. */
  public readonly taskDeficit: cloudwatch.Metric;
  /** IdleTaskSurplus: idle tasks the scale-in may remove. */
  public readonly idleTaskSurplus: cloudwatch.Metric;
  public readonly scaleOutPolicy: appscaling.StepScalingAction;
  public readonly scaleOutAlarm: cloudwatch.Alarm;
  public readonly scaleInPolicy: appscaling.StepScalingAction;
  public readonly scaleInAlarm: cloudwatch.Alarm;
  /** Sets the desired count to 0 (ExactCapacity) when its alarm fires. */
  public readonly scaleToZeroPolicy: appscaling.StepScalingAction;
  /** In alarm after `scaleToZeroQuietMinutes` minutes with tasks desired and no job waiting, running or sent. */
  public readonly scaleToZeroAlarm: cloudwatch.Alarm;
  /** In alarm when the Lambda has published nothing for SIGNAL_MISSING_ALARM_MINUTES minutes: scaling is frozen. */
  public readonly signalMissingAlarm: cloudwatch.Alarm;
  public readonly jobsPerTask: number;
  public readonly concurrency: number;
  public readonly cooldownSeconds: number;
  public readonly scaleToZeroQuietMinutes: number;

  constructor(scope: Construct, id: string, props: QueueDepthScalingProps) {
    super(scope, id);
    const cooldownSeconds = props.cooldownSeconds ?? DEFAULT_SCALING_COOLDOWN_SECONDS;
    const scaleInPeriods = props.scaleInEvaluationPeriods ?? DEFAULT_SCALE_IN_EVALUATION_PERIODS;
    for (const [name, value] of [
      ['jobsPerTask', props.jobsPerTask],
      ['concurrency', props.concurrency],
    ] as const) {
      if (!Number.isInteger(value) || value < 1) throw new Error(`QueueDepthScaling: ${name} must be a whole number ≥ 1 (got ${value})`);
    }
    if (cooldownSeconds < MIN_SCALING_COOLDOWN_SECONDS) {
      throw new Error(
        `QueueDepthScaling: cooldownSeconds must be ≥ ${MIN_SCALING_COOLDOWN_SECONDS} (one ${SCALING_PERIOD_SECONDS} s period plus the ${SCALING_METRIC_LAG_SECONDS} s metric lag; got ${cooldownSeconds})`,
      );
    }
    if (!Number.isInteger(scaleInPeriods) || scaleInPeriods < 1) {
      throw new Error(`QueueDepthScaling: scaleInEvaluationPeriods must be a whole number ≥ 1 (got ${scaleInPeriods})`);
    }
    const quietMinutes = props.scaleToZeroQuietMinutes ?? Math.max(DEFAULT_SCALE_TO_ZERO_QUIET_MINUTES.gpu, scaleInPeriods);
    if (!Number.isInteger(quietMinutes) || quietMinutes < scaleInPeriods) {
      throw new Error(`QueueDepthScaling: scaleToZeroQuietMinutes must be a whole number ≥ scaleInEvaluationPeriods (${scaleInPeriods}; got ${quietMinutes})`);
    }
    this.jobsPerTask = props.jobsPerTask;
    this.concurrency = props.concurrency;
    this.cooldownSeconds = cooldownSeconds;
    this.scaleToZeroQuietMinutes = quietMinutes;
    const period = Duration.seconds(SCALING_PERIOD_SECONDS);

    putLocalEsbuildOnPath();
    this.signalLogGroup = new logs.LogGroup(this, 'SignalLogs', { retention: props.logRetention });
    const role = new iam.Role(this, 'SignalRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Revive scaling signal (reads queue and service counts)',
    });
    this.signalFunction = new NodejsFunction(this, 'Signal', {
      role,
      entry: join(REPO_ROOT, 'packages/infra/src/scaling-signal/lambda.ts'),
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      timeout: Duration.seconds(SCALING_SIGNAL_TIMEOUT_SECONDS),
      // A late retry would publish a point for a minute it does not describe; the next run is a minute away.
      retryAttempts: 0,
      logGroup: this.signalLogGroup,
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'pnpm-lock.yaml'),
      environment: {
        REVIVE_QUEUE_URL: props.queue.queueUrl,
        REVIVE_CLUSTER_NAME: props.cluster.clusterName,
        REVIVE_SERVICE_NAME: props.service.serviceName,
        REVIVE_JOBS_PER_TASK: String(props.jobsPerTask),
        REVIVE_CONCURRENCY: String(props.concurrency),
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
    // Two runs can land in one minute (the rule's schedule drifts by seconds): scale out on the larger deficit, scale
    // in and to zero only on what every run of the minute saw.
    this.taskDeficit = signal('taskDeficit', 'Maximum');
    this.idleTaskSurplus = signal('idleSurplus', 'Minimum');

    this.scaleOutPolicy = new appscaling.StepScalingAction(this, 'ScaleOutPolicy', {
      scalingTarget: props.scalableTarget,
      adjustmentType: appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
      cooldown: Duration.seconds(cooldownSeconds),
      metricAggregationType: appscaling.MetricAggregationType.MAXIMUM,
    });
    for (const step of scaleOutSteps()) this.scaleOutPolicy.addAdjustment(step);
    this.scaleOutAlarm = this.taskDeficit.createAlarm(this, 'ScaleOutAlarm', {
      alarmDescription: 'Queued and running jobs ask for more worker tasks than are desired',
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.scaleOutAlarm.addAlarmAction(new cwactions.ApplicationScalingAction(this.scaleOutPolicy));

    this.scaleInPolicy = new appscaling.StepScalingAction(this, 'ScaleInPolicy', {
      scalingTarget: props.scalableTarget,
      adjustmentType: appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
      cooldown: Duration.seconds(cooldownSeconds),
      metricAggregationType: appscaling.MetricAggregationType.MINIMUM,
    });
    for (const step of scaleInSteps()) this.scaleInPolicy.addAdjustment(step);
    this.scaleInAlarm = this.idleTaskSurplus.createAlarm(this, 'ScaleInAlarm', {
      alarmDescription: `Idle worker tasks (above one) exceed what queued and running jobs ask for, for ${scaleInPeriods} minutes`,
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: scaleInPeriods,
      datapointsToAlarm: scaleInPeriods,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.scaleInAlarm.addAlarmAction(new cwactions.ApplicationScalingAction(this.scaleInPolicy));

    this.scaleToZeroPolicy = new appscaling.StepScalingAction(this, 'ScaleToZeroPolicy', {
      scalingTarget: props.scalableTarget,
      adjustmentType: appscaling.AdjustmentType.EXACT_CAPACITY,
      cooldown: Duration.seconds(cooldownSeconds),
      metricAggregationType: appscaling.MetricAggregationType.MAXIMUM,
    });
    this.scaleToZeroPolicy.addAdjustment({ adjustment: 0, lowerBound: 0 });
    const quiet = new cloudwatch.MathExpression({
      label: 'Tasks desired and no job waiting, running or sent (1) or not (0)',
      // SQS publishes nothing for a queue with no traffic, so a missing NumberOfMessagesSent is 0 sent; a missing
      // Quiet point (the Lambda did not run) leaves the whole expression without a point, which breaks the streak.
      expression: 'IF(quiet >= 1 AND FILL(sent, 0) == 0, 1, 0)',
      period,
      usingMetrics: {
        quiet: signal('quiet', 'Minimum'),
        sent: props.queue.metricNumberOfMessagesSent({ statistic: 'Sum', period }),
      },
    });
    this.scaleToZeroAlarm = quiet.createAlarm(this, 'ScaleToZeroAlarm', {
      alarmDescription: `Worker tasks are desired and no job has been sent, waited or run for ${quietMinutes} minutes`,
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: quietMinutes,
      datapointsToAlarm: quietMinutes,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.scaleToZeroAlarm.addAlarmAction(new cwactions.ApplicationScalingAction(this.scaleToZeroPolicy));

    this.signalMissingAlarm = signal('taskDeficit', 'SampleCount').createAlarm(this, 'SignalMissingAlarm', {
      alarmDescription: `The scaling-signal Lambda published nothing for ${SIGNAL_MISSING_ALARM_MINUTES} minutes: the worker count is frozen until it does (see its log group)`,
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: SIGNAL_MISSING_ALARM_MINUTES,
      datapointsToAlarm: SIGNAL_MISSING_ALARM_MINUTES,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
  }
}

/** Scale-out steps on the deficit, lowest first: the lower bound of each band added (so an action adds at most the deficit). */
export function scaleOutSteps(): appscaling.AdjustmentTier[] {
  return SCALE_OUT_STEPS.map((add, i) => {
    const next = SCALE_OUT_STEPS[i + 1];
    // The first band starts at 0 (the alarm's threshold): a deficit is whole, so (0, 1) never occurs.
    return { adjustment: add, lowerBound: i === 0 ? 0 : add, ...(next === undefined ? {} : { upperBound: next }) };
  });
}

/** Scale-in steps on the idle surplus, lowest first: about half of it removed. */
export function scaleInSteps(): appscaling.AdjustmentTier[] {
  return SCALE_IN_STEPS.map(([surplus, remove], i) => {
    const next = SCALE_IN_STEPS[i + 1]?.[0];
    return { adjustment: -remove, lowerBound: i === 0 ? 0 : surplus, ...(next === undefined ? {} : { upperBound: next }) };
  });
}

/** A job wait budget (CPU) or an instance's cold start (GPU) in jobs one task clears meanwhile; at least 1. */
export function jobsPerTaskFor(seconds: number, secondsPerJob: number): number {
  return Math.max(1, Math.floor(seconds / secondsPerJob));
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
