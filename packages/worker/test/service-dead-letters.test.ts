// Issue 10 point 10: a job never ends for a dead-lettered message. The DLQ consumer (in-process here, as under
// `pnpm start`; a Lambda in AWS) marks it FAILED with DEAD_LETTERED and sends its webhook.
// Issue 18 item 10: that FAILED is final: the same message delivered to a worker again leaves the job FAILED, with
// one webhook (before, the claim took the job over and it ended SUCCEEDED, with a second webhook).
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { jobResponseSchema, WEBHOOK_EVENT_HEADER, webhookMessageId, type JobRecord } from '@revive/contract';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
// The consumer is the local stack's (the DLQ Lambda's handler in an in-process loop): what these tests drive.
import { startLocalDeadLetterConsumer, type RunningDeadLetterConsumer } from '../../dev-stack/src/dead-letter-consumer.js';
import {
  createStack,
  enqueue,
  getRecord,
  isTerminal,
  JOB_END_CEILING_MS,
  photo,
  queueDepth,
  sleep,
  type Stack,
  startWorkerProcess,
  TEST_WEBHOOK_SECRET as SECRET,
  upload,
  waitForRecord,
  writeIdentityRestorer,
} from './service-helpers.js';

const TENANT = 'tenant-dlq';
const VISIBILITY_TIMEOUT_SECONDS = 6;
const MAX_RECEIVE_COUNT = 2;
let stack: Stack;
let dir: string;
let hooks: Server;
let hookBase = '';
const received: { body: string; headers: IncomingHttpHeaders }[] = [];
let consumer: RunningDeadLetterConsumer | undefined;

/** Receives the job's message and hands it straight back, as a worker interrupted on each delivery would; the receive
 * after the last allowed one is when SQS moves it to the DLQ. Resolves once the jobs queue no longer holds it. */
async function deadLetter(): Promise<void> {
  for (;;) {
    const out = await stack.clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: stack.resources.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 0 }));
    if ((out.Messages ?? []).length === 0 && (await queueDepth(stack, stack.resources.queueUrl)) === 0) return;
    await sleep(50);
  }
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-dlq-'));
  hooks = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ body, headers: req.headers });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hooks.listen(0, '127.0.0.2', r));
  hookBase = `http://127.0.0.2:${(hooks.address() as AddressInfo).port}`;
  stack = await createStack(inject('localAws'), { visibilityTimeoutSeconds: VISIBILITY_TIMEOUT_SECONDS, maxReceiveCount: MAX_RECEIVE_COUNT });
});

