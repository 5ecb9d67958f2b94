import {
  API_METRICS,
  API_SERVICE_NAME,
  BUCKET_PREFIXES,
  SEGMENTS_PREFIX,
  DEFAULT_MAX_RECEIVE_COUNT,
  DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
  DEFAULT_VISIBILITY_TIMEOUT_SECONDS,
  HEALTHCHECK_INTERVAL_SECONDS,
  HEALTHCHECK_RETRIES,
  HEALTHCHECK_START_PERIOD_SECONDS,
  HEALTHCHECK_TIMEOUT_SECONDS,
  METRICS_NAMESPACE,
  TABLE_SCHEMA,
  webhookSecretSchema,
  WORKER_METRICS,
  WORKER_SERVICE_NAME,
} from '@revive/contract';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { CURRENTLY_RECOMMENDED_FLAGS } from 'aws-cdk-lib/cx-api';
import { beforeAll, describe, expect, it } from 'vitest';
import { API_HANDLERS, API_SCHEDULES, HTTP_API_ROUTES } from '../src/api.js';
import { createApp, pinnedFeatureFlags } from '../src/app.js';
import { loadReviveConfig, MAX_STOP_TIMEOUT_SECONDS } from '../src/config.js';
import { ALARM_MAX_METRICS, UNHEALTHY_STOPS_METRIC } from '../src/monitoring.js';
import { MIN_MAX_RECEIVE_COUNT } from '../src/queue.js';
import { ABORT_INCOMPLETE_UPLOAD_DAYS, SEGMENT_EXPIRY_DAYS } from '../src/storage.js';
import { FARGATE_EPHEMERAL_STORAGE_GIB, GPU_ROOT_VOLUME_GIB, WEBHOOK_SECRET_CHARS, WORKER_DOCKERFILES, WORKER_VIDEO_SCRATCH_GIB } from '../src/worker.js';
import { BASE_CONTEXT, CONCRETE_ENV, synthesize, type Synthesized } from './synth.js';

type Resource = { Type: string; Properties: Record<string, unknown>; Metadata?: Record<string, unknown> };

function resources(t: Template, type: string): [string, Resource][] {
  return Object.entries(t.findResources(type) as Record<string, Resource>);
}
function only(t: Template, type: string, props: Record<string, unknown> = {}): [string, Resource] {
  const found = Object.entries(t.findResources(type, { Properties: props }) as Record<string, Resource>);
  expect(found, `${type} matching ${JSON.stringify(props)}`).toHaveLength(1);
  return found[0]!;
}
const logicalId = (s: Synthesized, construct: { node: { defaultChild?: unknown } }) =>
  s.stack.resolve((construct.node.defaultChild as { logicalId: string }).logicalId) as string;

/** Every IAM policy document in the template: inline role policies and AWS::IAM::Policy. */
function policyStatements(t: Template): { where: string; statement: Record<string, unknown> }[] {
  const out: { where: string; statement: Record<string, unknown> }[] = [];
  for (const [id, r] of resources(t, 'AWS::IAM::Policy')) {
    const doc = r.Properties.PolicyDocument as { Statement: Record<string, unknown>[] };
    for (const statement of doc.Statement) out.push({ where: id, statement });
  }
  for (const [id, r] of resources(t, 'AWS::IAM::Role')) {
    for (const p of (r.Properties.Policies as { PolicyDocument: { Statement: Record<string, unknown>[] } }[] | undefined) ?? []) {
      for (const statement of p.PolicyDocument.Statement) out.push({ where: id, statement });
    }
  }
  return out;
}
const asList = (v: unknown): unknown[] => (Array.isArray(v) ? v : [v]);
/** Allowed actions of the policy attached to a role. */
function actionsOfRole(t: Template, roleId: string): string[] {
  return resources(t, 'AWS::IAM::Policy')
    .filter(([, r]) => JSON.stringify(r.Properties.Roles).includes(`"${roleId}"`))
    .flatMap(([, r]) => (r.Properties.PolicyDocument as { Statement: { Action: unknown; Effect: string }[] }).Statement)
    .filter((s) => s.Effect === 'Allow')
    .flatMap((s) => asList(s.Action) as string[])
    .sort();
}
function statementsOfRole(t: Template, roleId: string): { Action: unknown; Resource: unknown }[] {
  return resources(t, 'AWS::IAM::Policy')
    .filter(([, r]) => JSON.stringify(r.Properties.Roles).includes(`"${roleId}"`))
    .flatMap(([, r]) => (r.Properties.PolicyDocument as { Statement: { Action: unknown; Resource: unknown }[] }).Statement);
}

let cpu: Synthesized;
let gpu: Synthesized;
/** The same two apps with a concrete account and region, as the CDK CLI always synthesizes them. */
let cpuInRegion: Synthesized;
let gpuInRegion: Synthesized;
const GPU_CONTEXT = { workerMode: 'gpu', gpuInstanceType: 'g5.2xlarge', minTasks: '1' } as const;
beforeAll(() => {
  // One synthesis per mode and environment, shared by every test (each runs esbuild for seven handlers).
  cpu = synthesize({ workerMode: 'cpu' });
  gpu = synthesize(GPU_CONTEXT);
  cpuInRegion = synthesize({ workerMode: 'cpu' }, CONCRETE_ENV);
  gpuInRegion = synthesize(GPU_CONTEXT, CONCRETE_ENV);
}, 600_000);
/** Every synthesis, by name, for tests that must hold in each. */
const VARIANTS = ['cpu', 'gpu', 'cpu in region', 'gpu in region'] as const;
const variant = (name: (typeof VARIANTS)[number]): Synthesized =>
  ({ cpu, gpu, 'cpu in region': cpuInRegion, 'gpu in region': gpuInRegion })[name];

describe('cdk-nag (AwsSolutions, v3 validation plugin)', () => {
  it.each(VARIANTS)('%s has no unacknowledged findings, and every acknowledgement has a reason', (name) => {
    const report = variant(name).validationReport;
    const nag = report.pluginReports.find((p) => p.pluginName === 'AwsSolutions');
    expect(nag, 'the AwsSolutions plugin ran').toBeDefined();
    expect(nag!.violations.map((v) => v.ruleName)).toEqual([]);
    expect(nag!.conclusion).toBe('success');
    const suppressed = nag!.suppressedViolations ?? [];
    expect(suppressed.length).toBeGreaterThan(0);
    for (const v of suppressed) expect(v.reason?.length ?? 0, v.ruleName).toBeGreaterThan(40);
    // Every other plugin (CDK's own template checks) is clean too.
    for (const p of report.pluginReports) expect(p.violations.filter((v) => v.severity === 'error'), p.pluginName).toEqual([]);
  });
});

