// Point 10 of issue 10: a job never ends for a dead-lettered message. The DLQ has a consumer (a Lambda with an SQS
// event source) whose settings handle every dead-lettered message within one visibility timeout of the job queue.
import { DEFAULT_VISIBILITY_TIMEOUT_SECONDS } from '@revive/contract';
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEAD_LETTER_BATCH_SIZE, DEAD_LETTER_MAX_CONCURRENCY, DEAD_LETTER_TIMEOUT_SECONDS } from '../src/dead-letters.js';
import { synthesize, type Synthesized } from './synth.js';

type Resource = { Type: string; Properties: Record<string, unknown> };
/** SQS's visibility timeout when a queue does not set one. */
const SQS_DEFAULT_VISIBILITY_SECONDS = 30;

let s: Synthesized;
let t: Template;
const ref = (construct: { node: { defaultChild?: unknown } }) => s.stack.resolve((construct.node.defaultChild as { logicalId: string }).logicalId) as string;
const resource = (logicalId: string) => (t.toJSON() as { Resources: Record<string, Resource> }).Resources[logicalId]!;

beforeAll(() => {
  s = synthesize({});
  t = s.template;
}, 300_000);

describe('dead-lettered jobs end (DLQ consumer)', () => {
  it('no job stays non-terminal for more than one visibility timeout after its message reached the DLQ', () => {
    const dlqId = ref(s.stack.jobQueue.deadLetterQueue);
    const fnId = ref(s.stack.deadLetters.function);
    const mappings = Object.values(t.findResources('AWS::Lambda::EventSourceMapping') as Record<string, Resource>).filter(
      (m) => JSON.stringify(m.Properties.EventSourceArn).includes(dlqId),
    );
    // Exactly one consumer on the DLQ, and it is the dead-letter function.
    expect(mappings).toHaveLength(1);
    const mapping = mappings[0]!.Properties;
    expect(JSON.stringify(mapping.FunctionName)).toContain(fnId);
    expect(mapping.Enabled ?? true).toBe(true);
    // Handled as soon as it arrives: no batching window, failures reported per message. One message per invocation:
    // the handler takes records one after another and one webhook can take ≈ 19 s (3 × 5 s attempts plus backoff), so
    // a second record in the batch could run past the timeout and both would come back.
    expect(mapping.MaximumBatchingWindowInSeconds ?? 0).toBe(0);
    expect(DEAD_LETTER_BATCH_SIZE).toBe(1);
    expect(mapping.BatchSize).toBe(1);
    // A flood of dead letters gets a bounded share of the account's concurrency (SQS allows 2–1000).
    expect(mapping.ScalingConfig).toEqual({ MaximumConcurrency: DEAD_LETTER_MAX_CONCURRENCY });
    expect(DEAD_LETTER_MAX_CONCURRENCY).toBeGreaterThanOrEqual(2);
    expect(DEAD_LETTER_MAX_CONCURRENCY).toBeLessThanOrEqual(10);
    expect(mapping.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    // One invocation ends before the DLQ would show its message again, and a retried message (a job still leased, a
    // failed write) comes back within the job queue's visibility timeout: the longest a lease can outlive its message.
    const fn = resource(fnId).Properties;
    const dlqVisibility = (resource(dlqId).Properties.VisibilityTimeout as number | undefined) ?? SQS_DEFAULT_VISIBILITY_SECONDS;
    const queueVisibility = resource(ref(s.stack.jobQueue.queue)).Properties.VisibilityTimeout as number;
    expect(queueVisibility).toBe(DEFAULT_VISIBILITY_TIMEOUT_SECONDS);
    expect(fn.Timeout).toBe(DEAD_LETTER_TIMEOUT_SECONDS);
    expect(fn.Timeout as number).toBeLessThan(dlqVisibility);
    expect(dlqVisibility + (fn.Timeout as number)).toBeLessThanOrEqual(queueVisibility);
    // No reserved concurrency of 0 (which would stop it) and no filter that could skip a message.
    expect(fn.ReservedConcurrentExecutions).not.toBe(0);
    expect(mapping.FilterCriteria).toBeUndefined();
  });

  it('the consumer can write the jobs table and read the webhook secret, and nothing else of the data', () => {
    const fnId = ref(s.stack.deadLetters.function);
    const roleId = s.stack.resolve((s.stack.deadLetters.function.role!.node.defaultChild as unknown as { logicalId: string }).logicalId) as string;
    const statements = Object.values(t.findResources('AWS::IAM::Policy') as Record<string, Resource>)
      .filter((p) => JSON.stringify(p.Properties.Roles).includes(roleId))
      .flatMap((p) => (p.Properties.PolicyDocument as { Statement: { Sid?: string; Action: string | string[]; Resource: unknown }[] }).Statement);
    const sids = statements.map((st) => st.Sid);
    expect(sids).toEqual(expect.arrayContaining(['ConsumeDeadLetters', 'FailDeadLetteredJobs', 'ReadWebhookSecret', 'WriteOwnLogs']));
    const actions = statements.flatMap((st) => (Array.isArray(st.Action) ? st.Action : [st.Action]));
    expect(actions.filter((a) => a.startsWith('s3:'))).toEqual([]);
    expect(actions.every((a) => !a.includes('*'))).toBe(true);
    const env = (resource(fnId).Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(Object.keys(env)).toEqual(expect.arrayContaining(['REVIVE_TABLE_NAME', 'REVIVE_JOB_TTL_DAYS', 'REVIVE_WEBHOOK_SECRET_ARN']));
    expect(env.REVIVE_JOB_TTL_DAYS).toBe('5');
  });
});
