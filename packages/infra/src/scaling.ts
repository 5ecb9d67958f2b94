import { Duration } from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwactions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** SQS and Container Insights publish one-minute points; the controller evaluates each of them. */
export const SCALING_PERIOD_SECONDS = 60;
/**
 * How late a one-minute SQS or Container Insights point reaches CloudWatch alarms. A scaling action is visible in
 * the DesiredTaskCount the controller subtracts only after one period plus this lag.
 */
export const SCALING_METRIC_LAG_SECONDS = 60;
/** The shortest cooldown that never acts twice on the same stale DesiredTaskCount. @default 120 */
export const MIN_SCALING_COOLDOWN_SECONDS = SCALING_PERIOD_SECONDS + SCALING_METRIC_LAG_SECONDS;
/** @default 120 (one period plus the metric lag) */
export const DEFAULT_SCALING_COOLDOWN_SECONDS = MIN_SCALING_COOLDOWN_SECONDS;
/** Minutes of surplus before tasks are removed: a short lull between bursts is cheaper to ride out than a restart. @default 5 */
export const DEFAULT_SCALE_IN_EVALUATION_PERIODS = 5;
/**
 * Minutes with no job at all (none waiting, none running) before the last task goes. Per mode: a Fargate task starts
 * in 60–90 s, so CPU waits as long as any scale-in; a GPU instance freed by its task stays up (and billed) for about
 * 15 minutes under ECS managed scaling, so keeping the last GPU task that long costs almost nothing and spares a
 * 5–8 minute cold start for the next job. @default cpu 10, gpu 15
 */
export const DEFAULT_SCALE_TO_ZERO_QUIET_MINUTES: Readonly<Record<'cpu' | 'gpu', number>> = { cpu: 10, gpu: 15 };

/**
 * Scale-out steps on the error e = tasks wanted − tasks desired: at each step the lower bound is added, so one action
 * adds at most e and never overshoots; a remainder is added by the next action (the cooldown lets a larger step
 * through at once). The largest step is +64 tasks per action.
 */
export const SCALE_OUT_STEPS: readonly number[] = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64];
/**
 * Scale-in steps on the surplus −e: about half of it per action, so a fleet converges in a few actions without
 * dropping below the work a noisy minute shows.
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
  /** The service's DesiredTaskCount (Container Insights): the controller compares the work with what was asked for, not what runs. */
  readonly desiredTaskCount: cloudwatch.IMetric;
  /** Jobs (waiting or running) one task is worth: the controller wants CEIL(all jobs / jobsPerTask) tasks. */
  readonly jobsPerTask: number;
  /** ≥ MIN_SCALING_COOLDOWN_SECONDS. @default DEFAULT_SCALING_COOLDOWN_SECONDS (120) */
  readonly cooldownSeconds?: number;
  /** @default DEFAULT_SCALE_IN_EVALUATION_PERIODS (5) */
  readonly scaleInEvaluationPeriods?: number;
  /** Minutes with no job waiting or running before the last task goes; ≥ scaleInEvaluationPeriods. @default 15 (or scaleInEvaluationPeriods, if more) */
  readonly scaleToZeroQuietMinutes?: number;
}

/**
 * Queue-depth autoscaling as one step-scaling controller on all the work:
 *
 *   e = CEIL((visible + notVisible) / jobsPerTask) − DesiredTaskCount
 *
 * One policy serves two alarms on e: one datapoint above 0 scales out (and from zero: with no task, e is the task
 * count the queue asks for), `scaleInEvaluationPeriods` datapoints below 0 scale in, down to one task. Counting
 * in-flight messages keeps the count up while busy workers hold the queue empty; comparing with the desired count
 * (not the running count) stops the compounding of target tracking while tasks start.
 *
 * The last task goes only through a second policy, after `scaleToZeroQuietMinutes` minutes with no job at all. The
 * queue's metrics reach alarms a minute or two late, so a job that arrives just before that action is not in them;
 * a long quiet spell makes that rare, and the worker's scale-in protection keeps a task that holds a job running
 * until the job ends (the next datapoint then asks for a task again).
 */
export class QueueDepthScaling extends Construct {
  /** The controller's error, in tasks: positive when the work asks for more tasks than are desired. */
  public readonly error: cloudwatch.MathExpression;
  public readonly policy: appscaling.StepScalingAction;
  public readonly scaleOutAlarm: cloudwatch.Alarm;
  public readonly scaleInAlarm: cloudwatch.Alarm;
  /** Sets the desired count to 0 (ExactCapacity) when its alarm fires. */
  public readonly scaleToZeroPolicy: appscaling.StepScalingAction;
  /** In alarm after `scaleToZeroQuietMinutes` minutes with tasks desired and no job waiting or running. */
  public readonly scaleToZeroAlarm: cloudwatch.Alarm;
  public readonly jobsPerTask: number;
  public readonly cooldownSeconds: number;
  public readonly scaleToZeroQuietMinutes: number;

