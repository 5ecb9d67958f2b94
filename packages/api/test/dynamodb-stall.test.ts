// DynamoDB stalls mid-run (its emulator's process stopped, as in the adversarial run where DynamoDB Local was
// SIGSTOPped for 47 s): every request still answers well inside API Gateway's 30 s, and what it says is true. A
// "nothing was changed" 503 never hides a job that exists; a "may exist" 503 plus a retry with the same
// Idempotency-Key gives exactly one job, which gets exactly one message. Own emulators: pausing the shared ones would
// stall every other test file.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

import { randomUUID } from 'node:crypto';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { jobMessageSchema, uploadKey, type JobResponse, type Problem } from '@revive/contract';
import { createReviveResources, localAwsEnv, localClients, startLocalAws, type LocalAws, type ReviveResources } from '@revive/local-aws';
import { writeSolidImage } from '@revive/pipeline/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeps, destroyDeps, type ApiDeps } from '../src/app.js';
import type { ApiResult } from '../src/http/event.js';
import { DEFAULT_ENQUEUE_GRACE_PERIOD_MS, sweepEnqueue } from '../src/handlers/sweep-enqueue.js';
import { DEFAULT_REQUEST_DEADLINE_MS } from '../src/handler.js';
import { idempotentJobId } from '../src/jobs.js';
import { bindHandlers } from '../src/routes.js';
import { apiEvent, bodyOf } from './helpers.js';

/** Far under API Gateway's 30 s, with room over the handler's deadline for a loaded machine. */
const ANSWER_BOUND_MS = DEFAULT_REQUEST_DEADLINE_MS + 7_000;
const TENANT = 'tenant-stall';
const as = { claims: { sub: TENANT } };

let aws: LocalAws;
let clients: ReturnType<typeof localClients>;
let doc: DynamoDBDocumentClient;
let resources: ReviveResources;
let deps: ApiDeps;
let api: ReturnType<typeof bindHandlers>;
let source: { uploadKey: string };

interface Timed {
  readonly label: string;
  readonly key: string | undefined;
  readonly status: number;
  readonly problem: Problem | undefined;
  readonly retryAfter: string | undefined;
  readonly ms: number;
}

async function timed(label: string, key: string | undefined, call: () => Promise<ApiResult>): Promise<Timed> {
  const started = performance.now();
  const res = await call();
  const status = res.statusCode ?? 200;
  return {
    label,
    key,
    status,
    problem: status >= 400 ? bodyOf<Problem>(res) : undefined,
    retryAfter: res.headers?.['retry-after'] === undefined ? undefined : String(res.headers['retry-after']),
    ms: performance.now() - started,
  };
}

const create = (body: unknown, key?: string) =>
  api['create-job'](apiEvent({ method: 'POST', path: '/jobs', body, headers: key === undefined ? {} : { 'idempotency-key': key }, ...as }));

async function rawRecord(jobId: string) {
  return (await doc.send(new GetCommand({ TableName: resources.tableName, Key: { jobId }, ConsistentRead: true }))).Item;
}

async function tenantJobIds(): Promise<string[]> {
  const ids: string[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(
      new ScanCommand({ TableName: resources.tableName, ConsistentRead: true, FilterExpression: 'tenantId = :t', ExpressionAttributeValues: { ':t': TENANT }, ExclusiveStartKey: start }),
    );
    ids.push(...(page.Items ?? []).map((item) => String(item.jobId)));
    start = page.LastEvaluatedKey;
  } while (start !== undefined);
  return ids.sort();
}

async function drainQueue(): Promise<string[]> {
  const ids: string[] = [];
  for (;;) {
    const out = await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: resources.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    if (!out.Messages?.length) return ids.sort();
    for (const m of out.Messages) {
      ids.push(jobMessageSchema.parse(JSON.parse(m.Body!)).jobId);
      await clients.sqs.send(new DeleteMessageCommand({ QueueUrl: resources.queueUrl, ReceiptHandle: m.ReceiptHandle! }));
    }
  }
}

beforeAll(async () => {
  aws = await startLocalAws();
  clients = localClients(aws);
  doc = DynamoDBDocumentClient.from(clients.dynamodb);
  resources = await createReviveResources(aws);
  deps = createDeps({ ...localAwsEnv(aws, resources), REVIVE_LOCAL_MODE: 'false' });
  api = bindHandlers(deps);
  source = { uploadKey: uploadKey(TENANT, randomUUID()) };
  await clients.s3.send(new PutObjectCommand({ Bucket: resources.bucketName, Key: source.uploadKey, Body: await writeSolidImage(64, 48, 3, 'jpeg') }));
});
afterAll(async () => {
  aws?.resumeDynamo();
  if (deps !== undefined) destroyDeps(deps);
  for (const client of Object.values(clients ?? {})) client.destroy();
  await aws?.stop();
});