describe('storage', () => {
  it('encrypts the job bucket, blocks public access and sends access logs to a log bucket', () => {
    const [, bucket] = only(cpu.template, 'AWS::S3::Bucket', { LoggingConfiguration: Match.anyValue() });
    expect(bucket.Properties.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    });
    expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
  });

  it('denies every request to the job bucket that does not use TLS', () => {
    const bucketId = logicalId(cpu, cpu.stack.storage.bucket);
    const [, policy] = only(cpu.template, 'AWS::S3::BucketPolicy', { Bucket: { Ref: bucketId } });
    const statements = (policy.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement;
    const deny = statements.find((s) => s.Effect === 'Deny' && JSON.stringify(s.Condition).includes('aws:SecureTransport'));
    expect(deny).toMatchObject({
      Action: 's3:*',
      Principal: { AWS: '*' },
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    });
    expect(JSON.stringify(deny!.Resource)).toContain(bucketId);
  });

  it('expires uploads and results after the configured days', () => {
    const [, bucket] = only(cpu.template, 'AWS::S3::Bucket', { LoggingConfiguration: Match.anyValue() });
    const rules = (bucket.Properties.LifecycleConfiguration as { Rules: Record<string, unknown>[] }).Rules;
    expect(rules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Prefix: BUCKET_PREFIXES.uploads, ExpirationInDays: BASE_CONTEXT.uploadExpiryDays, Status: 'Enabled' }),
        // resultExpiryDays defaults to jobTtlDays.
        expect.objectContaining({ Prefix: BUCKET_PREFIXES.results, ExpirationInDays: BASE_CONTEXT.jobTtlDays, Status: 'Enabled' }),
        // A video's segments, should the fan-in never delete them; album ZIPs are results.
        expect.objectContaining({ Prefix: SEGMENTS_PREFIX, ExpirationInDays: SEGMENT_EXPIRY_DAYS, Status: 'Enabled' }),
        // A video upload the browser abandoned, a ZIP or segment whose worker died mid-upload.
        expect.objectContaining({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: ABORT_INCOMPLETE_UPLOAD_DAYS }, Status: 'Enabled' }),
      ]),
    );
  });

  it('allows presigned POST uploads from the configured origins only', () => {
    const [, bucket] = only(cpu.template, 'AWS::S3::Bucket', { LoggingConfiguration: Match.anyValue() });
    const [rule] = (bucket.Properties.CorsConfiguration as { CorsRules: Record<string, unknown>[] }).CorsRules;
    expect(rule!.AllowedOrigins).toEqual(BASE_CONTEXT.corsAllowedOrigins.split(','));
    expect(rule!.AllowedMethods).toContain('POST');
    // A video's parts are PUT, and the browser reads each part's ETag to complete the upload.
    expect(rule!.AllowedMethods).toContain('PUT');
    expect(rule!.ExposedHeaders).toContain('ETag');
  });

  it('creates the table on demand with PITR, the TTL attribute, the tenant index and the sparse pending-enqueue index from the contract', () => {
    cpu.template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: TABLE_SCHEMA.partitionKey, KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: TABLE_SCHEMA.ttlAttribute, Enabled: true },
      Replicas: [Match.objectLike({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } })],
      GlobalSecondaryIndexes: [
        {
          IndexName: TABLE_SCHEMA.tenantIndex.name,
          KeySchema: [
            { AttributeName: TABLE_SCHEMA.tenantIndex.partitionKey, KeyType: 'HASH' },
            { AttributeName: TABLE_SCHEMA.tenantIndex.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...TABLE_SCHEMA.tenantIndex.projected] },
        },
        {
          IndexName: TABLE_SCHEMA.pendingIndex.name,
          KeySchema: [
            { AttributeName: TABLE_SCHEMA.pendingIndex.partitionKey, KeyType: 'HASH' },
            { AttributeName: TABLE_SCHEMA.pendingIndex.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        },
      ],
      // The sweeper's range condition compares epoch milliseconds: the sort key must be a Number.
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: TABLE_SCHEMA.pendingIndex.partitionKey, AttributeType: 'S' },
        { AttributeName: TABLE_SCHEMA.pendingIndex.sortKey, AttributeType: 'N' },
      ]),
    });
  });
});

describe('queue', () => {
  it('encrypts both queues and redrives to the DLQ after the contract maxReceiveCount (≥ 3)', () => {
    const dlqId = logicalId(cpu, cpu.stack.jobQueue.deadLetterQueue);
    const [, queue] = only(cpu.template, 'AWS::SQS::Queue', { RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] } } });
    expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
    expect(queue.Properties.RedrivePolicy).toEqual({
      deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
      maxReceiveCount: DEFAULT_MAX_RECEIVE_COUNT,
    });
    expect(DEFAULT_MAX_RECEIVE_COUNT).toBeGreaterThanOrEqual(MIN_MAX_RECEIVE_COUNT);
    cpu.template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 86_400 });
    // TLS only on every queue (the job queue, the webhook-retry queue and their DLQs).
    const policies = resources(cpu.template, 'AWS::SQS::QueuePolicy');
    expect(policies).toHaveLength(resources(cpu.template, 'AWS::SQS::Queue').length);
    for (const [, p] of policies) expect(JSON.stringify(p.Properties.PolicyDocument)).toContain('"aws:SecureTransport":"false"');
  });

  it('uses a visibility timeout the worker heartbeat extends, and tells the worker the same numbers', () => {
    const [, queue] = only(cpu.template, 'AWS::SQS::Queue', { RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(cpu, cpu.stack.jobQueue.deadLetterQueue), 'Arn'] } } });
    expect(queue.Properties.VisibilityTimeout).toBe(DEFAULT_VISIBILITY_TIMEOUT_SECONDS);
    const env = containerEnv(cpu.template);
    expect(env.REVIVE_VISIBILITY_TIMEOUT_SECONDS).toBe(String(DEFAULT_VISIBILITY_TIMEOUT_SECONDS));
    expect(env.REVIVE_MAX_RECEIVE_COUNT).toBe(String(DEFAULT_MAX_RECEIVE_COUNT));
  });

  it('rejects a maxReceiveCount below 3', async () => {
    const { Stack } = await import('aws-cdk-lib');
    const { JobQueue } = await import('../src/queue.js');
    expect(() => new JobQueue(new Stack(), 'Q', { maxReceiveCount: 2 })).toThrow(/maxReceiveCount must be a whole number ≥ 3/);
  });
});

