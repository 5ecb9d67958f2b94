// The scaling policy as main had it before issue 14 (packages/infra/src/worker.ts at e597b97), kept here only so the
// bench can replay it side by side: target tracking on visible messages / running tasks, plus a +1 step from zero.
// The bench removes the current policy from a synthesized stack and adds this one in its place.
import { Duration } from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { WorkerService } from '../src/worker.js';

const CPU_START_COOLDOWN_SECONDS = 120;
const GPU_START_COOLDOWN_SECONDS = 420;
const SCALE_IN_COOLDOWN_SECONDS = 300;
const SCALE_OUT_COOLDOWN_SECONDS = 60;
const SCALING_PERIOD_SECONDS = 60;
/** main's default (DEFAULT_BACKLOG_PER_TASK). */
export const LEGACY_BACKLOG_PER_TASK = 5;

/** Replaces `worker.scaling` with main's two policies. */
export function useLegacyPolicy(worker: WorkerService, backlogPerTask = LEGACY_BACKLOG_PER_TASK): void {
  if (!worker.node.tryRemoveChild('Scaling')) throw new Error('legacy policy: the worker has no Scaling construct to replace');
  new appscaling.CfnScalingPolicy(worker, 'BacklogPerTaskPolicy', {
    policyName: 'legacy-backlog-per-task',
    policyType: 'TargetTrackingScaling',
    scalingTargetId: worker.scalableTarget.scalableTargetId,
    targetTrackingScalingPolicyConfiguration: {
      targetValue: backlogPerTask,
      scaleInCooldown: SCALE_IN_COOLDOWN_SECONDS,
      scaleOutCooldown: SCALE_OUT_COOLDOWN_SECONDS,
      customizedMetricSpecification: {
        metrics: [
          {
            id: 'visible',
            returnData: false,
            metricStat: {
              metric: { namespace: 'AWS/SQS', metricName: 'ApproximateNumberOfMessagesVisible', dimensions: [{ name: 'QueueName', value: 'q' }] },
              stat: 'Sum',
            },
          },
          {
            id: 'running',
            returnData: false,
            metricStat: { metric: { namespace: 'ECS/ContainerInsights', metricName: 'RunningTaskCount', dimensions: [{ name: 'ServiceName', value: 's' }] }, stat: 'Average' },
          },
          { id: 'backlogPerTask', label: 'Visible messages per running task', expression: 'visible / running', returnData: true },
        ],
      },
    },
  });
  worker.scalableTarget.scaleOnMetric('StartFromZero', {
    metric: new cloudwatch.MathExpression({
      expression: 'IF(visible > 0 AND FILL(desired, 0) == 0, 1, 0)',
      period: Duration.seconds(SCALING_PERIOD_SECONDS),
      usingMetrics: {
        visible: new cloudwatch.Metric({ namespace: 'AWS/SQS', metricName: 'ApproximateNumberOfMessagesVisible', statistic: 'Maximum', period: Duration.seconds(SCALING_PERIOD_SECONDS) }),
        desired: worker.taskCountMetric('DesiredTaskCount'),
      },
    }),
    adjustmentType: appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
    scalingSteps: [
      { upper: 1, change: 0 },
      { lower: 1, change: 1 },
    ],
    evaluationPeriods: 1,
    cooldown: Duration.seconds(worker.mode === 'cpu' ? CPU_START_COOLDOWN_SECONDS : GPU_START_COOLDOWN_SECONDS),
  });
}
