// The outbox against the shared emulators: a create-job Lambda that dies between the put and the send leaves a
// pending record, and the sweeper sends its message after the grace period. Own resources, so the sweeper sees only
// this file's records.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

import { createServer, type AddressInfo, type Socket } from 'node:net';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { BatchWriteCommand, DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  createJobRequestSchema,
  jobMessageSchema,
  LEGACY_PENDING_PARTITION,
  pendingShardKey,
  TABLE_SCHEMA,
  uploadKey,
  type JobMessage,
  type JobRecord,
  type JobResponse,
} from '@revive/contract';
import { createReviveResources, localAwsEnv, localClients, type ReviveResources } from '@revive/local-aws';
import { writeSolidImage } from '@revive/pipeline/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDeps, destroyDeps, type ApiDeps } from '../src/app.js';
import { JobQueueSender } from '../src/aws/job-queue.js';
import { DEFAULT_ENQUEUE_GRACE_PERIOD_MS, DEFAULT_PARENT_SWEEP_GRACE_PERIOD_MS, sweepEnqueue, toSweepHandler } from '../src/handlers/sweep-enqueue.js';
import { pendingEnqueueMark } from '../src/jobs.js';
import { startLocalSweeper } from '../../dev-stack/src/sweeper.js';
import { bindHandlers } from '../src/routes.js';
import { apiEvent, bodyOf } from './helpers.js';

const aws = inject('localAws');
const clients = localClients(aws);
const doc = DynamoDBDocumentClient.from(clients.dynamodb);
let resources: ReviveResources;
let env: Record<string, string>;
let deps: ApiDeps;
const cleanups: (() => void)[] = [];
const tenant = 'tenant-outbox';
const as = { claims: { sub: tenant } };
const { partitionKey: PENDING, sortKey: PENDING_SINCE } = TABLE_SCHEMA.pendingIndex;

/**
 * The jobs queue as a Lambda that dies inside SendMessage sees it: the send never completes, so neither the
 * compensation (ENQUEUE_FAILED) nor the clearing of the pending mark runs. `reached` resolves with the message
 * create-job built, once its put is done.
 */
class DyingQueue extends JobQueueSender {
  readonly reached: Promise<JobMessage>;
  private arrived!: (message: JobMessage) => void;
  constructor() {
    super(resources.queueUrl, clients.sqs);
    this.reached = new Promise((resolve) => (this.arrived = resolve));
  }
  override async send(message: JobMessage): Promise<string | undefined> {
    this.arrived(message);
    return await new Promise<never>(() => undefined);
  }
}

/** Runs the real create-job up to its send, where the Lambda "dies"; returns the message it was about to send. */
async function createThenDie(body: Record<string, unknown> = {}): Promise<JobMessage> {
  const queue = new DyingQueue();
  const handlers = bindHandlers({ ...deps, queue });
  const source = { uploadKey: uploadKey(tenant, crypto.randomUUID()) };
  // create-job checks that the upload exists before it writes anything.
  await clients.s3.send(new PutObjectCommand({ Bucket: resources.bucketName, Key: source.uploadKey, Body: await writeSolidImage(64, 48, 3, 'jpeg') }));
  void handlers['create-job'](apiEvent({ method: 'POST', path: '/jobs', body: { source, ...body }, ...as }));
  return await queue.reached;
}

/** The deps with the clock moved past the grace period, as the scheduled run a minute later sees it. */
const later = (base: ApiDeps = deps, ms = DEFAULT_ENQUEUE_GRACE_PERIOD_MS + 1_000): ApiDeps => ({ ...base, now: () => Date.now() + ms });

async function drainQueue(): Promise<JobMessage[]> {
  const bodies: JobMessage[] = [];
  for (;;) {
    const out = await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: resources.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    if (!out.Messages?.length) return bodies;
    for (const m of out.Messages) {
      bodies.push(jobMessageSchema.parse(JSON.parse(m.Body!)));
      await clients.sqs.send(new DeleteMessageCommand({ QueueUrl: resources.queueUrl, ReceiptHandle: m.ReceiptHandle! }));
    }
  }
}
async function rawRecord(jobId: string) {
  return (await doc.send(new GetCommand({ TableName: resources.tableName, Key: { jobId }, ConsistentRead: true }))).Item;
}