describe('api', () => {
  it('protects every route but GET /openapi.json with a JWT authorizer from context', () => {
    const [authId] = only(cpu.template, 'AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      JwtConfiguration: { Issuer: BASE_CONTEXT.jwtIssuer, Audience: BASE_CONTEXT.jwtAudience.split(',') },
      IdentitySource: ['$request.header.Authorization'],
    });
    const routes = resources(cpu.template, 'AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties);
    expect(routes.map((r) => r.RouteKey).sort()).toEqual(HTTP_API_ROUTES.map((r) => `${r.method} ${r.path}`).sort());
    for (const r of routes) {
      if (r.RouteKey === 'GET /openapi.json') {
        expect(r.AuthorizationType).toBe('NONE');
      } else {
        expect(r.AuthorizationType, String(r.RouteKey)).toBe('JWT');
        expect(r.AuthorizerId).toEqual({ Ref: authId });
      }
    }
  });

  it('has CORS for the configured origins, stage throttling and access logs', () => {
    cpu.template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: Match.objectLike({
        AllowOrigins: BASE_CONTEXT.corsAllowedOrigins.split(','),
        AllowHeaders: ['authorization', 'content-type', 'idempotency-key'],
        // A browser client can only back off by Retry-After, and read POST /jobs' Location, if they are exposed.
        ExposeHeaders: ['retry-after', 'location', 'idempotent-replayed'],
      }),
    });
    const [, stage] = only(cpu.template, 'AWS::ApiGatewayV2::Stage');
    expect(stage.Properties.DefaultRouteSettings).toEqual({ ThrottlingBurstLimit: 100, ThrottlingRateLimit: 50 });
    const accessLogs = logicalId(cpu, cpu.stack.api.accessLogGroup);
    expect(stage.Properties.AccessLogSettings).toMatchObject({ DestinationArn: { 'Fn::GetAtt': [accessLogs, 'Arn'] } });
  });

  it('runs every handler as a bundled NodejsFunction on nodejs22.x with the API environment', () => {
    const all = resources(cpu.template, 'AWS::Lambda::Function');
    // Besides the handlers, one CDK provider that strips the VPC default security group's rules (the pinned
    // @aws-cdk/aws-ec2:restrictDefaultSecurityGroup flag); it runs at deploy time only.
    // and the DLQ consumer, which is the worker's code rather than an API handler (test/dead-letters.test.ts).
    // And the scaling signal (the worker's code too, asserted in scaling.test.ts).
    const deadLetters = logicalId(cpu, cpu.stack.deadLetters.function);
    // And the webhook-retry consumer, the worker's code too (test/webhook-retries.test.ts).
    const webhookRetries = logicalId(cpu, cpu.stack.webhookRetries.function);
    const signal = logicalId(cpu, cpu.stack.worker.scaling.signalFunction);
    const fns = all.filter(([id]) => !id.startsWith('CustomVpcRestrictDefaultSG') && id !== deadLetters && id !== webhookRetries && id !== signal);
    expect(all.length - fns.length).toBe(4);
    // One per routed handler and the outbox sweeper.
    expect([...API_HANDLERS].sort()).toEqual([...new Set([...HTTP_API_ROUTES.map((r) => r.handler), 'sweep-enqueue'])].sort());
    expect(fns).toHaveLength(API_HANDLERS.length);
    // Every handler is reached by a route or a schedule, and only the sweeper has no route.
    expect(API_HANDLERS.filter((h) => !HTTP_API_ROUTES.some((r) => r.handler === h))).toEqual(['sweep-enqueue']);
    expect(API_SCHEDULES.map((s) => s.handler)).toEqual(['sweep-enqueue']);
    for (const [, fn] of fns) {
      expect(fn.Properties).toMatchObject({ Runtime: 'nodejs22.x', Handler: 'index.handler' });
      const vars = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(Object.keys(vars)).toEqual(expect.arrayContaining(['REVIVE_QUEUE_URL', 'REVIVE_TABLE_NAME', 'REVIVE_BUCKET_NAME']));
      // An asset bundled by esbuild (an S3 asset), not inline code.
      expect((fn.Properties.Code as Record<string, unknown>).S3Key).toBeDefined();
    }
  });
});

describe('outbox sweeper', () => {
  it('runs sweep-enqueue every minute from an EventBridge rule that may invoke it and nothing else', () => {
    const fnId = logicalId(cpu, cpu.stack.api.functions['sweep-enqueue']);
    // The scaling signal has its own one-minute rule (scaling.test.ts); this one is the sweeper's.
    const sweeperRules = resources(cpu.template, 'AWS::Events::Rule').filter(([, r]) => JSON.stringify(r.Properties.Targets).includes(`"${fnId}"`));
    expect(sweeperRules).toHaveLength(1);
    const [ruleId, rule] = sweeperRules[0]!;
    expect(rule.Properties.ScheduleExpression).toBe('rate(1 minute)');
    expect(rule.Properties.State).toBe('ENABLED');
    const ruleTargets = rule.Properties.Targets as { Arn: unknown; RetryPolicy?: unknown }[];
    expect(ruleTargets).toHaveLength(1);
    expect(ruleTargets[0]!.Arn).toEqual({ 'Fn::GetAtt': [fnId, 'Arn'] });
    const permissions = resources(cpu.template, 'AWS::Lambda::Permission').filter(
      ([, p]) => p.Properties.Principal === 'events.amazonaws.com' && JSON.stringify(p.Properties.FunctionName).includes(`"${fnId}"`),
    );
    expect(permissions).toHaveLength(1);
    expect(permissions[0]![1].Properties).toMatchObject({
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [fnId, 'Arn'] },
      SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] },
    });
    // No route reaches the sweeper.
    const integrations = JSON.stringify(resources(cpu.template, 'AWS::ApiGatewayV2::Integration'));
    expect(integrations).not.toContain(fnId);
  });
});

function containerDefinition(t: Template): Record<string, unknown> {
  const [, task] = only(t, 'AWS::ECS::TaskDefinition');
  const defs = task.Properties.ContainerDefinitions as Record<string, unknown>[];
  expect(defs).toHaveLength(1);
  return defs[0]!;
}
function containerEnv(t: Template): Record<string, unknown> {
  const env = containerDefinition(t).Environment as { Name: string; Value: unknown }[];
  return Object.fromEntries(env.map((e) => [e.Name, e.Value]));
}

