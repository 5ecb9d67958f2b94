// Issue 18 item 9: durable webhook retries. Their own queue (encrypted, TLS only, a DLQ with an alarm), a Lambda on
// it with least-privilege grants, the senders (worker, DLQ consumer) told where it is, and the workers' scaling blind to it.
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { WEBHOOK_RETRY_BATCH_SIZE, WEBHOOK_RETRY_MAX_RECEIVE_COUNT, WEBHOOK_RETRY_TIMEOUT_SECONDS, WEBHOOK_RETRY_VISIBILITY_SECONDS } from '../src/webhook-retries.js';
import { synthesize, type Synthesized } from './synth.js';

type Resource = { Type: string; Properties: Record<string, unknown> };
type Statement = { Sid?: string; Action: string | string[]; Resource: unknown };

let s: Synthesized;
let t: Template;
const ref = (construct: { node: { defaultChild?: unknown } }) => s.stack.resolve((construct.node.defaultChild as { logicalId: string }).logicalId) as string;
const all = (type: string) => Object.entries(t.findResources(type) as Record<string, Resource>);
const resource = (logicalId: string) => (t.toJSON() as { Resources: Record<string, Resource> }).Resources[logicalId]!;
function statementsOf(roleId: string): Statement[] {
  return all('AWS::IAM::Policy')
    .filter(([, p]) => JSON.stringify(p.Properties.Roles).includes(roleId))
    .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}
const actionsOf = (st: Statement) => (Array.isArray(st.Action) ? st.Action : [st.Action]);

beforeAll(() => {
  s = synthesize({});
  t = s.template;
}, 300_000);

