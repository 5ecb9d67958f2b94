// Reads the Application Auto Scaling policies of a synthesized CloudFormation template: the scalable target's
// bounds, each policy (step or target tracking) and, for step policies, the CloudWatch alarms whose actions point at
// them, with their metric math; and the scaling-signal Lambda's settings from its environment. Nothing here is typed
// by hand: what the simulator replays is what would deploy.
import { DEFAULT_WORKER_IDLE_PROTECTION_SECONDS } from '@revive/contract';
import { scalingSettingsSchema, type ScalingSettings } from '../src/scaling-signal/signal.js';

/** One metric a policy or alarm reads. */
export interface MetricRef {
  readonly namespace: string;
  readonly metricName: string;
  readonly stat: string;
  readonly periodSeconds: number;
}

/** An alarm's signal: named metrics combined by one returned expression (a plain metric is `m1`). */
export interface Signal {
  readonly metrics: Readonly<Record<string, MetricRef>>;
  readonly expression: string;
  readonly periodSeconds: number;
}

export interface AlarmSpec {
  readonly id: string;
  readonly signal: Signal;
  readonly threshold: number;
  readonly comparison: 'GreaterThanThreshold' | 'GreaterThanOrEqualToThreshold' | 'LessThanThreshold' | 'LessThanOrEqualToThreshold';
  readonly evaluationPeriods: number;
  readonly datapointsToAlarm: number;
  /** CloudWatch's default is `missing` (kept apart from `ignore` here only by name: both skip missing points). */
  readonly treatMissingData: 'breaching' | 'notBreaching' | 'ignore' | 'missing';
}

export interface StepSpec {
  readonly lower: number;
  readonly upper: number;
  readonly adjustment: number;
}

export interface StepPolicySpec {
  readonly kind: 'step';
  readonly id: string;
  readonly adjustmentType: string;
  readonly cooldownSeconds: number;
  readonly cooldownAssumed: boolean;
  readonly steps: readonly StepSpec[];
  readonly alarms: readonly AlarmSpec[];
}

export interface TargetPolicySpec {
  readonly kind: 'target';
  readonly id: string;
  readonly target: number;
  readonly scaleOutCooldownSeconds: number;
  readonly scaleInCooldownSeconds: number;
  readonly signal: Signal;
}

export interface ScalingSpec {
  readonly minCapacity: number;
  readonly maxCapacity: number;
  /** The scaling-signal Lambda's settings (REVIVE_SCALING in its environment), when the template has one. */
  readonly signal?: ScalingSettings;
  readonly policies: readonly (StepPolicySpec | TargetPolicySpec)[];
}

/** Application Auto Scaling's default cooldown for ECS when a policy leaves it out. */
export const DEFAULT_ECS_COOLDOWN_SECONDS = 300;

type Resource = { Type: string; Properties: Record<string, unknown> };
type Template = { Resources: Record<string, Resource> };

function metricOf(m: Record<string, unknown>): MetricRef {
  const stat = m.MetricStat as { Metric: { Namespace: string; MetricName: string }; Stat: string; Period?: number };
  // Target tracking's customized metrics carry no period: Application Auto Scaling reads one-minute points.
  return { namespace: stat.Metric.Namespace, metricName: stat.Metric.MetricName, stat: stat.Stat, periodSeconds: stat.Period ?? 60 };
}

function signalOf(metrics: Record<string, unknown>[], fallbackPeriod = 60): Signal {
  const named: Record<string, MetricRef> = {};
  let expression: string | undefined;
  for (const m of metrics) {
    if (m.MetricStat) named[m.Id as string] = metricOf(m);
    if (m.ReturnData !== false) expression = (m.Expression as string | undefined) ?? (m.Id as string);
  }
  if (expression === undefined) throw new Error('policy: no returned metric');
  const periods = Object.values(named).map((m) => m.periodSeconds);
  return { metrics: named, expression, periodSeconds: (metrics.find((m) => m.Period)?.Period as number | undefined) ?? (periods.length ? Math.max(...periods) : fallbackPeriod) };
}

function alarmSignal(p: Record<string, unknown>): Signal {
  if (Array.isArray(p.Metrics)) return signalOf(p.Metrics as Record<string, unknown>[]);
  const m: MetricRef = { namespace: p.Namespace as string, metricName: p.MetricName as string, stat: p.Statistic as string, periodSeconds: p.Period as number };
  return { metrics: { m1: m }, expression: 'm1', periodSeconds: m.periodSeconds };
}