describe('worker', () => {
  it.each(['cpu', 'gpu'] as const)('%s: builds the image from its Dockerfile with the repository root as context', (mode) => {
    const s = mode === 'cpu' ? cpu : gpu;
    const images = Object.values(s.assets.dockerImages);
    expect(images).toHaveLength(1);
    expect(images[0]!.source.dockerFile).toBe(WORKER_DOCKERFILES[mode]);
    expect(WORKER_DOCKERFILES[mode]).toBe(mode === 'cpu' ? 'packages/worker/Dockerfile' : 'packages/worker/Dockerfile.gpu');
    expect(images[0]!.source.platform).toBe('linux/amd64');
  });

  it.each(['cpu', 'gpu'] as const)('%s: health check runs `revive healthcheck` with the contract timings', (mode) => {
    const def = containerDefinition((mode === 'cpu' ? cpu : gpu).template);
    expect(def.HealthCheck).toEqual({
      Command: ['CMD', 'revive', 'healthcheck'],
      Interval: HEALTHCHECK_INTERVAL_SECONDS,
      Timeout: HEALTHCHECK_TIMEOUT_SECONDS,
      Retries: HEALTHCHECK_RETRIES,
      StartPeriod: HEALTHCHECK_START_PERIOD_SECONDS,
    });
    expect(JSON.stringify(def.HealthCheck)).not.toMatch(/exit 0/);
    // An init process reaps the health-check processes.
    expect(def.LinuxParameters).toMatchObject({ InitProcessEnabled: true });
  });

  it.each(['cpu', 'gpu'] as const)('%s: stopTimeout covers the SIGTERM budget within ECS limits', (mode) => {
    const s = mode === 'cpu' ? cpu : gpu;
    const def = containerDefinition(s.template);
    const env = containerEnv(s.template);
    expect(env.REVIVE_SHUTDOWN_TIMEOUT_SECONDS).toBe(String(DEFAULT_SHUTDOWN_TIMEOUT_SECONDS));
    expect(def.StopTimeout).toBeGreaterThanOrEqual(DEFAULT_SHUTDOWN_TIMEOUT_SECONDS);
    expect(def.StopTimeout).toBeLessThanOrEqual(MAX_STOP_TIMEOUT_SECONDS);
    // The only secret is injected from Secrets Manager, not set as plain text.
    expect(def.Secrets).toEqual([{ Name: 'REVIVE_WEBHOOK_SECRET', ValueFrom: { Ref: logicalId(s, s.stack.worker.webhookSecret) } }]);
  });

  it('generates a webhook secret the worker takes as a Standard Webhooks key: letters and digits, base64 of 24 to 64 bytes', () => {
    const [, secret] = only(cpu.template, 'AWS::SecretsManager::Secret', { GenerateSecretString: Match.anyValue() });
    const generate = (secret.Properties as { GenerateSecretString: { PasswordLength: number; ExcludePunctuation?: boolean; IncludeSpace?: boolean } }).GenerateSecretString;
    expect(generate).toEqual({ PasswordLength: WEBHOOK_SECRET_CHARS, ExcludePunctuation: true });
    // Without punctuation Secrets Manager draws from letters and digits only; any such string of this length is
    // canonical base64 of a key within the bounds, so two samples of that alphabet stand for every value.
    for (const value of ['A'.repeat(generate.PasswordLength), '9'.repeat(generate.PasswordLength)]) {
      expect(webhookSecretSchema.safeParse(value).success).toBe(true);
      expect(webhookSecretSchema.safeParse(`whsec_${value}`).success).toBe(true);
    }
  });

  it('cpu: runs on Fargate with the configured size', () => {
    const [, task] = only(cpu.template, 'AWS::ECS::TaskDefinition');
    expect(task.Properties).toMatchObject({ RequiresCompatibilities: ['FARGATE'], Cpu: '2048', Memory: '4096', NetworkMode: 'awsvpc' });
    // Disk for a video's segments and fan-in (WORKER_VIDEO_SCRATCH_GIB) beside the image: above Fargate's 20 GiB.
    expect(task.Properties.EphemeralStorage).toEqual({ SizeInGiB: FARGATE_EPHEMERAL_STORAGE_GIB });
    expect(FARGATE_EPHEMERAL_STORAGE_GIB).toBeGreaterThanOrEqual(20 + WORKER_VIDEO_SCRATCH_GIB);
    cpu.template.hasResourceProperties('AWS::ECS::Service', { LaunchType: 'FARGATE' });
    expect(containerEnv(cpu.template).REVIVE_DEVICE).toBe('cpu');
    cpu.template.resourceCountIs('AWS::AutoScaling::AutoScalingGroup', 0);
    cpu.template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
  });

  it('gpu: runs on EC2 GPU instances from the Amazon Linux 2023 ECS GPU AMI through an ASG capacity provider', () => {
    const def = containerDefinition(gpu.template);
    expect(def.ResourceRequirements).toEqual([{ Type: 'GPU', Value: '1' }]);
    expect(containerEnv(gpu.template).REVIVE_DEVICE).toBe('cuda');
    const [, task] = only(gpu.template, 'AWS::ECS::TaskDefinition');
    expect(task.Properties.RequiresCompatibilities).toEqual(['EC2']);

    const [, lt] = only(gpu.template, 'AWS::EC2::LaunchTemplate');
    const data = lt.Properties.LaunchTemplateData as { InstanceType: string; ImageId: { Ref: string }; MetadataOptions: unknown };
    expect(data.InstanceType).toBe('g5.2xlarge');
    expect(data.InstanceType).toMatch(/^(g4dn|g5)\./);
    // IMDSv2 with one hop: bridge-mode containers cannot reach the instance role's credentials. Instance tags in the
    // metadata: the default warm pool's boot script reads its group's name from them.
    expect(data.MetadataOptions).toEqual({ HttpTokens: 'required', HttpPutResponseHopLimit: 1, InstanceMetadataTags: 'enabled' });
    // The instance's root volume holds the AMI, the CUDA image and a task's video scratch.
    const [rootVolume] = (lt.Properties.LaunchTemplateData as { BlockDeviceMappings: { Ebs: { VolumeSize: number } }[] }).BlockDeviceMappings;
    expect(rootVolume!.Ebs.VolumeSize).toBe(GPU_ROOT_VOLUME_GIB);
    expect(GPU_ROOT_VOLUME_GIB).toBeGreaterThanOrEqual(100 + WORKER_VIDEO_SCRATCH_GIB);
    // AL2's GPU AMI reaches end of life on 2026-06-30.
    const params = gpu.template.toJSON().Parameters as Record<string, { Default: string }>;
    expect(params[data.ImageId.Ref]!.Default).toBe('/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id');

    const [asgId, asg] = only(gpu.template, 'AWS::AutoScaling::AutoScalingGroup');
    // Twice maxTasks: a deploy at maxTasks runs each new task beside its old one.
    expect(asg.Properties).toMatchObject({ MinSize: '0', MaxSize: String(2 * BASE_CONTEXT.maxTasks) });
    const [cpId] = only(gpu.template, 'AWS::ECS::CapacityProvider', {
      AutoScalingGroupProvider: Match.objectLike({ AutoScalingGroupArn: { Ref: asgId }, ManagedScaling: Match.objectLike({ Status: 'ENABLED' }) }),
    });
    gpu.template.hasResourceProperties('AWS::ECS::Service', {
      CapacityProviderStrategy: [{ CapacityProvider: { Ref: cpId }, Weight: 1 }],
    });
  });
});

describe('autoscaling', () => {
  // The policy itself (metric math, steps, cooldowns) is asserted in scaling.test.ts.
  it('scales between minTasks (0 by default) and maxTasks', () => {
    cpu.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: 0,
      MaxCapacity: BASE_CONTEXT.maxTasks,
      ScalableDimension: 'ecs:service:DesiredCount',
    });
    gpu.template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 1, MaxCapacity: BASE_CONTEXT.maxTasks });
  });
});