  constructor(scope: Construct, id: string, props: QueueDepthScalingProps) {
    super(scope, id);
    const cooldownSeconds = props.cooldownSeconds ?? DEFAULT_SCALING_COOLDOWN_SECONDS;
    const scaleInPeriods = props.scaleInEvaluationPeriods ?? DEFAULT_SCALE_IN_EVALUATION_PERIODS;
    if (!Number.isInteger(props.jobsPerTask) || props.jobsPerTask < 1) {
      throw new Error(`QueueDepthScaling: jobsPerTask must be a whole number ≥ 1 (got ${props.jobsPerTask})`);
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
    this.cooldownSeconds = cooldownSeconds;
    this.scaleToZeroQuietMinutes = quietMinutes;
    const period = Duration.seconds(SCALING_PERIOD_SECONDS);
    const usingMetrics = {
      visible: props.queue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period }),
      inFlight: props.queue.metricApproximateNumberOfMessagesNotVisible({ statistic: 'Maximum', period }),
      desired: props.desiredTaskCount,
    };
    const work = '(FILL(visible, 0) + FILL(inFlight, 0))';
    const wanted = `CEIL(${work} / ${props.jobsPerTask})`;

    this.error = new cloudwatch.MathExpression({
      label: 'Tasks the work asks for minus tasks desired',
      expression: `${wanted} - FILL(desired, 0)`,
      period,
      usingMetrics,
    });
    // Scale-in sees at least one task wanted: the last one is the scale-to-zero policy's.
    const surplus = new cloudwatch.MathExpression({
      label: 'Tasks the work asks for (at least one) minus tasks desired',
      expression: `IF(${wanted} < 1, 1, ${wanted}) - FILL(desired, 0)`,
      period,
      usingMetrics,
    });
    const idle = new cloudwatch.MathExpression({
      label: 'Tasks desired with no job waiting or running (1) or not (0)',
      expression: `IF(FILL(desired, 0) >= 1 AND ${work} == 0, 1, 0)`,
      period,
      usingMetrics,
    });

    this.policy = new appscaling.StepScalingAction(this, 'Policy', {
      scalingTarget: props.scalableTarget,
      adjustmentType: appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
      cooldown: Duration.seconds(cooldownSeconds),
      metricAggregationType: appscaling.MetricAggregationType.MAXIMUM,
    });
    // Both alarms share threshold 0, so the step bounds are values of e itself. e is whole unless the desired count
    // changed inside the minute; a fraction of a task falls in the 0 step.
    for (const step of scalingSteps()) this.policy.addAdjustment(step);

    const action = new cwactions.ApplicationScalingAction(this.policy);
    this.scaleOutAlarm = this.error.createAlarm(this, 'ScaleOutAlarm', {
      alarmDescription: 'Queued and running jobs ask for more worker tasks than are desired',
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      treatMissingData: cloudwatch.TreatMissingData.IGNORE,
    });
    this.scaleOutAlarm.addAlarmAction(action);
    this.scaleInAlarm = surplus.createAlarm(this, 'ScaleInAlarm', {
      alarmDescription: `More worker tasks (above one) are desired than queued and running jobs ask for, for ${scaleInPeriods} minutes`,
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: scaleInPeriods,
      datapointsToAlarm: scaleInPeriods,
      treatMissingData: cloudwatch.TreatMissingData.IGNORE,
    });
    this.scaleInAlarm.addAlarmAction(action);

    this.scaleToZeroPolicy = new appscaling.StepScalingAction(this, 'ScaleToZeroPolicy', {
      scalingTarget: props.scalableTarget,
      adjustmentType: appscaling.AdjustmentType.EXACT_CAPACITY,
      cooldown: Duration.seconds(cooldownSeconds),
      metricAggregationType: appscaling.MetricAggregationType.MAXIMUM,
    });
    this.scaleToZeroPolicy.addAdjustment({ adjustment: 0, lowerBound: 0 });
    this.scaleToZeroAlarm = idle.createAlarm(this, 'ScaleToZeroAlarm', {
      alarmDescription: `Worker tasks are desired and no job has waited or run for ${quietMinutes} minutes`,
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: quietMinutes,
      datapointsToAlarm: quietMinutes,
      treatMissingData: cloudwatch.TreatMissingData.IGNORE,
    });
    this.scaleToZeroAlarm.addAlarmAction(new cwactions.ApplicationScalingAction(this.scaleToZeroPolicy));
  }
}

/**
 * The step adjustments on e, lowest first: half the surplus away when e ≤ −1, nothing in (−0.5, 1), and the lower
 * bound of each scale-out band added (so an action adds at most e).
 */
export function scalingSteps(): appscaling.AdjustmentTier[] {
  const steps: appscaling.AdjustmentTier[] = [];
  const inSteps = [...SCALE_IN_STEPS].reverse();
  inSteps.forEach(([surplus, remove], i) => {
    const lower = inSteps[i - 1]?.[0];
    steps.push({
      adjustment: -remove,
      ...(lower === undefined ? {} : { lowerBound: -(lower - 1) }),
      upperBound: surplus === 1 ? -0.5 : -(surplus - 1),
    });
  });
  steps.push({ adjustment: 0, lowerBound: -0.5, upperBound: 1 });
  SCALE_OUT_STEPS.forEach((add, i) => {
    const next = SCALE_OUT_STEPS[i + 1];
    steps.push({ adjustment: add, lowerBound: add, ...(next === undefined ? {} : { upperBound: next }) });
  });
  return steps;
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
