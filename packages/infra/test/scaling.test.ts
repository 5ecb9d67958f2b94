// Issues 14 and 18: the synthesized scaling policy (on the scaling-signal Lambda), the service's deploy settings,
// queue retention, outbox shards, tenant index projection, route throttles and the drain-time alarm. Synthesized
// without bundling the handlers (they play no part here); stack.test.ts covers the bundled app and cdk-nag.
import { TABLE_SCHEMA } from '@revive/contract';
import { SCALING_SIGNAL_METRICS, SCALING_SIGNAL_NAMESPACE, SCALING_SIGNAL_SERVICE } from '../src/scaling-signal/signal.js';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile } from '../bench/metric-math.js';
import { readScaling, type AlarmSpec, type StepPolicySpec } from '../bench/policy.js';
import { createApp } from '../src/app.js';
import { DEFAULT_SECONDS_PER_JOB, GPU_START_SECONDS } from '../src/config.js';
import {
  DEFAULT_SCALING_COOLDOWN_SECONDS,
  MIN_SCALING_COOLDOWN_SECONDS,
  SCALING_METRIC_LAG_SECONDS,
  SIGNAL_MISSING_ALARM_MINUTES,
} from '../src/scaling.js';

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
  /** The scale-out and scale-in controllers (ChangeInCapacity) and the scale-to-zero policy (ExactCapacity 0). */
  const policiesOf = (t: Json) => {
    const spec = readScaling(t);
    const steps = spec.policies as StepPolicySpec[];
    const change = steps.filter((p) => p.adjustmentType === 'ChangeInCapacity');
    return {
      spec,
      out: change.find((p) => p.steps.every((s) => s.adjustment > 0))!,
      inn: change.find((p) => p.steps.every((s) => s.adjustment < 0))!,
      zero: steps.find((p) => p.adjustmentType === 'ExactCapacity')!,
    };
  };
  const only = <T>(xs: readonly T[]): T => {
    expect(xs).toHaveLength(1);
    return xs[0]!;
  };
  const metricsOf = (alarm: AlarmSpec) => Object.values(alarm.signal.metrics).map((m) => `${m.namespace}/${m.metricName}`).sort();
  const alarmProps = (t: Json, id: string) => t.Resources[id]!.Properties;

  it.each(['cpu', 'gpu'] as const)('%s: three step policies on the scaling-signal Lambda\'s metrics, none on Container Insights or FILL(desired)', (mode) => {
    const t = mode === 'cpu' ? cpu : gpu;
    const policies = ofType(t, 'AWS::ApplicationAutoScaling::ScalingPolicy');
    expect(policies.map(([, r]) => r.Properties.PolicyType)).toEqual(['StepScaling', 'StepScaling', 'StepScaling']);
    const { out, inn, zero } = policiesOf(t);
    expect(metricsOf(only(out.alarms))).toEqual([`${SCALING_SIGNAL_NAMESPACE}/${SCALING_SIGNAL_METRICS.taskDeficit}`]);
    expect(metricsOf(only(inn.alarms))).toEqual([`${SCALING_SIGNAL_NAMESPACE}/${SCALING_SIGNAL_METRICS.idleSurplus}`]);
    expect(metricsOf(only(zero.alarms))).toEqual(['AWS/SQS/NumberOfMessagesSent', `${SCALING_SIGNAL_NAMESPACE}/${SCALING_SIGNAL_METRICS.quiet}`]);
    const json = JSON.stringify(ofType(t, 'AWS::CloudWatch::Alarm').filter(([id]) => id.includes('Scaling')));
    expect(json).not.toContain('ContainerInsights');
    expect(json).not.toMatch(/FILL\(desired/);
    // The alarms name the metrics exactly as the Lambda's EMF lines carry them: Powertools' service and the ECS service.
    const [, deficitAlarm] = ofType(t, 'AWS::CloudWatch::Alarm').find(([id]) => id === out.alarms[0]!.id)!;
    expect(deficitAlarm.Properties.Dimensions).toEqual([
      { Name: 'ServiceName', Value: { 'Fn::GetAtt': [expect.stringMatching(/^WorkerService/), 'Name'] } },
      { Name: 'service', Value: SCALING_SIGNAL_SERVICE },
    ]);
  });

  it.each(['cpu', 'gpu'] as const)('%s: a missing point never acts (not breaching): no scale-out, no scale-in, and it breaks the quiet streak', (mode) => {
    const t = mode === 'cpu' ? cpu : gpu;
    const { out, inn, zero } = policiesOf(t);
    for (const p of [out, inn, zero]) expect(only(p.alarms).treatMissingData).toBe('notBreaching');
    const quiet = compile(only(zero.alarms).signal.expression);
    expect(quiet({ quiet: 1, sent: undefined })).toBe(1); // SQS publishes nothing for an idle queue
    expect(quiet({ quiet: 1, sent: 0 })).toBe(1);
    expect(quiet({ quiet: 1, sent: 1 })).toBe(0); // a job sent and taken within the minute keeps the last task
    expect(quiet({ quiet: 0, sent: 0 })).toBe(0);
    expect(quiet({ quiet: undefined, sent: 0 })).toBeUndefined(); // the Lambda did not run: no point, not "quiet"
  });

  it.each(['cpu', 'gpu'] as const)('%s: pages through the alarm topic when the Lambda has published nothing for 3 minutes', (mode) => {
    const t = mode === 'cpu' ? cpu : gpu;
    const [[id, alarm]] = ofType(t, 'AWS::CloudWatch::Alarm').filter(([id]) => id.includes('SignalMissing')) as [[string, Resource]];
    expect(alarm.Properties).toMatchObject({
      MetricName: SCALING_SIGNAL_METRICS.taskDeficit,
      Namespace: SCALING_SIGNAL_NAMESPACE,
      Statistic: 'SampleCount',
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
      EvaluationPeriods: SIGNAL_MISSING_ALARM_MINUTES,
      TreatMissingData: 'breaching',
    });
    const [[topicId]] = ofType(t, 'AWS::SNS::Topic') as [[string, Resource]];
    expect(alarmProps(t, id).AlarmActions).toEqual([{ Ref: topicId }]);
  });

  it.each(['cpu', 'gpu'] as const)('%s: the Lambda runs every minute, is told the queue, service, jobsPerTask and concurrency, and is never retried', (mode) => {
    const t = mode === 'cpu' ? cpu : gpu;
    const fnId = ofType(t, 'AWS::Lambda::Function').find(([, r]) => JSON.stringify(r.Properties).includes('REVIVE_JOBS_PER_TASK'))![0];
    const fn = t.Resources[fnId]!.Properties;
    const vars = (fn.Environment as { Variables: Record<string, unknown> }).Variables;
    const jobsPerTask = mode === 'cpu' ? 2 : Math.floor(GPU_START_SECONDS.cold / DEFAULT_SECONDS_PER_JOB.gpu);
    expect(vars).toMatchObject({
      REVIVE_QUEUE_URL: { Ref: expect.stringMatching(/^JobsQueue/) },
      REVIVE_CLUSTER_NAME: { Ref: expect.stringMatching(/^WorkerCluster/) },
      REVIVE_SERVICE_NAME: { 'Fn::GetAtt': [expect.stringMatching(/^WorkerService/), 'Name'] },
      REVIVE_JOBS_PER_TASK: String(jobsPerTask),
      REVIVE_CONCURRENCY: mode === 'cpu' ? '1' : '2',
    });
    expect(readScaling(t).signal).toEqual({ jobsPerTask, concurrency: mode === 'cpu' ? 1 : 2 });
    const rules = ofType(t, 'AWS::Events::Rule').filter(([, r]) => JSON.stringify(r.Properties.Targets).includes(fnId));
    expect(only(rules)[1].Properties).toMatchObject({
      ScheduleExpression: 'rate(1 minute)',
      Targets: [{ Arn: { 'Fn::GetAtt': [fnId, 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 0 } }],
    });
    const invokeConfig = ofType(t, 'AWS::Lambda::EventInvokeConfig').find(([, r]) => JSON.stringify(r.Properties.FunctionName).includes(fnId));
    expect(invokeConfig?.[1].Properties.MaximumRetryAttempts).toBe(0);
  });

  it.each(['cpu', 'gpu'] as const)('%s: the Lambda may read the one queue\'s counts and the one service, write its own logs, and nothing else', (mode) => {
    const t = mode === 'cpu' ? cpu : gpu;
    const fnId = ofType(t, 'AWS::Lambda::Function').find(([, r]) => JSON.stringify(r.Properties).includes('REVIVE_JOBS_PER_TASK'))![0];
    const roleId = (t.Resources[fnId]!.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const policies = ofType(t, 'AWS::IAM::Policy').filter(([, r]) => JSON.stringify(r.Properties.Roles) === JSON.stringify([{ Ref: roleId }]));
    const statements = policies.flatMap(([, r]) => (r.Properties.PolicyDocument as { Statement: { Action: unknown; Resource: unknown }[] }).Statement);
    const serviceId = ofType(t, 'AWS::ECS::Service')[0]![0];
    const queueId = ofType(t, 'AWS::SQS::Queue').find(([id]) => id.startsWith('JobsQueue'))![0];
    expect(statements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Action: 'sqs:GetQueueAttributes', Resource: { 'Fn::GetAtt': [queueId, 'Arn'] } }),
        expect.objectContaining({ Action: 'ecs:DescribeServices', Resource: { Ref: serviceId } }),
        expect.objectContaining({ Action: ['logs:CreateLogStream', 'logs:PutLogEvents'] }),
      ]),
    );
    expect(statements).toHaveLength(3);
    expect(JSON.stringify(statements)).not.toContain('cloudwatch:');
    expect(t.Resources[roleId]!.Properties.ManagedPolicyArns).toBeUndefined();
  });

  it.each([
    ['cpu', 10],
    ['gpu', 15],
  ] as const)('%s: the last task goes only after %i quiet minutes, to exactly 0', (mode, minutes) => {
    const { zero } = policiesOf(mode === 'cpu' ? cpu : gpu);
    expect(zero.steps).toEqual([{ lower: 0, upper: Number.POSITIVE_INFINITY, adjustment: 0 }]);
    const alarm = only(zero.alarms);
    expect([alarm.comparison, alarm.threshold, alarm.evaluationPeriods, alarm.datapointsToAlarm]).toEqual(['GreaterThanThreshold', 0, minutes, minutes]);
  });

  it('scaleToZeroQuietMinutes is configurable, and never shorter than the scale-in window', () => {
    const zeroAlarm = (t: Json) => policiesOf(t).zero.alarms[0]!.evaluationPeriods;
    expect(zeroAlarm(synth({ workerMode: 'gpu', scaleToZeroQuietMinutes: 30 }))).toBe(30);
    expect(zeroAlarm(synth({ workerMode: 'cpu', scaleInEvaluationPeriods: 12 }))).toBe(12);
    expect(() => synth({ scaleToZeroQuietMinutes: 0 })).toThrow(/scaleToZeroQuietMinutes/);
  });

  it.each(['cpu', 'gpu'] as const)('%s: scales out on 1 datapoint and in after 5, with a cooldown of one period, the metric lag and a spare minute', (mode) => {
    const { spec, out, inn, zero } = policiesOf(mode === 'cpu' ? cpu : gpu);
    expect([out.alarms[0]!.evaluationPeriods, out.alarms[0]!.datapointsToAlarm, out.alarms[0]!.comparison]).toEqual([1, 1, 'GreaterThanThreshold']);
    expect([inn.alarms[0]!.evaluationPeriods, inn.alarms[0]!.datapointsToAlarm, inn.alarms[0]!.comparison]).toEqual([5, 5, 'GreaterThanThreshold']);
    for (const p of [out, inn, zero]) {
      expect(p.cooldownAssumed).toBe(false);
      expect(p.cooldownSeconds).toBe(DEFAULT_SCALING_COOLDOWN_SECONDS);
      for (const m of Object.values(p.alarms[0]!.signal.metrics)) expect(m.periodSeconds).toBe(60);
    }
    expect(DEFAULT_SCALING_COOLDOWN_SECONDS).toBeGreaterThanOrEqual(MIN_SCALING_COOLDOWN_SECONDS + 60);
    expect(MIN_SCALING_COOLDOWN_SECONDS).toBe(60 + SCALING_METRIC_LAG_SECONDS);
    expect(spec).toMatchObject({ minCapacity: 0, maxCapacity: 50 });
  });

  it('steps cover every deficit and surplus without gaps: never more than the deficit added (at most +64), about half the surplus removed', () => {
    const { out, inn } = policiesOf(cpu);
    for (const steps of [out.steps, inn.steps]) {
      expect(steps[0]!.lower).toBe(0);
      expect(steps.at(-1)!.upper).toBe(Number.POSITIVE_INFINITY);
      for (let i = 1; i < steps.length; i++) expect(steps[i]!.lower).toBe(steps[i - 1]!.upper);
    }
    // Above a threshold of 0, a band includes its lower bound.
    const at = (steps: readonly { lower: number; upper: number; adjustment: number }[], v: number) => steps.find((s) => v >= s.lower && v < s.upper)!.adjustment;
    for (let e = 1; e <= 200; e++) {
      expect(at(out.steps, e)).toBeGreaterThan(0);
      expect(at(out.steps, e)).toBeLessThanOrEqual(Math.min(e, 64));
    }
    for (let surplus = 1; surplus <= 200; surplus++) {
      expect(-at(inn.steps, surplus)).toBeGreaterThanOrEqual(1);
      expect(-at(inn.steps, surplus)).toBeLessThanOrEqual(Math.max(1, Math.ceil(surplus / 2)));
    }
  });

  it('rejects a cooldown shorter than one period plus the metric lag', () => {
    expect(() => synth({ scalingCooldownSeconds: 90 })).toThrow(/scalingCooldownSeconds/);
  });

  it.each(['cpu', 'gpu'] as const)('%s: the service has no DesiredCount, so a deploy keeps the count autoscaling set; minTasks is the target\'s MinCapacity', (mode) => {
    const t = mode === 'cpu' ? cpu : gpu;
    const [[, service]] = ofType(t, 'AWS::ECS::Service') as [[string, Resource]];
    expect(service.Properties).not.toHaveProperty('DesiredCount');
    const withMin = synth({ workerMode: mode, minTasks: 2 });
    expect(ofType(withMin, 'AWS::ECS::Service')[0]![1].Properties).not.toHaveProperty('DesiredCount');
    expect(ofType(withMin, 'AWS::ApplicationAutoScaling::ScalableTarget')[0]![1].Properties.MinCapacity).toBe(2);
  });

  it.each(['cpu', 'gpu'] as const)('%s: a deploy starts each new task before it stops an old one (minimum healthy 100, maximum 200)', (mode) => {
    const [[, service]] = ofType(mode === 'cpu' ? cpu : gpu, 'AWS::ECS::Service') as [[string, Resource]];
    expect(service.Properties.DeploymentConfiguration).toMatchObject({ MinimumHealthyPercent: 100, MaximumPercent: 200 });
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