beforeAll(async () => {
  resources = await createReviveResources(aws);
  env = { ...localAwsEnv(aws, resources), REVIVE_LOCAL_MODE: 'false' };
  deps = createDeps(env);
});
afterAll(() => {
  destroyDeps(deps);
  for (const c of cleanups) c();
  clients.sqs.destroy();
  clients.s3.destroy();
  clients.dynamodb.destroy();
});

describe('enqueue sweeper (outbox)', () => {
  it('re-enqueues a job whose create-job died between the put and the send, only after the grace period, with the message create-job built', async () => {
    await drainQueue();
    const before = Date.now();
    const lost = await createThenDie({ options: { upscale: 3, ext: 'png' }, webhookUrl: 'https://hooks.example.com/revive' });
    const record = await rawRecord(lost.jobId);
    expect(record).toMatchObject({ jobId: lost.jobId, status: 'QUEUED', attempts: 0, [PENDING]: pendingShardKey(lost.jobId) });
    expect(record![PENDING_SINCE]).toBeGreaterThanOrEqual(before);
    expect(await drainQueue()).toEqual([]);

    // Within the grace period the create might still be running: the sweeper leaves it alone.
    expect(await sweepEnqueue(deps)).toMatchObject({ examined: 0, reenqueued: 0 });
    expect(await drainQueue()).toEqual([]);

    const swept = await sweepEnqueue(later());
    expect(swept).toEqual({ examined: 1, reenqueued: 1, cleared: 0, failed: 0 });
    const messages = await drainQueue();
    expect(messages).toHaveLength(1);
    // Built from the record exactly as create-job builds it; only the send time differs.
    expect(messages[0]).toEqual({ ...lost, enqueuedAt: expect.any(String) });
    expect(Date.parse(messages[0]!.enqueuedAt)).toBeGreaterThan(Date.parse(lost.enqueuedAt));

    const after = await rawRecord(lost.jobId);
    expect(after).toMatchObject({ status: 'QUEUED', attempts: 0 });
    expect(after).not.toHaveProperty(PENDING);
    expect(after).not.toHaveProperty(PENDING_SINCE);
    // Out of the outbox: the next run sends nothing.
    expect(await sweepEnqueue(later())).toMatchObject({ examined: 0, reenqueued: 0 });
    expect(await drainQueue()).toEqual([]);
  });

  it('does not re-send a pending job a worker already took or that was canceled; it only removes the mark', async () => {
    await drainQueue();
    const running = await createThenDie();
    const canceled = await createThenDie();
    // The worker's claim (JobStore.claim): conditional QUEUED → RUNNING, attempts + 1.
    await doc.send(
      new UpdateCommand({
        TableName: resources.tableName,
        Key: { jobId: running.jobId },
        UpdateExpression: 'SET #s = :running, attempts = attempts + :one, leaseOwner = :owner, leaseExpiresAt = :lease, startedAt = :now',
        ConditionExpression: '#s = :queued',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':running': 'RUNNING', ':queued': 'QUEUED', ':one': 1, ':owner': 'worker-1', ':lease': Date.now() + 60_000, ':now': new Date().toISOString() },
      }),
    );
    const api = bindHandlers(deps);
    const cancel = await api['cancel-job'](apiEvent({ method: 'DELETE', path: `/jobs/${canceled.jobId}`, pathParameters: { id: canceled.jobId }, ...as }));
    expect(bodyOf<JobResponse>(cancel).status).toBe('CANCELED');

    expect(await sweepEnqueue(later())).toEqual({ examined: 2, reenqueued: 0, cleared: 2, failed: 0 });
    expect(await drainQueue()).toEqual([]);
    const [r, c] = [await rawRecord(running.jobId), await rawRecord(canceled.jobId)];
    expect(r).toMatchObject({ status: 'RUNNING', attempts: 1 });
    expect(c).toMatchObject({ status: 'CANCELED' });
    for (const record of [r, c]) {
      expect(record).not.toHaveProperty(PENDING);
      expect(record).not.toHaveProperty(PENDING_SINCE);
    }
  });

  it('pages through the outbox shards and stops at maxJobsPerRun; the next run takes the rest', async () => {
    await drainQueue();
    const lost = [await createThenDie(), await createThenDie(), await createThenDie()];
    const first = await sweepEnqueue(later(), { maxJobsPerRun: 2, pageSize: 1 });
    expect(first).toEqual({ examined: 2, reenqueued: 2, cleared: 0, failed: 0 });
    const firstIds = (await drainQueue()).map((m) => m.jobId);
    expect(firstIds).toHaveLength(2);
    expect(await sweepEnqueue(later(), { maxJobsPerRun: 2, pageSize: 1 })).toEqual({ examined: 1, reenqueued: 1, cleared: 0, failed: 0 });
    const secondIds = (await drainQueue()).map((m) => m.jobId);
    // Each job sent exactly once over the two runs.
    expect([...firstIds, ...secondIds].sort()).toEqual(lost.map((m) => m.jobId).sort());
  });

  it('recovers a large outbox spread over every shard in one run (far beyond the old 100 jobs a run)', async () => {
    await drainQueue();
    const count = 150;
    const since = Date.now();
    const records = Array.from({ length: count }, (_, i): JobRecord => {
      const jobId = crypto.randomUUID();
      return {
        jobId,
        tenantId: tenant,
        status: 'QUEUED',
        source: { kind: 's3', key: uploadKey(tenant, `bulk-${i}`) },
        options: createJobRequestSchema.shape.options.unwrap().parse({}),
        attempts: 0,
        createdAt: new Date(since).toISOString(),
        expiresAt: Math.floor(since / 1000) + 3600,
        ...pendingEnqueueMark(jobId, since + i),
      };
    });
    // Written as create-job's put leaves them when the Lambda dies before the send.
    for (let i = 0; i < records.length; i += 25) {
      await doc.send(new BatchWriteCommand({ RequestItems: { [resources.tableName]: records.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) } }));
    }
    expect(new Set(records.map((r) => r.enqueuePending)).size).toBe(TABLE_SCHEMA.pendingIndex.shards);
    // One record marked the way records were before sharding: still swept.
    records[0] = { ...records[0]!, enqueuePending: LEGACY_PENDING_PARTITION };
    await doc.send(new BatchWriteCommand({ RequestItems: { [resources.tableName]: [{ PutRequest: { Item: records[0] } }] } }));

    const swept = await sweepEnqueue(later(), { timeBudgetMs: 120_000 });
    expect(swept).toEqual({ examined: count, reenqueued: count, cleared: 0, failed: 0 });
    const sent = await drainQueue();
    expect(sent.map((m) => m.jobId).sort()).toEqual(records.map((r) => r.jobId).sort());
    for (const r of [records[0]!, records.at(-1)!]) expect(await rawRecord(r.jobId)).not.toHaveProperty(PENDING);
  });

  it('keeps the mark when the resend fails, so the next run sends it', async () => {
    await drainQueue();
    const lost = await createThenDie();
    const broken = createDeps({ ...env, REVIVE_QUEUE_URL: `${aws.endpoints.sqs}/000000000000/no-such-queue-${Date.now()}` });
    cleanups.push(() => destroyDeps(broken));
    // The scheduled handler, as EventBridge invokes it (no context locally).
    const failed = await toSweepHandler(() => later(broken))();
    expect(failed).toEqual({ examined: 1, reenqueued: 0, cleared: 0, failed: 1 });
    expect(await rawRecord(lost.jobId)).toMatchObject({ status: 'QUEUED', [PENDING]: pendingShardKey(lost.jobId) });
    expect(await drainQueue()).toEqual([]);

    expect(await sweepEnqueue(later())).toMatchObject({ reenqueued: 1, failed: 0 });
    expect((await drainQueue()).map((m) => m.jobId)).toEqual([lost.jobId]);
  });

  it('accepts the job (202) when SQS does not answer before the deadline: it stays in the outbox and the sweeper sends it', async () => {
    await drainQueue();
    // An SQS endpoint that takes connections and never answers, as a stalled service does.
    const held: Socket[] = [];
    const silent = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    cleanups.push(() => {
      for (const socket of held) socket.destroy();
      silent.close();
    });
    const stalled = createDeps({ ...env, AWS_ENDPOINT_URL_SQS: `http://127.0.0.1:${(silent.address() as AddressInfo).port}` });
    cleanups.push(() => destroyDeps(stalled));
    const deadlineMs = 1_500;
    const api = bindHandlers(stalled, { requestDeadlineMs: deadlineMs });
    const source = { uploadKey: uploadKey(tenant, crypto.randomUUID()) };
    await clients.s3.send(new PutObjectCommand({ Bucket: resources.bucketName, Key: source.uploadKey, Body: await writeSolidImage(64, 48, 3, 'jpeg') }));

    const started = performance.now();
    const res = await api['create-job'](apiEvent({ method: 'POST', path: '/jobs', body: { source }, headers: { 'idempotency-key': `silent-${crypto.randomUUID()}` }, ...as }));
    const elapsed = performance.now() - started;
    expect(res.statusCode).toBe(202);
    expect(elapsed).toBeGreaterThanOrEqual(deadlineMs - 50);
    expect(elapsed).toBeLessThan(deadlineMs + 5_000);
    expect(held.length).toBeGreaterThan(0);
    const job = bodyOf<JobResponse>(res);
    expect(job.status).toBe('QUEUED');
    expect(await rawRecord(job.id)).toMatchObject({ status: 'QUEUED', attempts: 0, [PENDING]: pendingShardKey(job.id) });
    expect(await drainQueue()).toEqual([]);

    expect(await sweepEnqueue(later())).toMatchObject({ reenqueued: 1, failed: 0 });
    expect((await drainQueue()).map((m) => m.jobId)).toEqual([job.id]);
    expect(await rawRecord(job.id)).not.toHaveProperty(PENDING);
  });

  it('the local stack runs the same sweep on an interval', async () => {
    await drainQueue();
    const lost = await createThenDie();
    const sweeper = startLocalSweeper(later(), 50);
    try {
      const deadline = Date.now() + 10_000;
      let messages: JobMessage[] = [];
      while (messages.length === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        messages = await drainQueue();
      }
      expect(messages.map((m) => m.jobId)).toEqual([lost.jobId]);
    } finally {
      await sweeper.stop();
    }
    expect(await rawRecord(lost.jobId)).not.toHaveProperty(PENDING);
  });
});

