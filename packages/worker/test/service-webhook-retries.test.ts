// Issue 18 item 9: webhook retries are durable (the webhook-retry queue on the emulators, real SQS and DynamoDB
// clients), spread over a schedule, recorded on the job, and a 3xx is final. The schedule is injected in seconds; the
// sender's quick attempts run first (as in the worker or the DLQ consumer), then the retry consumer (the Lambda's code,
// in-process here as under `pnpm start`) is started separately: nothing of the schedule lives in the sender's memory.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateQueueCommand, DeleteQueueCommand, GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { DEFAULT_JOB_TTL_DAYS, jobOptionsSchema, jobResponseFromRecord, webhookMessageId, type JobRecord } from '@revive/contract';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { JobStore } from '../src/service/job-store.js';
import { SafeHttpClient } from '../src/service/source-fetch.js';
import { Telemetry } from '../src/service/telemetry.js';
import { WebhookSender } from '../src/service/webhook.js';
import { webhookPayload, WebhookDispatcher, WebhookRetryQueue, type WebhookRetryOutcome } from '../src/service/webhook-retries.js';
// The consumer is the local stack's (the retry Lambda's handler in an in-process loop): what these tests drive.
import { startLocalWebhookRetryConsumer, type WebhookRetryConsumer } from '../../dev-stack/src/webhook-retry-consumer.js';
import { createStack, enqueue, JOB_END_CEILING_MS, photo, type Stack, startWorkerProcess, TEST_WEBHOOK_SECRET as SECRET, upload, waitForRecord, writeIdentityRestorer } from './service-helpers.js';

const TENANT = 'tenant-hooks';
/** Seconds, not the production hours: the same code, a schedule a test can wait for. */
const SCHEDULE = { retryDelaysSeconds: [1, 1, 1], maxQueueDelaySeconds: 1, random: () => 0.5 };
let stack: Stack;
let dir: string;
let hooks: Server;
let hookBase = '';
/** Answers per path: a list of statuses, the last repeated. */
const script = new Map<string, number[]>();
const received: { path: string; body: string; headers: IncomingHttpHeaders; at: number }[] = [];
let consumer: WebhookRetryConsumer | undefined;
const outcomes: { outcome: WebhookRetryOutcome; jobId: string }[] = [];
const http = new SafeHttpClient({ allowCidrs: ['127.0.0.2/32'], timeoutMs: 5_000 });
const telemetry = new Telemetry({ logLevel: 'SILENT' });

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-hooks-'));
  hooks = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const url = req.url ?? '';
      received.push({ path: url, body, headers: req.headers, at: Date.now() });
      const answers = script.get(url) ?? [200];
      const status = answers.length > 1 ? answers.shift()! : answers[0]!;
      res.writeHead(status, status >= 300 && status < 400 ? { location: `${hookBase}/elsewhere` } : {}).end();
    });
  });
  await new Promise<void>((r) => hooks.listen(0, '127.0.0.2', r));
  hookBase = `http://127.0.0.2:${(hooks.address() as AddressInfo).port}`;
  stack = await createStack(inject('localAws'), { visibilityTimeoutSeconds: 10 });
});