describe('least privilege', () => {
  const DATA_SERVICES = /^(s3|dynamodb|sqs|secretsmanager|kms):/;

  it.each(['cpu', 'gpu'] as const)('%s: no IAM statement allows `*` or a service wildcard on data services', (mode) => {
    const t = (mode === 'cpu' ? cpu : gpu).template;
    const statements = policyStatements(t);
    expect(statements.length).toBeGreaterThan(10);
    for (const { where, statement } of statements) {
      if (statement.Effect !== 'Allow') continue;
      for (const action of asList(statement.Action) as string[]) {
        expect(action, where).not.toBe('*');
        if (DATA_SERVICES.test(action)) expect(action, `${where}: ${action}`).not.toMatch(/\*/);
      }
      if (asList(statement.Action).some((a) => DATA_SERVICES.test(String(a)))) {
        expect(asList(statement.Resource), `${where} data actions on Resource "*"`).not.toContain('*');
      }
    }
  });

  it('grants each handler only what it calls', () => {
    const t = cpu.template;
    const roleOf = (name: (typeof API_HANDLERS)[number]) => logicalId(cpu, cpu.stack.api.functions[name].role as never);
    const logs = ['logs:CreateLogStream', 'logs:PutLogEvents'];
    const expected: Record<(typeof API_HANDLERS)[number], string[]> = {
      'create-upload': ['s3:PutObject'],
      // Create, the presigned parts and complete are all s3:PutObject; complete reads the size and deletes one over the limit.
      'create-multipart-upload': ['s3:PutObject'],
      'complete-multipart-upload': ['s3:PutObject', 's3:GetObject', 's3:DeleteObject'],
      'abort-multipart-upload': ['s3:AbortMultipartUpload'],
      // ListParts (is the upload open?) and the presigned UploadParts.
      'sign-multipart-upload-parts': ['s3:ListMultipartUploadParts', 's3:PutObject'],
      // HeadObject of the upload (s3:GetObject); ListBucket so that a missing upload is a 404, not a 403.
      'create-job': ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'sqs:SendMessage', 's3:GetObject', 's3:ListBucket'],
      'create-video': ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'sqs:SendMessage', 's3:GetObject', 's3:ListBucket'],
      'create-album': ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'sqs:SendMessage', 's3:GetObject', 's3:ListBucket'],
      'list-children': ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 's3:GetObject'],
      'get-job': ['dynamodb:GetItem', 's3:GetObject'],
      // Done jobs in the list carry presigned result URLs.
      'list-jobs': ['dynamodb:BatchGetItem', 'dynamodb:Query', 's3:GetObject'],
      'cancel-job': ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
      openapi: [],
      'sweep-enqueue': ['dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'sqs:SendMessage'],
    };
    for (const name of API_HANDLERS) {
      expect(actionsOfRole(t, roleOf(name)), name).toEqual([...expected[name], ...logs].sort());
      // No AWS managed policy (AWSLambdaBasicExecutionRole would allow writing any log group).
      const [, role] = only(t, 'AWS::IAM::Role', { RoleName: Match.absent(), Description: `Revive API handler ${name}` });
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    }
    const bucketId = logicalId(cpu, cpu.stack.storage.bucket);
    const objects = (prefix: string) => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, `/${prefix}*`]] });
    expect(statementsOfRole(t, roleOf('create-upload')).find((s) => s.Action === 's3:PutObject')!.Resource).toEqual(
      objects(BUCKET_PREFIXES.uploads),
    );
    for (const name of ['create-multipart-upload', 'sign-multipart-upload-parts', 'complete-multipart-upload', 'abort-multipart-upload'] as const) {
      for (const statement of statementsOfRole(t, roleOf(name)).filter((st) => JSON.stringify(st.Action).includes('"s3:'))) {
        expect(statement.Resource, name).toEqual(objects(BUCKET_PREFIXES.uploads));
      }
    }
    expect(statementsOfRole(t, roleOf('get-job')).find((s) => s.Action === 's3:GetObject')!.Resource).toEqual(
      objects(BUCKET_PREFIXES.results),
    );
    expect(statementsOfRole(t, roleOf('list-jobs')).find((s) => s.Action === 's3:GetObject')!.Resource).toEqual(
      objects(BUCKET_PREFIXES.results),
    );
    const createJob = statementsOfRole(t, roleOf('create-job'));
    expect(createJob.find((s) => s.Action === 's3:GetObject')!.Resource).toEqual(objects(BUCKET_PREFIXES.uploads));
    expect(createJob.find((s) => s.Action === 's3:ListBucket')!.Resource).toEqual({ 'Fn::GetAtt': [bucketId, 'Arn'] });
    const tableId = logicalId(cpu, cpu.stack.storage.table);
    expect(statementsOfRole(t, roleOf('list-jobs')).find((st) => st.Action === 'dynamodb:Query')!.Resource).toEqual({
      'Fn::Join': ['', [{ 'Fn::GetAtt': [tableId, 'Arn'] }, `/index/${TABLE_SCHEMA.tenantIndex.name}`]],
    });
    // The sweeper queries only the pending index, reads and updates only the table, and sends only to the jobs queue.
    const sweeper = statementsOfRole(t, roleOf('sweep-enqueue'));
    expect(sweeper.find((st) => st.Action === 'dynamodb:Query')!.Resource).toEqual({
      'Fn::Join': ['', [{ 'Fn::GetAtt': [tableId, 'Arn'] }, `/index/${TABLE_SCHEMA.pendingIndex.name}`]],
    });
    expect(sweeper.find((st) => JSON.stringify(st.Action).includes('dynamodb:UpdateItem'))!.Resource).toEqual({ 'Fn::GetAtt': [tableId, 'Arn'] });
    const queueId = logicalId(cpu, cpu.stack.jobQueue.queue);
    expect(sweeper.find((st) => st.Action === 'sqs:SendMessage')!.Resource).toEqual({ 'Fn::GetAtt': [queueId, 'Arn'] });
  });

  it.each(['cpu', 'gpu'] as const)('%s: the worker task role consumes the queue, reads uploads, writes and presigns results, reads and writes segments, updates jobs', (mode) => {
    const s = mode === 'cpu' ? cpu : gpu;
    const roleId = logicalId(s, s.stack.worker.taskDefinition.taskRole as never);
    expect(actionsOfRole(s.template, roleId)).toEqual(
      [
        'sqs:ReceiveMessage',
        'sqs:DeleteMessage',
        'sqs:ChangeMessageVisibility',
        'sqs:GetQueueAttributes',
        's3:GetObject',
        's3:GetObject',
        's3:PutObject',
        // Multipart result uploads (@aws-sdk/lib-storage) abort their parts on failure.
        's3:AbortMultipartUpload',
        // A video's segments: written by segment tasks, read and deleted by the fan-in.
        's3:PutObject',
        's3:GetObject',
        's3:DeleteObject',
        's3:AbortMultipartUpload',
        'dynamodb:GetItem',
        'dynamodb:UpdateItem',
        // Parents: children read in batches, segment records written, the fan-out's and fan-in's messages sent.
        'dynamodb:BatchGetItem',
        'dynamodb:PutItem',
        'sqs:SendMessage',
        'ecs:UpdateTaskProtection',
        // Schedules a webhook's durable retry on the webhook-retry queue (test/webhook-retries.test.ts).
        'sqs:SendMessage',
      ].sort(),
    );
    const bucketId = logicalId(s, s.stack.storage.bucket);
    const statements = statementsOfRole(s.template, roleId);
    // Reads uploads (sources) and results (to presign the webhook's result URL); nothing else in the bucket but segments.
    const readable = statements.filter((st) => st.Action === 's3:GetObject').map((st) => JSON.stringify(st.Resource));
    expect(readable).toHaveLength(2);
    const segmentStatement = statements.find((st) => JSON.stringify(st.Resource).includes(`/${SEGMENTS_PREFIX}*`));
    expect([...(segmentStatement!.Action as string[])].sort()).toEqual(['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:PutObject']);
    expect(statements.filter((st) => JSON.stringify(st.Action).includes('s3:DeleteObject')).map((st) => JSON.stringify(st.Resource))).toEqual([JSON.stringify(segmentStatement!.Resource)]);
    expect(readable.find((r) => r.includes(`/${BUCKET_PREFIXES.uploads}*`))).toBeDefined();
    expect(readable.find((r) => r.includes(`/${BUCKET_PREFIXES.results}*`))).toBeDefined();
    const writes = statements.find((st) => JSON.stringify(st.Action).includes('"s3:PutObject"'));
    expect(JSON.stringify(writes!.Resource)).toContain(`/${BUCKET_PREFIXES.results}*`);
    expect(JSON.stringify(statements)).toContain(bucketId);
    // Scale-in protection: only this cluster's tasks, never Resource "*".
    const clusterId = logicalId(s, s.stack.worker.cluster);
    expect(statements.find((st) => st.Action === 'ecs:UpdateTaskProtection')!.Resource).toEqual({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ecs:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':task/', { Ref: clusterId }, '/*']],
    });
  });
});

