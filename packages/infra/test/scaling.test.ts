// Issue 14: the synthesized scaling policy, queue retention, outbox shards, tenant index projection, route throttles
// and the drain-time alarm. Synthesized without bundling the handlers (they play no part here); stack.test.ts covers
// the bundled app and cdk-nag.
import { TABLE_SCHEMA } from '@revive/contract';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile } from '../bench/metric-math.js';
import { readScaling, type AlarmSpec, type StepPolicySpec } from '../bench/policy.js';
import { createApp } from '../src/app.js';
import { DEFAULT_SECONDS_PER_JOB, GPU_START_SECONDS } from '../src/config.js';
import { MIN_SCALING_COOLDOWN_SECONDS, SCALING_METRIC_LAG_SECONDS } from '../src/scaling.js';

type Resource = { Type: string; Properties: Record<string, unknown> };
type Json = { Resources: Record<string, Resource> };
const CONTEXT = { jwtIssuer: 'https://issuer.example.com/pool', jwtAudience: 'web', 'aws:cdk:bundling-stacks': [], gpuProviderSha256: '0'.repeat(64) };

function synth(context: Record<string, unknown>): Json {
  const { stack } = createApp({ ...CONTEXT, ...context });
  return Template.fromStack(stack).toJSON() as Json;
}
const ofType = (t: Json, type: string) => Object.entries(t.Resources).filter(([, r]) => r.Type === type);

let cpu: Json;
let gpu: Json;
let gpuWarm: Json;
beforeAll(() => {
  cpu = synth({ workerMode: 'cpu', maxTasks: 50 });
  gpu = synth({ workerMode: 'gpu', maxTasks: 50 });
  gpuWarm = synth({ workerMode: 'gpu', maxTasks: 50, gpuWarmPoolSize: 2 });
}, 180_000);