describe('webhook retries (infra)', () => {
  it('the retry queue is encrypted, TLS only, and redrives to its own DLQ, which pages when not empty', () => {
    const queueId = ref(s.stack.webhookRetries.queue);
    const dlqId = ref(s.stack.webhookRetries.deadLetterQueue);
    expect(queueId).not.toBe(ref(s.stack.jobQueue.queue));
    const queue = resource(queueId).Properties;
    expect(queue.SqsManagedSseEnabled).toBe(true);
    expect(resource(dlqId).Properties.SqsManagedSseEnabled).toBe(true);
    expect(queue.RedrivePolicy).toEqual({ deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] }, maxReceiveCount: WEBHOOK_RETRY_MAX_RECEIVE_COUNT });
    // Longer than the function's timeout (the event source requires it), so one message is never handled twice at once.
    expect(queue.VisibilityTimeout).toBe(WEBHOOK_RETRY_VISIBILITY_SECONDS);
    expect(WEBHOOK_RETRY_VISIBILITY_SECONDS).toBeGreaterThan(WEBHOOK_RETRY_TIMEOUT_SECONDS);
    for (const id of [queueId, dlqId]) {
      const policy = all('AWS::SQS::QueuePolicy').find(([, p]) => JSON.stringify(p.Properties.Queues).includes(id));
      expect(policy, id).toBeDefined();
      expect(JSON.stringify(policy![1].Properties.PolicyDocument)).toContain('"aws:SecureTransport":"false"');
    }
    const alarm = resource(ref(s.stack.webhookRetries.deadLetterAlarm)).Properties;
    expect(JSON.stringify(alarm.Dimensions)).toContain(dlqId);
    expect(alarm.MetricName).toBe('ApproximateNumberOfMessagesVisible');
    expect(alarm.Threshold).toBe(1);
    expect(JSON.stringify(alarm.AlarmActions)).toContain(ref(s.stack.monitoring.alarmTopic));
  });

  it('a Lambda consumes it: partial batch responses, no batching window, bounded concurrency, within its timeout', () => {
    const queueId = ref(s.stack.webhookRetries.queue);
    const fnId = ref(s.stack.webhookRetries.function);
    const mappings = all('AWS::Lambda::EventSourceMapping').filter(([, m]) => JSON.stringify(m.Properties.EventSourceArn).includes(queueId));
    expect(mappings).toHaveLength(1);
    const mapping = mappings[0]![1].Properties;
    expect(JSON.stringify(mapping.FunctionName)).toContain(fnId);
    expect(mapping.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    expect(mapping.BatchSize).toBe(WEBHOOK_RETRY_BATCH_SIZE);
    expect(mapping.MaximumBatchingWindowInSeconds ?? 0).toBe(0);
    expect((mapping.ScalingConfig as { MaximumConcurrency: number }).MaximumConcurrency).toBeGreaterThanOrEqual(2);
    const fn = resource(fnId).Properties;
    expect(fn.Timeout).toBe(WEBHOOK_RETRY_TIMEOUT_SECONDS);
    const env = (fn.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(Object.keys(env)).toEqual(expect.arrayContaining(['REVIVE_TABLE_NAME', 'REVIVE_BUCKET_NAME', 'REVIVE_WEBHOOK_RETRY_QUEUE_URL', 'REVIVE_WEBHOOK_SECRET_ARN']));
    expect(JSON.stringify(env.REVIVE_WEBHOOK_RETRY_QUEUE_URL)).toContain(queueId);
  });

  it('least privilege: the function reads and writes job records, presigns results, reads the secret, uses its queue; the senders may only send to it', () => {
    const queueId = ref(s.stack.webhookRetries.queue);
    const roleId = ref(s.stack.webhookRetries.function.role as unknown as { node: { defaultChild?: unknown } });
    const statements = statementsOf(roleId);
    expect(statements.flatMap((st) => (st.Sid === undefined ? [] : [st.Sid])).sort()).toEqual(['ConsumeWebhookRetries', 'PresignResults', 'ReadWebhookSecret', 'RecordWebhookDelivery', 'ScheduleWebhookRetries', 'WriteOwnLogs']);
    // The one unnamed statement is the event source's own consume grant (CDK adds it), on this queue only.
    for (const st of statements.filter((x) => x.Sid === undefined)) {
      expect(actionsOf(st).every((a) => a.startsWith('sqs:'))).toBe(true);
      expect(JSON.stringify(st.Resource)).toContain(queueId);
    }
    const actions = statements.flatMap(actionsOf);
    expect(actions.every((a) => !a.includes('*'))).toBe(true);
    expect(actions.filter((a) => a.startsWith('s3:'))).toEqual(['s3:GetObject']);
    expect(actions.filter((a) => a.startsWith('dynamodb:')).sort()).toEqual(['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    for (const st of statements.filter((x) => actionsOf(x).some((a) => a.startsWith('sqs:')))) expect(JSON.stringify(st.Resource)).toContain(queueId);

    // The worker's task role and the DLQ consumer send to it, and nothing more on it.
    const taskRoleId = ref(s.stack.worker.taskDefinition.taskRole as unknown as { node: { defaultChild?: unknown } });
    const dlqRoleId = ref(s.stack.deadLetters.function.role as unknown as { node: { defaultChild?: unknown } });
    for (const id of [taskRoleId, dlqRoleId]) {
      const onQueue = statementsOf(id).filter((st) => JSON.stringify(st.Resource).includes(queueId));
      expect(onQueue.flatMap(actionsOf), id).toEqual(['sqs:SendMessage']);
    }
  });

  it('the senders are told where it is: the worker container and the DLQ consumer', () => {
    const queueId = ref(s.stack.webhookRetries.queue);
    const [[, task]] = all('AWS::ECS::TaskDefinition') as [[string, Resource]];
    const env = (task.Properties.ContainerDefinitions as { Environment: { Name: string; Value: unknown }[] }[])[0]!.Environment;
    expect(JSON.stringify(env.find((e) => e.Name === 'REVIVE_WEBHOOK_RETRY_QUEUE_URL')?.Value)).toContain(queueId);
    const dlqEnv = (resource(ref(s.stack.deadLetters.function)).Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(JSON.stringify(dlqEnv.REVIVE_WEBHOOK_RETRY_QUEUE_URL)).toContain(queueId);
  });

  it("the workers' scaling never counts the webhook-retry queue", () => {
    const queueNames = [s.stack.webhookRetries.queue, s.stack.webhookRetries.deadLetterQueue].map((q) => ref(q));
    // Every alarm that drives a scaling policy, and every scaling policy itself, is blind to the retry queue.
    const policyIds = all('AWS::ApplicationAutoScaling::ScalingPolicy').map(([id]) => id);
    expect(policyIds.length).toBeGreaterThan(0);
    const scalingAlarms = all('AWS::CloudWatch::Alarm').filter(([, a]) => policyIds.some((id) => JSON.stringify(a.Properties.AlarmActions ?? []).includes(id)));
    for (const [id, alarm] of scalingAlarms) for (const q of queueNames) expect(JSON.stringify(alarm.Properties), id).not.toContain(q);
    for (const [id, policy] of all('AWS::ApplicationAutoScaling::ScalingPolicy')) for (const q of queueNames) expect(JSON.stringify(policy.Properties), id).not.toContain(q);
    // Anything else that reads queue depth for scaling (a deficit Lambda, say) is given the job queue, not this one.
    for (const [id, fn] of all('AWS::Lambda::Function')) {
      if (id === ref(s.stack.webhookRetries.function) || id === ref(s.stack.deadLetters.function)) continue;
      for (const q of queueNames) expect(JSON.stringify(fn.Properties.Environment ?? {}), id).not.toContain(q);
    }
  });
});