/** A metric an alarm or the dashboard reads: where, its namespace and name, and its `service` dimension if any. */
interface MetricRead {
  readonly where: string;
  readonly namespace: string;
  readonly name: string;
  readonly service?: string;
}

/** The metrics a SEARCH expression reads: `SEARCH('{Namespace,dims} MetricName="X" service="Y"', ...)`. */
function searchedMetrics(where: string, expression: string): MetricRead[] {
  return [...expression.matchAll(/SEARCH\('\{([^,}]+)[^}]*\}([^']*)'/g)].map((m) => {
    const name = /MetricName="([^"]+)"/.exec(m[2]!)?.[1] ?? '(any)';
    const service = /\bservice="([^"]+)"/.exec(m[2]!)?.[1];
    return { where, namespace: m[1]!, name, ...(service !== undefined && { service }) };
  });
}

/** Every metric read by an alarm (single metric or metric math) or a dashboard graph of the template. */
function metricsRead(t: Template): MetricRead[] {
  const out: MetricRead[] = [];
  type Dimension = { Name: string; Value: unknown };
  const serviceOf = (dimensions: Dimension[] | undefined) => {
    const value = dimensions?.find((d) => d.Name === 'service')?.Value;
    return typeof value === 'string' ? { service: value } : {};
  };
  for (const [id, alarm] of resources(t, 'AWS::CloudWatch::Alarm')) {
    const p = alarm.Properties as {
      Namespace?: string;
      MetricName?: string;
      Dimensions?: Dimension[];
      Metrics?: { Expression?: string; MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions?: Dimension[] } } }[];
    };
    if (p.MetricName !== undefined) out.push({ where: id, namespace: p.Namespace!, name: p.MetricName, ...serviceOf(p.Dimensions) });
    for (const query of p.Metrics ?? []) {
      const m = query.MetricStat?.Metric;
      if (m) out.push({ where: id, namespace: m.Namespace, name: m.MetricName, ...serviceOf(m.Dimensions) });
      if (query.Expression !== undefined) out.push(...searchedMetrics(id, query.Expression));
    }
  }
  for (const [id, dashboard] of resources(t, 'AWS::CloudWatch::Dashboard')) {
    // The body is an Fn::Join of JSON text and tokens (ARNs, names) that all sit inside JSON strings.
    const raw = dashboard.Properties.DashboardBody as string | { 'Fn::Join': [string, unknown[]] };
    const parts = typeof raw === 'string' ? [raw] : raw['Fn::Join'][1];
    const body = JSON.parse(parts.map((part) => (typeof part === 'string' ? part : 'TOKEN')).join('')) as {
      widgets: { properties: { metrics?: unknown[][] } }[];
    };
    for (const widget of body.widgets) {
      for (const entry of widget.properties.metrics ?? []) {
        const [first, second, ...rest] = entry;
        if (typeof first === 'object' && first !== null) {
          out.push(...searchedMetrics(id, (first as { expression: string }).expression));
          continue;
        }
        // [namespace, name, dimension, value, ..., {options}]
        const dims = rest.filter((v): v is string => typeof v === 'string');
        const serviceAt = dims.findIndex((v, i) => i % 2 === 0 && v === 'service');
        out.push({ where: id, namespace: first as string, name: second as string, ...(serviceAt >= 0 && { service: dims[serviceAt + 1]! }) });
      }
    }
  }
  return out;
}