describe('parent sweeper (albums and videos whose children stopped ending)', () => {
  it('sends an open album its own message once no photo ended for the parent grace period, then waits another period; an ended album only leaves the outbox', async () => {
    await drainQueue();
    const handlers = bindHandlers(deps);
    const sources = await Promise.all(
      [0, 1].map(async () => {
        const key = uploadKey(tenant, crypto.randomUUID());
        await clients.s3.send(new PutObjectCommand({ Bucket: resources.bucketName, Key: key, Body: await writeSolidImage(32, 32, 3, 'jpeg') }));
        return { uploadKey: key };
      }),
    );
    const created = await handlers['create-album'](apiEvent({ method: 'POST', path: '/albums', body: { sources }, ...as }));
    expect(created.statusCode).toBe(202);
    const album = bodyOf<JobResponse>(created);
    // The photos' messages, sent by create-album; the photos leave the outbox, the album stays in it.
    expect((await drainQueue()).map((m) => m.parentJobId)).toEqual([album.id, album.id]);
    const since = (await rawRecord(album.id))![PENDING_SINCE] as number;

    // Past the outbox's grace, but not the parent's: nothing to do yet.
    expect(await sweepEnqueue(later())).toMatchObject({ reenqueued: 0 });
    expect(await drainQueue()).toEqual([]);

    const quiet = DEFAULT_PARENT_SWEEP_GRACE_PERIOD_MS + 1_000;
    expect(await sweepEnqueue(later(deps, quiet))).toMatchObject({ reenqueued: 1, failed: 0 });
    const [recount, ...more] = await drainQueue();
    expect(more).toEqual([]);
    expect(recount).toMatchObject({ jobId: album.id, kind: 'album', source: { kind: 'album', photos: 2 } });
    const moved = (await rawRecord(album.id))![PENDING_SINCE] as number;
    expect(moved).toBeGreaterThan(since);

    // The mark moved to that run's time: the next run, as soon after, leaves it alone.
    expect(await sweepEnqueue(later(deps, quiet))).toMatchObject({ reenqueued: 0 });
    expect(await drainQueue()).toEqual([]);

    // Once it ended, the sweeper only takes it out of the outbox.
    await doc.send(new UpdateCommand({ TableName: resources.tableName, Key: { jobId: album.id }, UpdateExpression: 'SET #s = :done', ExpressionAttributeNames: { '#s': 'status' }, ExpressionAttributeValues: { ':done': 'SUCCEEDED' } }));
    expect(await sweepEnqueue(later(deps, 2 * quiet))).toMatchObject({ reenqueued: 0, cleared: 1 });
    expect(await drainQueue()).toEqual([]);
    expect(await rawRecord(album.id)).not.toHaveProperty(PENDING);
  });
});