describe('queue-depth scaling policy', () => {
  /** The controller (ChangeInCapacity) and the scale-to-zero policy (ExactCapacity 0). */
  const policiesOf = (t: Json) => {
    const spec = readScaling(t);
    const steps = spec.policies as StepPolicySpec[];
    return {
      spec,
      policy: steps.find((p) => p.adjustmentType === 'ChangeInCapacity')!,
      zero: steps.find((p) => p.adjustmentType === 'ExactCapacity')!,
    };
  };

  it.each(['cpu', 'gpu'] as const)('%s: one step policy on all the work (visible + in flight) against the desired count', (mode) => {
    const t = mode === 'cpu' ? cpu : gpu;
    const policies = ofType(t, 'AWS::ApplicationAutoScaling::ScalingPolicy');
    expect(policies.map(([, r]) => r.Properties.PolicyType)).toEqual(['StepScaling', 'StepScaling']);
    const { policy } = policiesOf(t);
    expect(policy.alarms).toHaveLength(2);
    for (const alarm of policy.alarms) {
      const metrics = Object.values(alarm.signal.metrics).map((m) => `${m.namespace}/${m.metricName}`).sort();
      expect(metrics).toEqual([
        'AWS/SQS/ApproximateNumberOfMessagesNotVisible',
        'AWS/SQS/ApproximateNumberOfMessagesVisible',
        'ECS/ContainerInsights/DesiredTaskCount',
      ]);
      expect(alarm.threshold).toBe(0);
    }
    // Evaluate the template's expressions: in-flight jobs count, and the desired (not running) count is subtracted.
    const e = compile(policy.alarms.find((a) => a.comparison === 'GreaterThanThreshold')!.signal.expression);
    const surplus = compile(policy.alarms.find((a) => a.comparison === 'LessThanThreshold')!.signal.expression);
    const jobsPerTask = mode === 'cpu' ? 2 : Math.floor(GPU_START_SECONDS.cold / DEFAULT_SECONDS_PER_JOB.gpu);
    expect(e({ visible: 0, inFlight: 0, desired: 0 })).toBe(0);
    expect(e({ visible: 1, inFlight: undefined, desired: undefined })).toBe(1); // from zero: no Container Insights data yet
    expect(e({ visible: 0, inFlight: 30 * jobsPerTask, desired: 30 })).toBe(0); // busy workers, empty queue: hold
    expect(e({ visible: 500, inFlight: 0, desired: 1 })).toBe(Math.ceil(500 / jobsPerTask) - 1);
    for (const f of [e, surplus]) expect(f({ visible: 0, inFlight: 30 * jobsPerTask, desired: 31 })).toBe(-1);
    // Scale-in keeps the last task: that one is the scale-to-zero policy's.
    expect(surplus({ visible: 0, inFlight: 0, desired: 3 })).toBe(-2);
    expect(surplus({ visible: 0, inFlight: 0, desired: 1 })).toBe(0);
    expect(surplus({ visible: 0, inFlight: 0, desired: undefined })).toBe(1);
  });

  it.each([
    ['cpu', 10],
    ['gpu', 15],
  ] as const)('%s: the last task goes only after %i minutes with no job waiting or running, to exactly 0', (mode, minutes) => {
    const { zero } = policiesOf(mode === 'cpu' ? cpu : gpu);
    expect(zero.steps).toEqual([{ lower: 0, upper: Number.POSITIVE_INFINITY, adjustment: 0 }]);
    expect(zero.alarms).toHaveLength(1);
    const [alarm] = zero.alarms as [AlarmSpec];
    expect([alarm.comparison, alarm.threshold, alarm.evaluationPeriods, alarm.datapointsToAlarm]).toEqual(['GreaterThanThreshold', 0, minutes, minutes]);
    const idle = compile(alarm.signal.expression);
    expect(idle({ visible: 0, inFlight: 0, desired: 1 })).toBe(1);
    expect(idle({ visible: 0, inFlight: 1, desired: 1 })).toBe(0); // a running job holds the last task
    expect(idle({ visible: 1, inFlight: 0, desired: 1 })).toBe(0);
    expect(idle({ visible: 0, inFlight: 0, desired: 0 })).toBe(0); // already at zero: no action every minute
    expect(idle({ visible: undefined, inFlight: undefined, desired: 2 })).toBe(1); // SQS publishes nothing for an idle queue
  });

  it('scaleToZeroQuietMinutes is configurable, and never shorter than the scale-in window', () => {
    const zeroAlarm = (t: Json) => policiesOf(t).zero.alarms[0]!.evaluationPeriods;
    expect(zeroAlarm(synth({ workerMode: 'gpu', scaleToZeroQuietMinutes: 30 }))).toBe(30);
    expect(zeroAlarm(synth({ workerMode: 'cpu', scaleInEvaluationPeriods: 12 }))).toBe(12);
    expect(() => synth({ scaleToZeroQuietMinutes: 0 })).toThrow(/scaleToZeroQuietMinutes/);
  });

  it.each(['cpu', 'gpu'] as const)('%s: scales out on 1 datapoint and in after 5, with a cooldown of at least one period plus the metric lag', (mode) => {
    const { spec, policy, zero } = policiesOf(mode === 'cpu' ? cpu : gpu);
    const out = policy.alarms.find((a) => a.comparison === 'GreaterThanThreshold')!;
    const inn = policy.alarms.find((a) => a.comparison === 'LessThanThreshold')!;
    expect([out.evaluationPeriods, out.datapointsToAlarm]).toEqual([1, 1]);
    expect([inn.evaluationPeriods, inn.datapointsToAlarm]).toEqual([5, 5]);
    expect(policy.cooldownAssumed).toBe(false);
    for (const alarm of policy.alarms) {
      for (const m of Object.values(alarm.signal.metrics)) expect(m.periodSeconds).toBe(60);
      expect(policy.cooldownSeconds).toBeGreaterThanOrEqual(alarm.signal.periodSeconds + SCALING_METRIC_LAG_SECONDS);
    }
    expect(policy.cooldownSeconds).toBeGreaterThanOrEqual(MIN_SCALING_COOLDOWN_SECONDS);
    expect(zero.cooldownSeconds).toBeGreaterThanOrEqual(MIN_SCALING_COOLDOWN_SECONDS);
    for (const m of Object.values(zero.alarms[0]!.signal.metrics)) expect(m.periodSeconds).toBe(60);
    expect(spec).toMatchObject({ minCapacity: 0, maxCapacity: 50 });
  });

  it('steps cover every value of e without gaps: half the surplus away, never more than e added, at most +64', () => {
    const { policy } = policiesOf(cpu);
    const steps = policy.steps;
    expect(steps[0]!.lower).toBe(Number.NEGATIVE_INFINITY);
    expect(steps.at(-1)!.upper).toBe(Number.POSITIVE_INFINITY);
    for (let i = 1; i < steps.length; i++) expect(steps[i]!.lower).toBe(steps[i - 1]!.upper);
    const at = (e: number) => steps.find((s) => e >= s.lower && e < s.upper)!.adjustment;
    for (let e = 1; e <= 200; e++) {
      expect(at(e)).toBeGreaterThan(0);
      expect(at(e)).toBeLessThanOrEqual(Math.min(e, 64));
    }
    expect(at(0)).toBe(0);
    expect(at(0.5)).toBe(0);
    for (let surplus = 1; surplus <= 200; surplus++) {
      expect(-at(-surplus)).toBeGreaterThanOrEqual(1);
      expect(-at(-surplus)).toBeLessThanOrEqual(Math.max(1, Math.ceil(surplus / 2)));
    }
  });

  it('rejects a cooldown shorter than one period plus the metric lag', () => {
    expect(() => synth({ scalingCooldownSeconds: 90 })).toThrow(/scalingCooldownSeconds/);
  });

  it('gpu: an optional warm pool of pre-initialised instances, with the agent told to wait for it', () => {
    expect(ofType(gpu, 'AWS::AutoScaling::WarmPool')).toHaveLength(0);
    const pools = ofType(gpuWarm, 'AWS::AutoScaling::WarmPool');
    expect(pools.map(([, r]) => r.Properties)).toEqual([expect.objectContaining({ MinSize: 2, MaxGroupPreparedCapacity: 2, InstanceReusePolicy: { ReuseOnScaleIn: true } })]);
    expect(JSON.stringify(ofType(gpuWarm, 'AWS::EC2::LaunchTemplate'))).toContain('ECS_WARM_POOLS_CHECK=true');
  });

  it.each([
    ['cpu', '1'],
    ['gpu', '2'],
  ] as const)('%s: REVIVE_CONCURRENCY is %s', (mode, concurrency) => {
    const [[, task]] = ofType(mode === 'cpu' ? cpu : gpu, 'AWS::ECS::TaskDefinition') as [[string, Resource]];
    const env = (task.Properties.ContainerDefinitions as { Environment: { Name: string; Value: unknown }[] }[])[0]!.Environment;
    expect(env.find((e) => e.Name === 'REVIVE_CONCURRENCY')?.Value).toBe(concurrency);
  });
});