describe('alarms and dashboard', () => {
  it('pages on a non-empty DLQ, old messages, unhealthy worker stops and API 5xx', () => {
    const t = cpu.template;
    const topicId = logicalId(cpu, cpu.stack.monitoring.alarmTopic);
    const dlqId = logicalId(cpu, cpu.stack.jobQueue.deadLetterQueue);
    const queueId = logicalId(cpu, cpu.stack.jobQueue.queue);
    const paging = { AlarmActions: [{ Ref: topicId }] };
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      ...paging,
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqId, 'QueueName'] } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    // The DLQ consumer drains the DLQ, so each message it receives (a job marked DEAD_LETTERED) pages too.
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      ...paging,
      MetricName: 'NumberOfMessagesReceived',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqId, 'QueueName'] } }],
      Statistic: 'Sum',
      Threshold: 1,
    });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      ...paging,
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
      Threshold: 900,
    });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { ...paging, Namespace: METRICS_NAMESPACE, MetricName: UNHEALTHY_STOPS_METRIC });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { ...paging, Namespace: 'AWS/ApiGateway', MetricName: '5xx' });
    // The unhealthy-stop metric is fed by ECS task state changes whose reason is a failed health check.
    t.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({
        source: ['aws.ecs'],
        'detail-type': ['ECS Task State Change'],
        detail: Match.objectLike({ lastStatus: ['STOPPED'], stoppedReason: [{ prefix: 'Task failed container health checks' }] }),
      }),
    });
    t.hasResourceProperties('AWS::Logs::MetricFilter', {
      MetricTransformations: [Match.objectLike({ MetricNamespace: METRICS_NAMESPACE, MetricName: UNHEALTHY_STOPS_METRIC })],
    });
    t.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: BASE_CONTEXT.alarmEmail });
    t.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
  });

  it('graphs queue depth, running tasks, job ms, failures by code and per-stage ms', () => {
    const [, dashboard] = only(cpu.template, 'AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    for (const needle of [
      'ApproximateNumberOfMessagesVisible',
      'RunningTaskCount',
      'JobDurationMs',
      'JobsFailed',
      'ErrorCode',
      'StageMs',
      'Stage,service',
      'service=\\\\\\"worker\\\\\\"',
    ]) {
      expect(body, needle).toContain(needle);
    }
  });

  it.each(['cpu', 'gpu'] as const)(
    "%s: every metric of the app's namespace that an alarm or the dashboard reads is one the worker, the API or a metric filter publishes",
    (name) => {
      const t = variant(name).template;
      const filtered = new Set(
        resources(t, 'AWS::Logs::MetricFilter').flatMap(([, r]) =>
          (r.Properties.MetricTransformations as { MetricNamespace: string; MetricName: string }[])
            .filter((m) => m.MetricNamespace === METRICS_NAMESPACE)
            .map((m) => m.MetricName),
        ),
      );
      const reads = metricsRead(t).filter((m) => m.namespace === METRICS_NAMESPACE);
      // The reader must find the worker's graphs and the unhealthy-stops alarm, or an empty list would pass.
      expect(reads.map((m) => m.name)).toEqual(expect.arrayContaining([WORKER_METRICS.jobDurationMs, WORKER_METRICS.stageMs, UNHEALTHY_STOPS_METRIC]));
      const unpublished = reads.filter(({ name, service }) => {
        if (service === WORKER_SERVICE_NAME) return !(Object.values(WORKER_METRICS) as string[]).includes(name);
        if (service?.startsWith(API_SERVICE_NAME)) return !(Object.values(API_METRICS) as string[]).includes(name);
        return service !== undefined || !filtered.has(name);
      });
      expect(unpublished).toEqual([]);
    },
  );
});

