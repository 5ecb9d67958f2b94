// The queue-depth controller as main had it before issue 18 (packages/infra/src/scaling.ts at 9ac25a1), kept here
// only so the bench can replay it side by side: the same steps, but on CloudWatch metric math over SQS's one-minute
// metrics and Container Insights' DesiredTaskCount, a missing desired count read as 0 (FILL(desired, 0)), and a quiet
// test that does not count NumberOfMessagesSent. The bench removes the current Scaling construct and adds this.
import { Duration } from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwactions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { SCALE_IN_STEPS, SCALE_OUT_STEPS } from '../src/scaling.js';
import type { WorkerService } from '../src/worker.js';

const PERIOD = Duration.seconds(60);
const COOLDOWN = Duration.seconds(120);
const SCALE_IN_PERIODS = 5;

/** The step adjustments on e as 9ac25a1 had them: half the surplus away when e ≤ −1, nothing in (−0.5, 1). */
function steps(): appscaling.AdjustmentTier[] {
  const out: appscaling.AdjustmentTier[] = [];
  const inSteps = [...SCALE_IN_STEPS].reverse();
  inSteps.forEach(([surplus, remove], i) => {
    const lower = inSteps[i - 1]?.[0];
    out.push({ adjustment: -remove, ...(lower === undefined ? {} : { lowerBound: -(lower - 1) }), upperBound: surplus === 1 ? -0.5 : -(surplus - 1) });
  });
  out.push({ adjustment: 0, lowerBound: -0.5, upperBound: 1 });
  SCALE_OUT_STEPS.forEach((add, i) => {
    const next = SCALE_OUT_STEPS[i + 1];
    out.push({ adjustment: add, lowerBound: add, ...(next === undefined ? {} : { upperBound: next }) });
  });
  return out;
}

/** Replaces `worker.scaling` with 9ac25a1's Container Insights controller. */
export function useContainerInsightsPolicy(worker: WorkerService, queue: sqs.IQueue, jobsPerTask: number, quietMinutes: number): void {
  if (!worker.node.tryRemoveChild('Scaling')) throw new Error('container-insights policy: the worker has no Scaling construct to replace');
  const usingMetrics = {
    visible: queue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: PERIOD }),
    inFlight: queue.metricApproximateNumberOfMessagesNotVisible({ statistic: 'Maximum', period: PERIOD }),
    desired: worker.taskCountMetric('DesiredTaskCount', 'Maximum'),
  };
  const work = '(FILL(visible, 0) + FILL(inFlight, 0))';
  const wanted = `CEIL(${work} / ${jobsPerTask})`;
  const math = (expression: string) => new cloudwatch.MathExpression({ expression, period: PERIOD, usingMetrics });
  const policy = new appscaling.StepScalingAction(worker, 'CiPolicy', {
    scalingTarget: worker.scalableTarget,
    adjustmentType: appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
    cooldown: COOLDOWN,
    metricAggregationType: appscaling.MetricAggregationType.MAXIMUM,
  });
  for (const step of steps()) policy.addAdjustment(step);
  const action = new cwactions.ApplicationScalingAction(policy);
  const alarm = (id: string, expression: string, comparisonOperator: cloudwatch.ComparisonOperator, periods: number) =>
    math(expression).createAlarm(worker, id, {
      threshold: 0,
      comparisonOperator,
      evaluationPeriods: periods,
      datapointsToAlarm: periods,
      treatMissingData: cloudwatch.TreatMissingData.IGNORE,
    });
  alarm('CiScaleOut', `${wanted} - FILL(desired, 0)`, cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD, 1).addAlarmAction(action);
  alarm('CiScaleIn', `IF(${wanted} < 1, 1, ${wanted}) - FILL(desired, 0)`, cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD, SCALE_IN_PERIODS).addAlarmAction(action);
  const zero = new appscaling.StepScalingAction(worker, 'CiScaleToZero', {
    scalingTarget: worker.scalableTarget,
    adjustmentType: appscaling.AdjustmentType.EXACT_CAPACITY,
    cooldown: COOLDOWN,
    metricAggregationType: appscaling.MetricAggregationType.MAXIMUM,
  });
  zero.addAdjustment({ adjustment: 0, lowerBound: 0 });
  alarm('CiQuiet', `IF(FILL(desired, 0) >= 1 AND ${work} == 0, 1, 0)`, cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD, quietMinutes).addAlarmAction(
    new cwactions.ApplicationScalingAction(zero),
  );
}