describe('limits', () => {
  it('the job queue keeps messages 14 days (SQS maximum), so a backlog is never dropped silently', () => {
    const [[, queue]] = ofType(cpu, 'AWS::SQS::Queue').filter(([, r]) => r.Properties.RedrivePolicy !== undefined) as [[string, Resource]];
    expect(queue.Properties.MessageRetentionPeriod).toBe(14 * 86_400);
  });

  it('the outbox index key is sharded and byTenant projects only what GET /jobs returns', () => {
    const [[, table]] = ofType(cpu, 'AWS::DynamoDB::GlobalTable') as [[string, Resource]];
    const indexes = table.Properties.GlobalSecondaryIndexes as { IndexName: string; Projection: { ProjectionType: string; NonKeyAttributes?: string[] }; KeySchema: { AttributeName: string }[] }[];
    const byTenant = indexes.find((i) => i.IndexName === TABLE_SCHEMA.tenantIndex.name)!;
    expect(byTenant.Projection.ProjectionType).toBe('INCLUDE');
    expect([...byTenant.Projection.NonKeyAttributes!].sort()).toEqual([...TABLE_SCHEMA.tenantIndex.projected].sort());
    // Heartbeats (lease) and the outbox marks stay out of it.
    for (const written of ['leaseOwner', 'leaseExpiresAt', TABLE_SCHEMA.pendingIndex.partitionKey, TABLE_SCHEMA.pendingIndex.sortKey, 'expiresAt']) {
      expect(byTenant.Projection.NonKeyAttributes).not.toContain(written);
    }
    const pending = indexes.find((i) => i.IndexName === TABLE_SCHEMA.pendingIndex.name)!;
    expect(pending.KeySchema[0]!.AttributeName).toBe(TABLE_SCHEMA.pendingIndex.partitionKey);
    expect(TABLE_SCHEMA.pendingIndex.shards).toBe(16);
  });

  it('every route has its own throttle; polling and listing cannot use the create routes\' budget', () => {
    const [[, stage]] = ofType(cpu, 'AWS::ApiGatewayV2::Stage') as [[string, Resource]];
    const routes = stage.Properties.RouteSettings as Record<string, { ThrottlingRateLimit: number; ThrottlingBurstLimit: number }>;
    expect(Object.keys(routes).sort()).toEqual(['DELETE /jobs/{id}', 'GET /jobs', 'GET /jobs/{id}', 'GET /openapi.json', 'POST /jobs', 'POST /uploads']);
    expect(routes['POST /jobs']).toEqual({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 });
    expect(routes['GET /jobs']!.ThrottlingRateLimit).toBeLessThan(routes['POST /jobs']!.ThrottlingRateLimit);
    // The stage is created after the routes its settings name.
    const stageId = ofType(cpu, 'AWS::ApiGatewayV2::Stage')[0]![0];
    const routeIds = ofType(cpu, 'AWS::ApiGatewayV2::Route').map(([id]) => id);
    expect(cpu.Resources[stageId] as unknown as { DependsOn: string[] }).toMatchObject({ DependsOn: expect.arrayContaining(routeIds) });
  });

  it('pages when the backlog would take longer than an hour to clear at maxTasks', () => {
    const drain = ofType(cpu, 'AWS::CloudWatch::Alarm').find(([id]) => id.includes('DrainTime'));
    expect(drain).toBeDefined();
    const p = drain![1].Properties;
    expect(p.Threshold).toBe(3600);
    const expression = (p.Metrics as { Expression?: string }[]).find((m) => m.Expression)!.Expression!;
    // 50 tasks at 60 s a job: 0.8333 jobs/s; 3,000 queued and 50 running take an hour and a bit.
    expect(compile(expression)({ visible: 3000, inFlight: 50 })).toBeCloseTo(3050 / (50 / 60), 3);
  });
});
