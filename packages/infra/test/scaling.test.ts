// Issues 14, 18 and 23: the synthesized scaling (the scaling-signal Lambda's settings, the fallback, the warm pool),
// the service's deploy settings, queue retention, outbox shards, tenant index projection, route throttles and the
// drain-time alarm. Synthesized
// without bundling the handlers (they play no part here); stack.test.ts covers the bundled app and cdk-nag.
import { API_ROUTES, apiServiceName, DEFAULT_PHOTO_WORK, DEFAULT_WORK_COSTS, estimateWorkSeconds, TABLE_SCHEMA } from '@revive/contract';
import { SCALING_SIGNAL_METRICS, SCALING_SIGNAL_NAMESPACE, SCALING_SIGNAL_SERVICE } from '../src/scaling-signal/signal.js';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile } from '../bench/metric-math.js';
import { readScaling, readWorkerIdleProtectionSeconds, type AlarmSpec, type StepPolicySpec } from '../bench/policy.js';
import { createApp } from '../src/app.js';
import { DEFAULT_GPU_WARM_POOL_SIZE, DEFAULT_SECONDS_PER_JOB, GPU_START_SECONDS } from '../src/config.js';
import {
  DEFAULT_IDLE_PROTECTION_SECONDS,
  DEFAULT_SCALE_TO_ZERO_QUIET_MINUTES,
  DEFAULT_SCALING_COOLDOWN_SECONDS,
  GPU_INSTANCE_LINGER_SECONDS,
  MIN_SCALING_COOLDOWN_SECONDS,
  SCALING_METRIC_LAG_SECONDS,
  SCALING_SIGNAL_TIMEOUT_SECONDS,
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
let gpuCold: Json;
beforeAll(() => {
  cpu = synth({ workerMode: 'cpu', maxTasks: 50 });
  gpu = synth({ workerMode: 'gpu', maxTasks: 50 });
  gpuCold = synth({ workerMode: 'gpu', maxTasks: 50, gpuWarmPoolSize: 0 });
}, 180_000);

const signalFunctionId = (t: Json) => ofType(t, 'AWS::Lambda::Function').find(([, r]) => JSON.stringify(r.Properties).includes('REVIVE_SCALING'))![0];

describe('scaling on work', () => {
  const only = <T>(xs: readonly T[]): T => {
    expect(xs).toHaveLength(1);
    return xs[0]!;
  };
  const metricsOf = (alarm: AlarmSpec) => Object.values(alarm.signal.metrics).map((m) => `${m.namespace}/${m.metricName}`).sort();
  const alarmProps = (t: Json, id: string) => t.Resources[id]!.Properties;

  it.each(['cpu', 'gpu'] as const)('%s: the Lambda is told the per-unit costs, the bounds and the rules the bench replays', (mode) => {
    const t = mode === 'cpu' ? cpu : gpu;
    const vars = (t.Resources[signalFunctionId(t)]!.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(vars).toMatchObject({
      REVIVE_QUEUE_URL: { Ref: expect.stringMatching(/^JobsQueue/) },
      REVIVE_QUEUE_NAME: { 'Fn::GetAtt': [expect.stringMatching(/^JobsQueue/), 'QueueName'] },
      REVIVE_CLUSTER_NAME: { Ref: expect.stringMatching(/^WorkerCluster/) },
      REVIVE_SERVICE_NAME: { 'Fn::GetAtt': [expect.stringMatching(/^WorkerService/), 'Name'] },
      REVIVE_SENDER_SERVICES: apiServiceName('create-job'),
    });
    const settings = readScaling(t).signal!;
    expect(settings.options).toMatchObject({
      minTasks: 0,
      maxTasks: 50,
      concurrency: mode === 'cpu' ? 1 : 2,
      // The default photo at the mode's costs is what secondsPerJob says.
      defaultSecondsPerMessage: expect.closeTo(DEFAULT_SECONDS_PER_JOB[mode], 9),
      drainSeconds: mode === 'cpu' ? 120 : Math.ceil((GPU_START_SECONDS.cold + GPU_INSTANCE_LINGER_SECONDS) / 2),
      scaleInMinutes: 5,
      idleMinutesToZero: DEFAULT_SCALE_TO_ZERO_QUIET_MINUTES[mode],
    });
    expect(estimateWorkSeconds(DEFAULT_PHOTO_WORK, settings.workCosts)).toBeCloseTo(DEFAULT_SECONDS_PER_JOB[mode], 9);
    // secondsPerJob scales every per-unit cost alike.
    const doubled = readScaling(synth({ workerMode: mode, secondsPerJob: DEFAULT_SECONDS_PER_JOB[mode] * 2 })).signal!;
    expect(doubled.workCosts.secondsPerFace).toBeCloseTo(2 * settings.workCosts.secondsPerFace, 9);
    expect(doubled.workCosts.secondsPerOutputMegapixel).toBeCloseTo(2 * settings.workCosts.secondsPerOutputMegapixel, 9);
    // The default costs are DEFAULT_WORK_COSTS up to the rounding of secondsPerJob (cpu 2.344 s → 2.34).
    expect(settings.workCosts.secondsPerFace).toBeCloseTo(DEFAULT_WORK_COSTS[mode].secondsPerFace, 2);
  });

  it.each(['cpu', 'gpu'] as const)('%s: the Lambda runs every minute, one at a time, never retried, within its minute', (mode) => {
    const t = mode === 'cpu' ? cpu : gpu;
    const fnId = signalFunctionId(t);
    expect(t.Resources[fnId]!.Properties).toMatchObject({ Timeout: SCALING_SIGNAL_TIMEOUT_SECONDS, ReservedConcurrentExecutions: 1 });
    expect(SCALING_SIGNAL_TIMEOUT_SECONDS).toBeLessThan(60);
    const rules = ofType(t, 'AWS::Events::Rule').filter(([, r]) => JSON.stringify(r.Properties.Targets).includes(fnId));
    expect(only(rules)[1].Properties).toMatchObject({
      ScheduleExpression: 'rate(1 minute)',
      Targets: [{ Arn: { 'Fn::GetAtt': [fnId, 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 0 } }],
    });
    const invokeConfig = ofType(t, 'AWS::Lambda::EventInvokeConfig').find(([, r]) => JSON.stringify(r.Properties.FunctionName).includes(fnId));
    expect(invokeConfig?.[1].Properties.MaximumRetryAttempts).toBe(0);
  });

  it.each(['cpu', 'gpu'] as const)('%s: the Lambda may read the queue, the service and metric points, set the one service\'s count, write its logs, and nothing else', (mode) => {
    const t = mode === 'cpu' ? cpu : gpu;
    const fnId = signalFunctionId(t);
    const roleId = (t.Resources[fnId]!.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const policies = ofType(t, 'AWS::IAM::Policy').filter(([, r]) => JSON.stringify(r.Properties.Roles) === JSON.stringify([{ Ref: roleId }]));
    const statements = policies.flatMap(([, r]) => (r.Properties.PolicyDocument as { Statement: { Action: unknown; Resource: unknown }[] }).Statement);
    const serviceId = ofType(t, 'AWS::ECS::Service')[0]![0];
    const queueId = ofType(t, 'AWS::SQS::Queue').find(([id]) => id.startsWith('JobsQueue'))![0];
    expect(statements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Action: 'sqs:GetQueueAttributes', Resource: { 'Fn::GetAtt': [queueId, 'Arn'] } }),
        expect.objectContaining({ Action: 'ecs:DescribeServices', Resource: { Ref: serviceId } }),
        expect.objectContaining({ Action: 'ecs:UpdateService', Resource: { Ref: serviceId } }),
        expect.objectContaining({ Action: 'cloudwatch:GetMetricData', Resource: '*' }),
        expect.objectContaining({ Action: ['logs:CreateLogStream', 'logs:PutLogEvents'] }),
      ]),
    );
    expect(statements).toHaveLength(5);
    expect(JSON.stringify(statements)).not.toContain('cloudwatch:PutMetricData');
    expect(t.Resources[roleId]!.Properties.ManagedPolicyArns).toBeUndefined();
  });

  it.each(['cpu', 'gpu'] as const)('%s: one policy without the Lambda: a fallback scale-out on SQS and Container Insights that acts only while the signal is missing', (mode) => {
    const t = mode === 'cpu' ? cpu : gpu;
    const spec = readScaling(t);
    const policy = only(spec.policies) as StepPolicySpec;
    expect(policy.adjustmentType).toBe('ChangeInCapacity');
    expect(policy.steps.every((s) => s.adjustment > 0)).toBe(true);
    const alarm = only(policy.alarms);
    expect(metricsOf(alarm)).toEqual([
      'AWS/SQS/ApproximateNumberOfMessagesNotVisible',
      'AWS/SQS/ApproximateNumberOfMessagesVisible',
      'AWS/SQS/NumberOfMessagesSent',
      'ECS/ContainerInsights/DesiredTaskCount',
      `${SCALING_SIGNAL_NAMESPACE}/${SCALING_SIGNAL_METRICS.wantedTasks}`,
    ]);
    expect([alarm.comparison, alarm.threshold, alarm.evaluationPeriods, alarm.treatMissingData]).toEqual(['GreaterThanThreshold', 0, 1, 'notBreaching']);
    const deficit = compile(alarm.signal.expression);
    const perJob = DEFAULT_SECONDS_PER_JOB[mode];
    const drain = spec.signal!.options.drainSeconds;
    const c = spec.signal!.options.concurrency;
    // The signal is there: the fallback does nothing, whatever the queue says.
    expect(deficit({ signal: 1, visible: 500, held: 0, sent: 500, desired: 0 })).toBe(0);
    // It is missing (FILL: no point at all): from zero, the drain's tasks for the jobs waiting; a burst's one
    // minute of sends is not taken for a rate beyond doubling the fleet.
    const drainTasks = Math.min(Math.ceil((500 * perJob) / drain), Math.ceil(500 / c));
    expect(deficit({ signal: undefined, visible: 500, held: 0, sent: 500, desired: 0 })).toBe(Math.max(drainTasks, 1));
    expect(deficit({ signal: undefined, visible: 1, held: 0, sent: undefined, desired: undefined })).toBe(1);
    // A steady rate above what the queue shows: the tasks that keep up with it, at most 2 × desired + 1.
    const sentFor = (tasks: number) => Math.floor((tasks * 60) / perJob);
    const rateOf = (sent: number) => Math.ceil((sent * perJob) / 60);
    expect(deficit({ signal: undefined, visible: 0, held: 4, sent: sentFor(30), desired: 2 })).toBe(2 * 2 + 1 - 2);
    expect(deficit({ signal: undefined, visible: 0, held: 4, sent: sentFor(50), desired: 40 })).toBe(rateOf(sentFor(50)) - 40);
    // Never negative in effect: a surplus is not breaching, so the fallback never removes a task.
    expect(deficit({ signal: undefined, visible: 0, held: 1, sent: 0, desired: 10 })).toBeLessThan(0);
    expect(policy.cooldownSeconds).toBe(DEFAULT_SCALING_COOLDOWN_SECONDS);
    expect(DEFAULT_SCALING_COOLDOWN_SECONDS).toBeGreaterThanOrEqual(MIN_SCALING_COOLDOWN_SECONDS + 60);
    expect(MIN_SCALING_COOLDOWN_SECONDS).toBe(60 + SCALING_METRIC_LAG_SECONDS);
    // Its steps never add more than the deficit (at most +64).
    const at = (v: number) => policy.steps.find((x) => v >= x.lower && v < x.upper)!.adjustment;
    for (let e = 1; e <= 200; e++) expect(at(e)).toBeLessThanOrEqual(Math.min(e, 64));
  });

  it.each(['cpu', 'gpu'] as const)('%s: pages through the alarm topic when the Lambda has published nothing for 3 minutes', (mode) => {
    const t = mode === 'cpu' ? cpu : gpu;
    const [[id, alarm]] = ofType(t, 'AWS::CloudWatch::Alarm').filter(([id]) => id.includes('SignalMissing')) as [[string, Resource]];
    expect(alarm.Properties).toMatchObject({
      MetricName: SCALING_SIGNAL_METRICS.wantedTasks,
      Namespace: SCALING_SIGNAL_NAMESPACE,
      Statistic: 'SampleCount',
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
      EvaluationPeriods: SIGNAL_MISSING_ALARM_MINUTES,
      TreatMissingData: 'breaching',
    });
    expect(alarm.Properties.Dimensions).toEqual([
      { Name: 'ServiceName', Value: { 'Fn::GetAtt': [expect.stringMatching(/^WorkerService/), 'Name'] } },
      { Name: 'service', Value: SCALING_SIGNAL_SERVICE },
    ]);
    const [[topicId]] = ofType(t, 'AWS::SNS::Topic') as [[string, Resource]];
    expect(alarmProps(t, id).AlarmActions).toEqual([{ Ref: topicId }]);
  });

  it.each(['cpu', 'gpu'] as const)('%s: the idle window the tasks hold is the one the Lambda counts on, from one setting', (mode) => {
    const t = mode === 'cpu' ? cpu : gpu;
    expect(readWorkerIdleProtectionSeconds(t as never)).toBe(DEFAULT_IDLE_PROTECTION_SECONDS[mode]);
    expect(readScaling(t as never).signal!.options.idleProtectionSeconds).toBe(DEFAULT_IDLE_PROTECTION_SECONDS[mode]);
    // At least the minute: the fleet never reaches zero within a minute of a send.
    expect(DEFAULT_IDLE_PROTECTION_SECONDS[mode]).toBeGreaterThanOrEqual(60);
    const off = synth({ workerMode: mode, idleProtectionSeconds: 0 });
    expect([readWorkerIdleProtectionSeconds(off as never), readScaling(off as never).signal!.options.idleProtectionSeconds]).toEqual([0, 0]);
    const long = synth({ workerMode: mode, idleProtectionSeconds: 240 });
    expect([readWorkerIdleProtectionSeconds(long as never), readScaling(long as never).signal!.options.idleProtectionSeconds]).toEqual([240, 240]);
    expect(() => synth({ workerMode: mode, idleProtectionSeconds: -1 })).toThrow(/idleProtectionSeconds/);
  });

  it('refuses an idle window of 1–59 s (the fleet could reach zero within a minute of a send) and accepts 0 or a minute', () => {
    for (const idleProtectionSeconds of [1, 20, 59]) {
      expect(() => synth({ idleProtectionSeconds })).toThrow(/idleProtectionSeconds[\s\S]*0 \(off\) or at least 60 s/);
    }
    const minute = synth({ idleProtectionSeconds: 60 });
    expect([readWorkerIdleProtectionSeconds(minute as never), readScaling(minute as never).signal!.options.idleProtectionSeconds]).toEqual([60, 60]);
  });

  it('scaleToZeroQuietMinutes and scaleInEvaluationPeriods reach the Lambda; a cooldown shorter than a period plus the lag is refused', () => {
    expect(readScaling(synth({ workerMode: 'gpu', scaleToZeroQuietMinutes: 30, scaleInEvaluationPeriods: 12 })).signal!.options).toMatchObject({ idleMinutesToZero: 30, scaleInMinutes: 12 });
    expect(() => synth({ scaleToZeroQuietMinutes: 0 })).toThrow(/scaleToZeroQuietMinutes/);
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

  it('gpu: a warm pool of 2 stopped, pre-initialised instances by default (0 turns it off), with the agent told to wait for it', () => {
    expect(DEFAULT_GPU_WARM_POOL_SIZE).toBe(2);
    expect(ofType(gpuCold, 'AWS::AutoScaling::WarmPool')).toHaveLength(0);
    expect(ofType(cpu, 'AWS::AutoScaling::WarmPool')).toHaveLength(0);
    const pools = ofType(gpu, 'AWS::AutoScaling::WarmPool');
    expect(pools.map(([, r]) => r.Properties)).toEqual([expect.objectContaining({ MinSize: 2, MaxGroupPreparedCapacity: 2, InstanceReusePolicy: { ReuseOnScaleIn: true } })]);
    expect(JSON.stringify(ofType(gpu, 'AWS::EC2::LaunchTemplate'))).toContain('ECS_WARM_POOLS_CHECK=true');
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
    // Every route of the contract's table, each with a throttle of its own.
    expect(Object.keys(routes).sort()).toEqual(API_ROUTES.map((route) => `${route.method} ${route.path}`).sort());
    expect(routes['POST /jobs']).toEqual({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 });
    expect(routes['GET /jobs']!.ThrottlingRateLimit).toBeLessThan(routes['POST /jobs']!.ThrottlingRateLimit);
    // The stage is created after the routes its settings name.
    const stageId = ofType(cpu, 'AWS::ApiGatewayV2::Stage')[0]![0];
    const routeIds = ofType(cpu, 'AWS::ApiGatewayV2::Route').map(([id]) => id);
    expect(cpu.Resources[stageId] as unknown as { DependsOn: string[] }).toMatchObject({ DependsOn: expect.arrayContaining(routeIds) });
  });

  it('pages when the queued and running work would take longer than an hour to clear at maxTasks, in seconds of work', () => {
    const drain = ofType(cpu, 'AWS::CloudWatch::Alarm').find(([id]) => id.includes('DrainTime'));
    expect(drain).toBeDefined();
    const p = drain![1].Properties;
    expect(p.Threshold).toBe(3600);
    const expression = (p.Metrics as { Expression?: string }[]).find((m) => m.Expression)!.Expression!;
    // 50 ten-minute jobs are 30,000 task-seconds: 600 s at 50 tasks, whatever their count.
    expect(compile(expression)({ work: 30_000, visible: 0, inFlight: 50 })).toBeCloseTo(600, 6);
    expect(compile(expression)({ work: 200_000, visible: 10, inFlight: 50 })).toBeGreaterThan(3600);
    // Without the signal, at the default photo: 50 tasks at 2.34 s a job clear 21.4 jobs/s; 80,000 queued and 50
    // running take an hour and a bit.
    const perJob = DEFAULT_SECONDS_PER_JOB.cpu;
    expect(compile(expression)({ work: undefined, visible: 80_000, inFlight: 50 })).toBeCloseTo(80_050 / (50 / perJob), 3);
    expect(compile(expression)({ work: undefined, visible: 80_000, inFlight: 50 })).toBeGreaterThan(3600);
  });
});