describe('a DynamoDB stall', () => {
  it('gets every answer well under 30 s; "nothing changed" answers left no job, and "may exist" ones resolve to exactly one job with one message', async () => {
    // Healthy first: the same request answers 202 at once.
    const healthy = await create({ source }, 'stall-healthy');
    expect(healthy.statusCode).toBe(202);
    expect(await drainQueue()).toEqual([bodyOf<JobResponse>(healthy).id]);

    const keys = Array.from({ length: 6 }, (_, i) => `stall-${i}`);
    const missingUpload = { source: { uploadKey: uploadKey(TENANT, randomUUID()) } };
    await aws.pauseDynamo();
    let answers: Timed[];
    try {
      answers = await Promise.all([
        ...keys.map((key) => timed('create', key, () => create({ source, options: { upscale: 1 } }, key))),
        timed('create without a key', undefined, () => create({ source, options: { upscale: 1 } })),
        // An upload that is not there makes create-job read the table for an earlier job with this key: a read only.
        timed('create of a missing upload', 'stall-missing', () => create(missingUpload, 'stall-missing')),
        timed('list', undefined, () => api['list-jobs'](apiEvent({ method: 'GET', path: '/jobs', ...as }))),
        timed('get', undefined, () => {
          const id = bodyOf<JobResponse>(healthy).id;
          return api['get-job'](apiEvent({ method: 'GET', path: `/jobs/${id}`, pathParameters: { id }, ...as }));
        }),
      ]);
    } finally {
      aws.resumeDynamo();
    }

    for (const answer of answers) {
      expect(answer.ms, answer.label).toBeLessThan(ANSWER_BOUND_MS);
      // Nothing answered 202 or 500: the table could not be reached, and the caller is told which way it failed.
      expect(answer.status, answer.label).toBe(503);
      expect(answer.problem, answer.label).toMatchObject({ retryable: true });
      expect(answer.retryAfter, answer.label).toBe('1');
    }
    const byLabel = (label: string) => answers.filter((a) => a.label === label);
    // Reads change nothing: a plain 503.
    for (const label of ['list', 'get', 'create of a missing upload']) expect(byLabel(label).map((a) => a.problem?.code)).toEqual(['SERVICE_UNAVAILABLE']);
    // Each create's put was sent to the stalled table, which applies it once it runs again: "may exist".
    const unknown = [...byLabel('create'), ...byLabel('create without a key')];
    for (const answer of unknown) {
      expect(answer.problem, answer.label).toMatchObject({ code: 'JOB_STATE_UNKNOWN', instance: expect.stringMatching(/^\/jobs\/[0-9a-f-]{36}$/) });
    }
    expect(byLabel('create').map((a) => a.problem?.instance)).toEqual(keys.map((key) => `/jobs/${idempotentJobId(TENANT, key)}`));
    expect(byLabel('create without a key')[0]?.problem?.detail).toContain('without an Idempotency-Key would create a second job');

    // After the stall: the "nothing changed" create left no job behind.
    expect(await rawRecord(idempotentJobId(TENANT, 'stall-missing'))).toBeUndefined();
    // Each "may exist" create, sent again with its key, answers 202 with the one job of that key, whether the stalled
    // put landed first (a replay) or the retry created it.
    const retried = await Promise.all(keys.map((key) => create({ source, options: { upscale: 1 } }, key)));
    expect(retried.map((r) => r.statusCode)).toEqual(keys.map(() => 202));
    const ids = retried.map((r) => bodyOf<JobResponse>(r).id);
    expect(ids).toEqual(keys.map((key) => idempotentJobId(TENANT, key)));
    for (const id of ids) expect(await rawRecord(id), id).toMatchObject({ status: 'QUEUED', attempts: 0 });

    // Every keyed job gets exactly one message: the retry sent it, or (for a replay of a put that landed late, still
    // in the outbox) the sweeper does once the grace period has passed.
    const sent = await drainQueue();
    await sweepEnqueue({ ...deps, now: () => Date.now() + DEFAULT_ENQUEUE_GRACE_PERIOD_MS + 1_000 });
    const messages = [...sent, ...(await drainQueue())];
    for (const id of ids) expect(messages.filter((m) => m === id), id).toHaveLength(1);
    // The keyless create's put may or may not have landed (a stalled table may drop what a closed connection sent).
    const keyless = byLabel('create without a key')[0]!.problem!.instance!.split('/').pop()!;
    expect(messages.filter((m) => m === keyless).length).toBeLessThanOrEqual(1);
    expect(messages.filter((m) => m !== keyless && !ids.includes(m))).toEqual([]);
    // No other job appeared: the healthy one, the six keyed ones, and the keyless one if its put landed.
    const healthyId = bodyOf<JobResponse>(healthy).id;
    const all = await tenantJobIds();
    expect(all).toEqual(expect.arrayContaining([healthyId, ...ids]));
    expect(all.filter((id) => id !== keyless && id !== healthyId && !ids.includes(id))).toEqual([]);
  });
});