afterAll(async () => {
  await consumer?.stop();
  await http.close();
  stack?.destroy();
  hooks?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A job that has just ended FAILED, with a webhook. */
async function finishedJob(hookPath: string, answers: number[]): Promise<JobRecord> {
  script.set(hookPath, [...answers]);
  const now = new Date();
  const record: JobRecord = {
    jobId: randomUUID(),
    tenantId: TENANT,
    status: 'FAILED',
    source: { kind: 's3', key: `uploads/${TENANT}/x` },
    options: jobOptionsSchema.parse({}),
    attempts: 1,
    createdAt: now.toISOString(),
    finishedAt: now.toISOString(),
    errorCode: 'NO_FACE',
    errorMessage: 'no face',
    webhookUrl: `${hookBase}${hookPath}`,
    expiresAt: Math.floor(now.getTime() / 1000) + DEFAULT_JOB_TTL_DAYS * 86_400,
  };
  await stack.doc.send(new PutCommand({ TableName: stack.resources.tableName, Item: record }));
  return record;
}

/** The sender's side, as in the worker: one quick attempt here, then the durable schedule. */
async function deliverOnce(record: JobRecord): Promise<void> {
  const store = new JobStore(stack.resources.tableName, stack.clients.dynamodb);
  const dispatcher = new WebhookDispatcher(
    { sender: new WebhookSender(http, { secret: SECRET, maxAttempts: 1 }), store, retries: new WebhookRetryQueue(stack.resources.webhookRetryQueueUrl, stack.clients.sqs, SCHEDULE.maxQueueDelaySeconds), telemetry },
    SCHEDULE,
  );
  await dispatcher.deliver(record, await webhookPayload(record, undefined));
}

function startConsumer(): void {
  consumer ??= startLocalWebhookRetryConsumer({
    env: {
      REVIVE_TABLE_NAME: stack.resources.tableName,
      REVIVE_BUCKET_NAME: stack.resources.bucketName,
      REVIVE_WEBHOOK_RETRY_QUEUE_URL: stack.resources.webhookRetryQueueUrl,
      REVIVE_WEBHOOK_SECRET: SECRET,
      REVIVE_URL_ALLOW_CIDRS: '127.0.0.2/32',
    },
    clients: { sqs: stack.clients.sqs, dynamodb: stack.clients.dynamodb, presignS3: stack.clients.s3 },
    schedule: SCHEDULE,
    telemetry,
    onOutcome: (outcome, message) => outcomes.push({ outcome, jobId: (JSON.parse(message.Body ?? '{}') as { jobId?: string }).jobId ?? '' }),
  });
}

const hits = (p: string) => received.filter((r) => r.path === p);

describe('durable webhook retries', () => {
  it('a receiver that fails 3 times, then answers 200: DELIVERING with the next attempt recorded, then DELIVERED after the durable retries', async () => {
    const job = await finishedJob('/flaky', [503, 500, 503, 200]);
    await deliverOnce(job);
    // The quick attempt failed: the record says so, with when the next one is due; nothing is in the sender's memory.
    const delivering = await waitForRecord(stack, job.jobId, (r) => r.webhookDelivery !== undefined);
    expect(delivering.webhookDelivery).toMatchObject({ status: 'DELIVERING', attempts: 1, httpStatus: 503 });
    expect(Date.parse(delivering.webhookDelivery!.nextAttemptAt!)).toBeGreaterThan(Date.parse(delivering.webhookDelivery!.at));
    expect(delivering.webhookDelivery!.completedAt).toBeUndefined();
    expect(jobResponseFromRecord(delivering).webhook_delivery).toMatchObject({ status: 'DELIVERING', attempts: 1, http_status: 503, next_attempt_at: delivering.webhookDelivery!.nextAttemptAt, completed_at: null });

    startConsumer();
    const delivered = await waitForRecord(stack, job.jobId, (r) => r.webhookDelivery?.status !== 'DELIVERING', 60_000);
    expect(delivered.webhookDelivery).toMatchObject({ status: 'DELIVERED', attempts: 4, httpStatus: 200 });
    expect(delivered.webhookDelivery!.completedAt).toBeDefined();
    expect(delivered.webhookDelivery!.nextAttemptAt).toBeUndefined();
    expect(jobResponseFromRecord(delivered).webhook_delivery).toMatchObject({ status: 'DELIVERED', attempts: 4, http_status: 200, next_attempt_at: null, completed_at: delivered.webhookDelivery!.completedAt });
    // Four POSTs, each the job, each signed per Standard Webhooks (its reference library verifies them) at its own
    // time, all with one webhook-id: the quick attempt and the durable retries, made by other processes, are one
    // delivery to a receiver that dedupes. Spaced by the schedule (1 s), not sent at once.
    const posts = hits('/flaky');
    expect(posts).toHaveLength(4);
    for (const post of posts) {
      const headers = post.headers as Record<string, string>;
      expect(new Webhook(SECRET).verify(post.body, headers)).toMatchObject({ id: job.jobId, status: 'FAILED' });
      expect(headers['webhook-id']).toBe(webhookMessageId(job.jobId, 'job.failed'));
      expect(() => new Webhook(SECRET).verify(post.body.replace('"FAILED"', '"SUCCEEDED"'), headers)).toThrow(WebhookVerificationError);
    }
    // Each attempt's timestamp is its own (whole seconds, so within a second of its arrival), not the first one's.
    for (const post of posts) expect(Math.abs(Number(post.headers['webhook-timestamp']) - post.at / 1000)).toBeLessThanOrEqual(1);
    expect(Number(posts.at(-1)!.headers['webhook-timestamp'])).toBeGreaterThan(Number(posts[0]!.headers['webhook-timestamp']));
    for (let i = 1; i < posts.length; i++) expect(posts[i]!.at - posts[i - 1]!.at).toBeGreaterThanOrEqual(900);
  });

  it('a 302 is final: REFUSED with the reason after one attempt, the redirect not followed, nothing scheduled', async () => {
    const job = await finishedJob('/moved', [302]);
    await deliverOnce(job);
    const refused = await waitForRecord(stack, job.jobId, (r) => r.webhookDelivery !== undefined);
    expect(refused.webhookDelivery).toMatchObject({ status: 'REFUSED', attempts: 1, httpStatus: 302 });
    expect(refused.webhookDelivery!.error).toMatch(/302.*redirect/);
    expect(refused.webhookDelivery!.completedAt).toBeDefined();
    expect(hits('/moved')).toHaveLength(1);
    expect(hits('/elsewhere')).toHaveLength(0);
  });

  it('a final answer during the durable retries (503, then 302) ends REFUSED; a receiver that never answers 2xx ends FAILED once the schedule runs out', async () => {
    startConsumer();
    const moved = await finishedJob('/later-moved', [503, 302]);
    const down = await finishedJob('/down', [500]);
    await deliverOnce(moved);
    await deliverOnce(down);
    const a = await waitForRecord(stack, moved.jobId, (r) => r.webhookDelivery !== undefined && r.webhookDelivery.status !== 'DELIVERING', 60_000);
    expect(a.webhookDelivery).toMatchObject({ status: 'REFUSED', attempts: 2, httpStatus: 302 });
    expect(a.webhookDelivery!.error).toMatch(/redirect/);
    expect(hits('/later-moved')).toHaveLength(2);
    const b = await waitForRecord(stack, down.jobId, (r) => r.webhookDelivery !== undefined && r.webhookDelivery.status !== 'DELIVERING', 60_000);
    // 1 quick attempt + the 3 retries of the schedule.
    expect(b.webhookDelivery).toMatchObject({ status: 'FAILED', attempts: 4, httpStatus: 500 });
    expect(b.webhookDelivery!.error).toMatch(/gave up after 4 attempts; last: answered 500/);
    expect(hits('/down')).toHaveLength(4);
  });

  it("a SUCCEEDED job's retried body carries a result URL presigned at the retry, which downloads the result", async () => {
    startConsumer();
    const job = await finishedJob('/succeeded', [503, 200]);
    const resultKey = `results/${TENANT}/${job.jobId}-1.png`;
    await stack.clients.s3.send(new PutObjectCommand({ Bucket: stack.resources.bucketName, Key: resultKey, Body: 'the result', ContentType: 'image/png' }));
    const succeeded: JobRecord = { ...job, status: 'SUCCEEDED', resultKey, resultWidth: 4, resultHeight: 4 };
    delete (succeeded as Partial<JobRecord>).errorCode;
    delete (succeeded as Partial<JobRecord>).errorMessage;
    await stack.doc.send(new PutCommand({ TableName: stack.resources.tableName, Item: succeeded }));
    await deliverOnce(succeeded);
    await waitForRecord(stack, job.jobId, (r) => r.webhookDelivery?.status === 'DELIVERED', 60_000);
    const posts = hits('/succeeded');
    expect(posts).toHaveLength(2);
    // The quick attempt had no presigner here; the retry signed one.
    expect(JSON.parse(posts[0]!.body)).toMatchObject({ status: 'SUCCEEDED', output: null });
    const retried = JSON.parse(posts[1]!.body) as { status: string; output: { url: string } | null };
    expect(retried.status).toBe('SUCCEEDED');
    const download = await fetch(retried.output!.url);
    expect(download.status).toBe(200);
    expect(await download.text()).toBe('the result');
  });

  it('a retry message for a webhook already final is dropped without a POST; one whose step was recorded but not scheduled sends the next', async () => {
    startConsumer();
    const sendRetry = (jobId: string, attempt: number) =>
      stack.clients.sqs.send(
        new SendMessageCommand({
          QueueUrl: stack.resources.webhookRetryQueueUrl,
          MessageBody: JSON.stringify({ version: 1, jobId, tenantId: TENANT, attempt, retry: 0, notBefore: new Date().toISOString() }),
        }),
      );
    const at = new Date().toISOString();
    // Final already (a duplicate or late message): nothing is posted.
    const done = await finishedJob('/already-done', [200]);
    await stack.doc.send(new PutCommand({ TableName: stack.resources.tableName, Item: { ...done, webhookDelivery: { status: 'DELIVERED', attempts: 2, httpStatus: 200, at, completedAt: at } } }));
    await sendRetry(done.jobId, 3);
    // The record says attempt 2 was made and the next is due, but its message was never sent (a failed send).
    const stuck = await finishedJob('/stuck', [200]);
    await stack.doc.send(new PutCommand({ TableName: stack.resources.tableName, Item: { ...stuck, webhookDelivery: { status: 'DELIVERING', attempts: 2, httpStatus: 503, at, nextAttemptAt: at } } }));
    await sendRetry(stuck.jobId, 2);
    // A duplicate of a message whose attempt was made and whose successor was sent: dropped, no second chain.
    const twin = await finishedJob('/twin', [200]);
    await stack.doc.send(new PutCommand({ TableName: stack.resources.tableName, Item: { ...twin, webhookDelivery: { status: 'DELIVERING', attempts: 2, httpStatus: 503, at, nextAttemptAt: new Date(Date.now() + 3_600_000).toISOString(), retryScheduledFor: 3 } } }));
    await sendRetry(twin.jobId, 2);
    const delivered = await waitForRecord(stack, stuck.jobId, (r) => r.webhookDelivery?.status === 'DELIVERED', 60_000);
    expect(delivered.webhookDelivery).toMatchObject({ attempts: 3, httpStatus: 200 });
    expect(outcomes.filter((o) => o.jobId === stuck.jobId).map((o) => o.outcome)).toEqual(['rescheduled', 'attempted']);
    const until = Date.now() + 30_000;
    while (!outcomes.some((o) => o.jobId === done.jobId) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    expect(outcomes.filter((o) => o.jobId === done.jobId).map((o) => o.outcome)).toEqual(['stale']);
    expect(hits('/already-done')).toHaveLength(0);
    expect(hits('/stuck')).toHaveLength(1);
    while (!outcomes.some((o) => o.jobId === twin.jobId) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    expect(outcomes.filter((o) => o.jobId === twin.jobId).map((o) => o.outcome)).toEqual(['stale']);
    expect(hits('/twin')).toHaveLength(0);
  });

  it('a wait longer than one queue delay is made in hops (re-sent until due), then attempted', async () => {
    startConsumer();
    const job = await finishedJob('/patient', [503, 200]);
    // One retry due in 8 s, queue delays of at most 1 s: the message comes back early and is re-sent (several hops'
    // slack, so a consumer that receives late on a loaded machine still sees it early at least once).
    const store = new JobStore(stack.resources.tableName, stack.clients.dynamodb);
    const dispatcher = new WebhookDispatcher(
      { sender: new WebhookSender(http, { secret: SECRET, maxAttempts: 1 }), store, retries: new WebhookRetryQueue(stack.resources.webhookRetryQueueUrl, stack.clients.sqs, 1), telemetry },
      { retryDelaysSeconds: [8], random: () => 0.5 },
    );
    await dispatcher.deliver(job, await webhookPayload(job, undefined));
    const done = await waitForRecord(stack, job.jobId, (r) => r.webhookDelivery?.status === 'DELIVERED', 60_000);
    expect(done.webhookDelivery).toMatchObject({ attempts: 2 });
    const mine = outcomes.filter((o) => o.jobId === job.jobId).map((o) => o.outcome);
    expect(mine).toContain('deferred');
    expect(mine.at(-1)).toBe('attempted');
    const posts = hits('/patient');
    expect(posts[1]!.at - posts[0]!.at).toBeGreaterThanOrEqual(2_000);
  });

  it('the local consumer logs a retry it could not handle (never silent)', async () => {
    // A queue of its own, so the other tests' consumer never sees this message; a table that does not exist.
    const { QueueUrl: queueUrl } = await stack.clients.sqs.send(new CreateQueueCommand({ QueueName: `hooks-broken-${randomUUID()}` }));
    const loud = new Telemetry({ logLevel: 'SILENT' });
    const failures: unknown[][] = [];
    vi.spyOn(loud.logger, 'error').mockImplementation((...args: unknown[]) => void failures.push(args));
    const broken = startLocalWebhookRetryConsumer({
      env: {
        REVIVE_TABLE_NAME: `missing-${randomUUID()}`,
        REVIVE_BUCKET_NAME: stack.resources.bucketName,
        REVIVE_WEBHOOK_RETRY_QUEUE_URL: queueUrl!,
        REVIVE_WEBHOOK_SECRET: SECRET,
        REVIVE_URL_ALLOW_CIDRS: '127.0.0.2/32',
      },
      clients: { sqs: stack.clients.sqs, dynamodb: stack.clients.dynamodb, presignS3: stack.clients.s3 },
      schedule: SCHEDULE,
      telemetry: loud,
    });
    try {
      await stack.clients.sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: JSON.stringify({ version: 1, jobId: randomUUID(), tenantId: TENANT, attempt: 2, retry: 0, notBefore: new Date().toISOString() }),
        }),
      );
      await vi.waitFor(() => expect(failures.some(([m]) => String(m).includes('handling a message failed'))).toBe(true), { timeout: 60_000, interval: 100 });
    } finally {
      await broken.stop();
      await stack.clients.sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));
    }
  });

  it('the worker itself schedules the durable retry: after its quick attempts the record says DELIVERING and a delayed message waits on the retry queue', async () => {
    script.set('/worker-down', [503]);
    const key = await upload(stack, TENANT, (await photo(200)).bytes);
    const job = await enqueue(stack, { kind: 's3', key }, { tenantId: TENANT, options: { upscale: 1 }, webhookUrl: `${hookBase}/worker-down` });
    const worker = await startWorkerProcess(stack, { restorer: await writeIdentityRestorer(path.join(dir, 'models')), healthFile: path.join(dir, 'health.json') });
    try {
      const record = await waitForRecord(stack, job.jobId, (r) => r.webhookDelivery !== undefined, JOB_END_CEILING_MS);
      // The worker's defaults: 3 quick attempts, then the first durable retry about 30 s later.
      expect(record).toMatchObject({ status: 'SUCCEEDED', webhookDelivery: { status: 'DELIVERING', attempts: 3, httpStatus: 503 } });
      const dueInSeconds = (Date.parse(record.webhookDelivery!.nextAttemptAt!) - Date.parse(record.webhookDelivery!.at)) / 1000;
      expect(dueInSeconds).toBeGreaterThanOrEqual(26);
      expect(dueInSeconds).toBeLessThanOrEqual(34);
    } finally {
      await worker.stop();
    }
    // The schedule outlives the worker: the retry is on the queue, not in the stopped process.
    const attrs = await stack.clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: stack.resources.webhookRetryQueueUrl, AttributeNames: ['ApproximateNumberOfMessagesDelayed', 'ApproximateNumberOfMessages'] }),
    );
    expect(Number(attrs.Attributes?.ApproximateNumberOfMessagesDelayed ?? 0) + Number(attrs.Attributes?.ApproximateNumberOfMessages ?? 0)).toBeGreaterThanOrEqual(1);
    expect(hits('/worker-down')).toHaveLength(3);
  });
});