/** What a CloudFormation value refers to: `{ Ref }` / `{ Fn::GetAtt }` logical ids anywhere inside it. */
function referencedIds(value: unknown): string[] {
  const json = JSON.stringify(value);
  return [...json.matchAll(/"Ref":"([A-Za-z0-9]+)"|"Fn::GetAtt":\["([A-Za-z0-9]+)"/g)].map((m) => (m[1] ?? m[2])!);
}
function typeOf(t: Template, id: string): string | undefined {
  return (t.toJSON().Resources as Record<string, Resource>)[id]?.Type;
}

describe('deployable as checked in', () => {
  it.each(VARIANTS)('%s: every alarm reaches a person (a topic CloudWatch may publish to, with a subscriber) or is a scaling trigger', (name) => {
    const s = variant(name);
    const t = s.template;
    const alarms = resources(t, 'AWS::CloudWatch::Alarm');
    expect(alarms.length).toBeGreaterThanOrEqual(6);
    let paging = 0;
    for (const [id, alarm] of alarms) {
      const targets = ((alarm.Properties.AlarmActions as unknown[] | undefined) ?? []).flatMap(referencedIds);
      expect(targets.length, `${id} has an action`).toBeGreaterThan(0);
      if (targets.every((target) => typeOf(t, target) === 'AWS::ApplicationAutoScaling::ScalingPolicy')) continue;
      paging++;
      const topics = targets.filter((target) => typeOf(t, target) === 'AWS::SNS::Topic');
      expect(topics, `${id} pages through an SNS topic`).toHaveLength(targets.length);
      for (const topicId of topics) {
        const [, policy] = only(t, 'AWS::SNS::TopicPolicy', { Topics: [{ Ref: topicId }] });
        const statements = (policy.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement;
        const allow = statements.find((st) => st.Effect === 'Allow' && JSON.stringify(st.Principal).includes('cloudwatch.amazonaws.com'));
        expect(allow, `${topicId}'s policy lets CloudWatch publish`).toBeDefined();
        expect(allow!.Action).toBe('sns:Publish');
        expect(allow!.Resource).toEqual({ Ref: topicId });
        const conditions = allow!.Condition as { StringEquals: Record<string, unknown>; ArnLike: Record<string, unknown> };
        expect(conditions.StringEquals['aws:SourceAccount']).toEqual(CONCRETE_ENV.account !== undefined && name.includes('region') ? CONCRETE_ENV.account : { Ref: 'AWS::AccountId' });
        expect(JSON.stringify(conditions.ArnLike['aws:SourceArn'])).toMatch(/:cloudwatch:.*:alarm:\*"/);
        // No statement denies CloudWatch's TLS publishes.
        for (const st of statements.filter((x) => x.Effect === 'Deny')) expect(JSON.stringify(st.Condition)).toContain('aws:SecureTransport');
        // Somebody is subscribed, and the topic's key lets CloudWatch encrypt.
        t.hasResourceProperties('AWS::SNS::Subscription', { TopicArn: { Ref: topicId }, Protocol: 'email', Endpoint: BASE_CONTEXT.alarmEmail });
        const [keyId] = referencedIds((t.toJSON().Resources as Record<string, Resource>)[topicId]!.Properties.KmsMasterKeyId);
        const key = (t.toJSON().Resources as Record<string, Resource>)[keyId!]!;
        expect(JSON.stringify(key.Properties.KeyPolicy)).toContain('cloudwatch.amazonaws.com');
      }
    }
    expect(paging).toBeGreaterThanOrEqual(6);
  });

  it.each(VARIANTS)('%s: every EventBridge target ARN has the form its service accepts', (name) => {
    const t = variant(name).template;
    const rules = resources(t, 'AWS::Events::Rule');
    expect(rules.length).toBeGreaterThanOrEqual(2);
    for (const [ruleId, rule] of rules) {
      for (const target of rule.Properties.Targets as { Arn: unknown; Id: string }[]) {
        const where = `${ruleId} → ${target.Id}`;
        const arn = target.Arn as Record<string, unknown>;
        if ('Fn::GetAtt' in arn) {
          const [id, attribute] = arn['Fn::GetAtt'] as [string, string];
          // GetAtt Arn of a log group ends in ":*", which EventBridge does not deliver to.
          expect(typeOf(t, id), where).toBe('AWS::Lambda::Function');
          expect(attribute, where).toBe('Arn');
          continue;
        }
        const text = JSON.stringify(arn);
        expect(text, `${where}: a log group ARN`).toContain(':log-group:');
        expect(text, where).not.toMatch(/:\*"/);
        const parts = (arn['Fn::Join'] as [string, unknown[]])[1];
        const last = parts[parts.length - 1] as { Ref: string };
        expect(typeOf(t, last.Ref), `${where} ends with the log group's name`).toBe('AWS::Logs::LogGroup');
        // The log group's resource policy lets EventBridge write to it.
        const policies = resources(t, 'AWS::Logs::ResourcePolicy').map(([, p]) => JSON.stringify(p.Properties.PolicyDocument));
        expect(policies.some((p) => p.includes('events.amazonaws.com') && p.includes(last.Ref)), where).toBe(true);
      }
    }
  });

  it.each(VARIANTS)('%s: no log group has a fixed name (retained groups would block `cdk destroy` then `cdk deploy`)', (name) => {
    for (const [id, group] of resources(variant(name).template, 'AWS::Logs::LogGroup')) {
      expect(group.Properties.LogGroupName, id).toBeUndefined();
    }
  });

  it.each(VARIANTS)('%s: Lambda does not retry a scheduled function on top of EventBridge (async retries 0)', (name) => {
    const s = variant(name);
    const t = s.template;
    for (const schedule of API_SCHEDULES) {
      const fnId = logicalId(s, s.stack.api.functions[schedule.handler]);
      const [, config] = only(t, 'AWS::Lambda::EventInvokeConfig', { FunctionName: { Ref: fnId } });
      expect(config.Properties).toMatchObject({ MaximumRetryAttempts: 0, Qualifier: '$LATEST' });
    }
  });

  it.each(VARIANTS)('%s: Lambda errors and throttles of every API function page', (name) => {
    const s = variant(name);
    const t = s.template;
    const topicId = logicalId(s, s.stack.monitoring.alarmTopic);
    const fnIds = API_HANDLERS.map((h) => logicalId(s, s.stack.api.functions[h]));
    for (const metricName of ['Errors', 'Throttles']) {
      const matching = resources(t, 'AWS::CloudWatch::Alarm').filter(([, a]) =>
        ((a.Properties.Metrics as { MetricStat?: { Metric: { MetricName: string } } }[] | undefined) ?? []).some(
          (m) => m.MetricStat?.Metric.MetricName === metricName,
        ),
      );
      // One alarm per ALARM_MAX_METRICS functions: CloudWatch refuses an alarm's math expression over more.
      expect(matching, metricName).toHaveLength(Math.ceil(fnIds.length / ALARM_MAX_METRICS));
      const counted: string[] = [];
      for (const [, alarm] of matching) {
        expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
        expect(alarm.Properties).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
        const metrics = alarm.Properties.Metrics as { MetricStat?: { Metric: { Namespace: string; Dimensions: { Value: unknown }[] } }; Expression?: string }[];
        const stats = metrics.filter((m) => m.MetricStat !== undefined);
        expect(stats.length).toBeLessThanOrEqual(ALARM_MAX_METRICS);
        counted.push(...stats.flatMap((m) => referencedIds(m.MetricStat!.Metric.Dimensions)));
        expect(metrics.find((m) => m.Expression !== undefined)!.Expression).toBe('SUM(METRICS())');
      }
      expect(counted.sort(), `${metricName} of every function, once`).toEqual([...fnIds].sort());
    }
  });

  it.each(['gpu', 'gpu in region'] as const)('%s: the service waits for the capacity provider association, and the container knows its region', (name) => {
    const s = variant(name);
    const t = s.template;
    const [associationId] = only(t, 'AWS::ECS::ClusterCapacityProviderAssociations');
    const [, service] = only(t, 'AWS::ECS::Service');
    expect((service as unknown as { DependsOn?: string[] }).DependsOn ?? [], 'Service DependsOn').toContain(associationId);
    expect(containerEnv(t).AWS_REGION).toEqual(name === 'gpu' ? { Ref: 'AWS::Region' } : CONCRETE_ENV.region);
  });

  it.each(['cpu', 'cpu in region'] as const)('%s: the worker task role may protect only its own cluster\'s tasks, in the stack\'s region', (name) => {
    const s = variant(name);
    const roleId = logicalId(s, s.stack.worker.taskDefinition.taskRole as never);
    const resource = JSON.stringify(statementsOfRole(s.template, roleId).find((st) => st.Action === 'ecs:UpdateTaskProtection')!.Resource);
    expect(resource).toContain(name === 'cpu' ? '{"Ref":"AWS::Region"}' : `:ecs:${CONCRETE_ENV.region}:${CONCRETE_ENV.account}:task/`);
  });
});

describe('cdk.json and the CLI path', () => {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const cdkJson = JSON.parse(readFileSync(join(root, 'cdk.json'), 'utf8')) as { app: string; context: Record<string, unknown> };

  it("pins every feature flag aws-cdk-lib currently recommends, so an upgrade cannot change resources unseen", () => {
    for (const [flag, value] of Object.entries(CURRENTLY_RECOMMENDED_FLAGS)) expect(cdkJson.context[flag], flag).toEqual(value);
    // createApp applies the same flags, so the tests build what `cdk synth` builds.
    expect(pinnedFeatureFlags()).toEqual(Object.fromEntries(Object.entries(cdkJson.context).filter(([k]) => k.startsWith('@aws-cdk'))));
  });

  it('ships no JWT placeholder: the settings are set per deployment, and synth without them names both', () => {
    expect(cdkJson.context.jwtIssuer).toBeUndefined();
    expect(cdkJson.context.jwtAudience).toBeUndefined();
    const settings = Object.fromEntries(Object.entries(cdkJson.context).filter(([k]) => !k.startsWith('@')));
    expect(() => createApp(settings, undefined, {})).toThrow(/jwtIssuer[\s\S]*jwtAudience[\s\S]*-c jwtIssuer=https:\/\/.*-c jwtAudience=/);
  });

  it("holds no setting that a documented -c option then conflicts with (acceptableLatencySeconds, secondsPerJob, gpu mode)", () => {
    const settings = Object.fromEntries(Object.entries(cdkJson.context).filter(([k]) => !k.startsWith('@')));
    const jwt = { jwtIssuer: BASE_CONTEXT.jwtIssuer, jwtAudience: BASE_CONTEXT.jwtAudience };
    const load = (extra: Record<string, unknown>) => {
      const context: Record<string, unknown> = { ...settings, ...jwt, ...extra };
      return loadReviveConfig((k) => context[k]);
    };
    expect(load({ acceptableLatencySeconds: '60', secondsPerJob: '5' })).toMatchObject({ drainSeconds: 60, secondsPerJob: 5 });
    expect(load({ workerMode: 'gpu', gpuProviderSha256: BASE_CONTEXT.gpuProviderSha256 }).workerMode).toBe('gpu');
  });

  it("packages/infra's own synth script runs the app cdk.json runs", () => {
    const pkgDir = join(root, 'packages/infra');
    const script = (JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.synth!;
    // Follow a leading `cd DIR &&`, then the app is --app's or the cdk.json's there.
    const cd = /^cd (\S+) && /.exec(script);
    const cwd = cd === null ? pkgDir : join(pkgDir, cd[1]!);
    const app = /--app '([^']+)'/.exec(script)?.[1] ?? (JSON.parse(readFileSync(join(cwd, 'cdk.json'), 'utf8')) as { app: string }).app;
    const entry = /(\S+\.ts)\b/.exec(app)![1]!;
    expect(existsSync(join(cwd, entry)), `${entry} from ${cwd}`).toBe(true);
    expect(app).toBe(cdkJson.app);
  });
});