/** The scaling of the template's one ECS service. */
export function readScaling(template: Template): ScalingSpec {
  const entries = Object.entries(template.Resources);
  const targets = entries.filter(([, r]) => r.Type === 'AWS::ApplicationAutoScaling::ScalableTarget');
  if (targets.length !== 1) throw new Error(`policy: expected one scalable target, found ${targets.length}`);
  const target = targets[0]![1].Properties;
  const alarms = entries.filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm');
  const policies = entries
    .filter(([, r]) => r.Type === 'AWS::ApplicationAutoScaling::ScalingPolicy')
    .map(([id, r]): StepPolicySpec | TargetPolicySpec => {
      const p = r.Properties;
      if (p.PolicyType === 'StepScaling') {
        const c = p.StepScalingPolicyConfiguration as { AdjustmentType: string; Cooldown?: number; StepAdjustments: { MetricIntervalLowerBound?: number; MetricIntervalUpperBound?: number; ScalingAdjustment: number }[] };
        return {
          kind: 'step',
          id,
          adjustmentType: c.AdjustmentType,
          cooldownSeconds: c.Cooldown ?? DEFAULT_ECS_COOLDOWN_SECONDS,
          cooldownAssumed: c.Cooldown === undefined,
          steps: c.StepAdjustments.map((s) => ({
            lower: s.MetricIntervalLowerBound ?? Number.NEGATIVE_INFINITY,
            upper: s.MetricIntervalUpperBound ?? Number.POSITIVE_INFINITY,
            adjustment: s.ScalingAdjustment,
          })),
          alarms: alarms
            .filter(([, a]) => JSON.stringify(a.Properties.AlarmActions ?? []).includes(JSON.stringify({ Ref: id })))
            .map(([alarmId, a]) => ({
              id: alarmId,
              signal: alarmSignal(a.Properties),
              threshold: a.Properties.Threshold as number,
              comparison: a.Properties.ComparisonOperator as AlarmSpec['comparison'],
              evaluationPeriods: a.Properties.EvaluationPeriods as number,
              datapointsToAlarm: (a.Properties.DatapointsToAlarm as number | undefined) ?? (a.Properties.EvaluationPeriods as number),
              treatMissingData: (a.Properties.TreatMissingData as AlarmSpec['treatMissingData'] | undefined) ?? 'missing',
            })),
        };
      }
      const c = p.TargetTrackingScalingPolicyConfiguration as {
        TargetValue: number;
        ScaleInCooldown?: number;
        ScaleOutCooldown?: number;
        CustomizedMetricSpecification?: { Metrics: Record<string, unknown>[] };
        PredefinedMetricSpecification?: { PredefinedMetricType: string };
      };
      let signal: Signal;
      if (c.CustomizedMetricSpecification) signal = signalOf(c.CustomizedMetricSpecification.Metrics);
      else if (c.PredefinedMetricSpecification?.PredefinedMetricType === 'ECSServiceAverageCPUUtilization') {
        signal = { metrics: { cpu: { namespace: 'AWS/ECS', metricName: 'CPUUtilization', stat: 'Average', periodSeconds: 60 } }, expression: 'cpu', periodSeconds: 60 };
      } else throw new Error(`policy: target tracking metric of ${id} is not modelled`);
      return {
        kind: 'target',
        id,
        target: c.TargetValue,
        scaleOutCooldownSeconds: c.ScaleOutCooldown ?? DEFAULT_ECS_COOLDOWN_SECONDS,
        scaleInCooldownSeconds: c.ScaleInCooldown ?? DEFAULT_ECS_COOLDOWN_SECONDS,
        signal,
      };
    });
  const signalEnv = entries
    .filter(([, r]) => r.Type === 'AWS::Lambda::Function')
    .map(([, r]) => (r.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables)
    .find((v) => v?.REVIVE_SCALING !== undefined);
  return {
    minCapacity: target.MinCapacity as number,
    maxCapacity: target.MaxCapacity as number,
    policies,
    ...(signalEnv ? { signal: scalingSettingsSchema.parse(JSON.parse(String(signalEnv.REVIVE_SCALING))) } : {}),
  };
}

/**
 * The worker container's REVIVE_IDLE_PROTECTION_SECONDS in the template's one ECS task definition (0 where it is
 * not set, the worker's default): the window the simulated tasks hold is the one the deployed tasks would.
 */
export function readWorkerIdleProtectionSeconds(template: Template): number {
  const defs = Object.values(template.Resources).filter((r) => r.Type === 'AWS::ECS::TaskDefinition');
  if (defs.length !== 1) throw new Error(`policy: expected one task definition, found ${defs.length}`);
  const containers = defs[0]!.Properties.ContainerDefinitions as { Environment?: { Name: string; Value: unknown }[] }[];
  const value = containers.flatMap((c) => c.Environment ?? []).find((e) => e.Name === 'REVIVE_IDLE_PROTECTION_SECONDS')?.Value;
  return value === undefined ? DEFAULT_WORKER_IDLE_PROTECTION_SECONDS : Number(value);
}