afterAll(async () => {
  await consumer?.stop();
  stack?.destroy();
  hooks?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('dead-lettered jobs end FAILED with their webhook sent', () => {
  it('the DLQ consumer marks the job FAILED (DEAD_LETTERED) and sends its webhook; a redelivery leaves it FAILED, one webhook', async () => {
    const key = await upload(stack, TENANT, (await photo(240)).bytes);
    const job = await enqueue(stack, { kind: 's3', key }, { tenantId: TENANT, options: { upscale: 1 }, webhookUrl: `${hookBase}/hook` });
    // Another job whose message is dead-lettered after it SUCCEEDED (the delete was lost): left as it is.
    const done = await enqueue(stack, { kind: 's3', key }, { tenantId: TENANT, status: 'SUCCEEDED' });
    await deadLetter();
    expect(await getRecord(stack, job.jobId)).toMatchObject({ status: 'QUEUED' });

    consumer = startLocalDeadLetterConsumer({
      dlqUrl: stack.resources.dlqUrl,
      sqs: stack.clients.sqs,
      dynamodb: stack.clients.dynamodb,
      env: { REVIVE_TABLE_NAME: stack.resources.tableName, REVIVE_WEBHOOK_SECRET: SECRET, REVIVE_URL_ALLOW_CIDRS: '127.0.0.2/32' },
    });
    // Not a wall-clock bound (a loaded machine stretches any of them): the consumer ends it, which the code, the
    // message and the emptied DLQ below show; the generous wait only bounds a hang.
    const failed = await waitForRecord(stack, job.jobId, isTerminal, 60_000);
    expect(failed).toMatchObject({ status: 'FAILED', errorCode: 'DEAD_LETTERED' });
    expect(failed.errorMessage).toMatch(/dead-letter queue/);
    expect(await getRecord(stack, done.jobId)).toMatchObject({ status: 'SUCCEEDED' });
    expect(failed.finishedAt).toBeDefined();

    // The webhook: signed, job.failed, the job as GET /jobs/{id} shows it; its delivery is recorded on the job.
    const withDelivery = await waitForRecord(stack, job.jobId, (r: JobRecord) => r.webhookDelivery !== undefined, 30_000);
    expect(withDelivery.webhookDelivery).toMatchObject({ status: 'DELIVERED', httpStatus: 204 });
    const hook = received.find((h) => h.body.includes(job.jobId))!;
    expect(hook.headers[WEBHOOK_EVENT_HEADER.toLowerCase()]).toBe('job.failed');
    expect(new Webhook(SECRET).verify(hook.body, hook.headers as Record<string, string>)).toMatchObject({ id: job.jobId });
    expect(hook.headers['webhook-id']).toBe(webhookMessageId(job.jobId, 'job.failed'));
    expect(jobResponseSchema.parse(JSON.parse(hook.body))).toMatchObject({ id: job.jobId, status: 'FAILED', error: { code: 'DEAD_LETTERED' } });
    // The consumer emptied the DLQ.
    const deadline = Date.now() + 20_000;
    while ((await queueDepth(stack, stack.resources.dlqUrl)) > 0 && Date.now() < deadline) await sleep(200);
    expect(await queueDepth(stack, stack.resources.dlqUrl)).toBe(0);

    // A job the API marked FAILED ENQUEUE_FAILED (its 503 to the create) whose message did reach SQS after all: a worker
    // must not run it or send a webhook for it (only the same Idempotency-Key may queue it again, through the API).
    const enqueueFailed = await enqueue(stack, { kind: 's3', key }, { tenantId: TENANT, webhookUrl: `${hookBase}/enqueue-failed` });
    await stack.doc.send(
      new UpdateCommand({
        TableName: stack.resources.tableName,
        Key: { jobId: enqueueFailed.jobId },
        UpdateExpression: 'SET #s = :failed, errorCode = :code, errorMessage = :msg, finishedAt = :now',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':failed': 'FAILED', ':code': 'ENQUEUE_FAILED', ':msg': 'could not be queued', ':now': new Date().toISOString() },
      }),
    );
    // The same message delivered to a worker again (a redrive, or a copy the DLQ move raced): the worker deletes it
    // and the job stays FAILED, with the one webhook it had.
    await stack.clients.sqs.send(new SendMessageCommand({ QueueUrl: stack.resources.queueUrl, MessageBody: JSON.stringify(job) }));
    const restorer = await writeIdentityRestorer(path.join(dir, 'models'));
    const worker = await startWorkerProcess(stack, { restorer, healthFile: path.join(dir, 'health.json') });
    try {
      const seen = await worker.waitForLog((l) => l.jobId === job.jobId && (l.message === 'job already ended; deleting the redelivered message' || l.message === 'job started'), JOB_END_CEILING_MS);
      expect(seen.message).toBe('job already ended; deleting the redelivered message');
      const other = await worker.waitForLog((l) => l.jobId === enqueueFailed.jobId && (l.message === 'job already ended; deleting the redelivered message' || l.message === 'job started'), JOB_END_CEILING_MS);
      expect(other.message).toBe('job already ended; deleting the redelivered message');
      // Deleted, not left in flight: queueDepth counts both.
      const drained = Date.now() + 20_000;
      while ((await queueDepth(stack, stack.resources.queueUrl)) > 0 && Date.now() < drained) await sleep(200);
      expect(await queueDepth(stack, stack.resources.queueUrl)).toBe(0);
    } finally {
      await worker.stop();
    }
    const after = await getRecord(stack, job.jobId);
    expect(after).toMatchObject({ status: 'FAILED', errorCode: 'DEAD_LETTERED', attempts: 0, finishedAt: failed.finishedAt });
    expect(received.filter((h) => h.body.includes(job.jobId))).toHaveLength(1);
    expect(await getRecord(stack, enqueueFailed.jobId)).toMatchObject({ status: 'FAILED', errorCode: 'ENQUEUE_FAILED', attempts: 0 });
    expect(received.filter((h) => h.body.includes(enqueueFailed.jobId))).toHaveLength(0);
  });

  it('a job marked DEAD_LETTERED whose webhook was never sent (the consumer stopped in between) gets it on the next delivery', async () => {
    const job = await enqueue(stack, { kind: 's3', key: await upload(stack, TENANT, (await photo(240)).bytes) }, { tenantId: TENANT, webhookUrl: `${hookBase}/late` });
    // What an earlier delivery left behind when the Lambda timed out between the mark and the webhook.
    await stack.doc.send(
      new UpdateCommand({
        TableName: stack.resources.tableName,
        Key: { jobId: job.jobId },
        UpdateExpression: 'SET #s = :failed, errorCode = :code, errorMessage = :msg, finishedAt = :now',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':failed': 'FAILED', ':code': 'DEAD_LETTERED', ':msg': 'dead-lettered', ':now': new Date().toISOString() },
      }),
    );
    consumer ??= startLocalDeadLetterConsumer({
      dlqUrl: stack.resources.dlqUrl,
      sqs: stack.clients.sqs,
      dynamodb: stack.clients.dynamodb,
      env: { REVIVE_TABLE_NAME: stack.resources.tableName, REVIVE_WEBHOOK_SECRET: SECRET, REVIVE_URL_ALLOW_CIDRS: '127.0.0.2/32' },
    });
    await stack.clients.sqs.send(new SendMessageCommand({ QueueUrl: stack.resources.dlqUrl, MessageBody: JSON.stringify(job) }));
    const delivered = await waitForRecord(stack, job.jobId, (r: JobRecord) => r.webhookDelivery !== undefined, 60_000);
    expect(delivered).toMatchObject({ status: 'FAILED', errorCode: 'DEAD_LETTERED', webhookDelivery: { status: 'DELIVERED', httpStatus: 204 } });
    const hook = received.find((h) => h.body.includes(job.jobId))!;
    expect(hook.headers[WEBHOOK_EVENT_HEADER.toLowerCase()]).toBe('job.failed');
  });
});
