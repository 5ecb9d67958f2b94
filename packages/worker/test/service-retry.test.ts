// Transient failures against the real emulators: the worker's S3 endpoint points at a closed port, so reading the
// source fails on every delivery. The message must be retried, the last delivery must mark the job FAILED
// (RETRIES_EXHAUSTED), and SQS must move the message to the dead-letter queue. Nothing is lost or dropped silently.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jobMessageSchema } from '@revive/contract';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createStack,
  drainDlq,
  enqueue,
  JOB_END_CEILING_MS,
  photo,
  sendRaw,
  sleep,
  type Stack,
  startWorkerProcess,
  upload,
  waitForRecord,
  type WorkerProcess,
  writeIdentityRestorer,
} from './service-helpers.js';

const TENANT = 'tenant-retry';
const MAX_RECEIVE_COUNT = 2;
let stack: Stack;
let dir: string;
let worker: WorkerProcess | undefined;

/** A loopback port nobody listens on: connections are refused, as when S3 is unreachable. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-retry-'));
  stack = await createStack(inject('localAws'), { visibilityTimeoutSeconds: 4, maxReceiveCount: MAX_RECEIVE_COUNT });
});

afterAll(async () => {
  await worker?.stop();
  stack?.destroy();
  await rm(dir, { recursive: true, force: true });
});

describe('transient failures', () => {
  it('are retried, then the job is FAILED with RETRIES_EXHAUSTED and the message reaches the DLQ', async () => {
    const key = await upload(stack, TENANT, (await photo(200)).bytes);
    const job = await enqueue(stack, { kind: 's3', key }, { tenantId: TENANT });
    worker = await startWorkerProcess(stack, {
      restorer: await writeIdentityRestorer(path.join(dir, 'models')),
      healthFile: path.join(dir, 'health.json'),
      env: { AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${await closedPort()}`, AWS_MAX_ATTEMPTS: '1' },
    });

    const record = await waitForRecord(stack, job.jobId, (r) => r.status === 'FAILED', 60_000);
    expect(record).toMatchObject({ status: 'FAILED', errorCode: 'RETRIES_EXHAUSTED', attempts: MAX_RECEIVE_COUNT });
    expect(record.errorMessage).toMatch(/gave up after 2 deliveries/);
    // The first delivery was deferred as transient, not failed.
    expect(worker.logs.some((l) => l.message === 'transient failure; the job will be retried' && l.jobId === job.jobId)).toBe(true);

    // The worker keeps polling, and its next receive lets SQS move the exhausted message to the DLQ intact.
    let dead: string[] = [];
    for (let i = 0; i < 20 && dead.length === 0; i++) {
      dead = await drainDlq(stack, 1);
      if (dead.length === 0) await sleep(250);
    }
    expect(dead).toHaveLength(1);
    expect(jobMessageSchema.parse(JSON.parse(dead[0]!))).toMatchObject({ jobId: job.jobId });
    expect(worker.child.exitCode).toBeNull();
    await worker.stop();

    // A redrive once the fault is gone: FAILED RETRIES_EXHAUSTED is final (one end, one webhook, issue 18 item 10),
    // so the resent body is deleted and the job stays as it was; the client submits a new job.
    worker = await startWorkerProcess(stack, {
      restorer: await writeIdentityRestorer(path.join(dir, 'models')),
      healthFile: path.join(dir, 'health-redrive.json'),
    });
    await sendRaw(stack, dead[0]!);
    const seen = await worker.waitForLog((l) => l.jobId === job.jobId && (l.message === 'job already ended; deleting the redelivered message' || l.message === 'job started'), JOB_END_CEILING_MS);
    expect(seen.message).toBe('job already ended; deleting the redelivered message');
    expect(await waitForRecord(stack, job.jobId, () => true)).toMatchObject({ status: 'FAILED', errorCode: 'RETRIES_EXHAUSTED', attempts: MAX_RECEIVE_COUNT });
  });
});
