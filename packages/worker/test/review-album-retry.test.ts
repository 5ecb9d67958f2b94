// Review: POST /albums writes the children (each in the outbox) before the album. If that Lambda dies in between, the
// enqueue sweeper sends the children after 60 s; the worker finds no parent and CANCELS each one. The client's retry with
// the same Idempotency-Key (what a 5xx tells it to do) then writes the album over children that already ended: the
// album can only end ALBUM_PARTLY_FAILED with every photo "canceled".
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { childJobId, DEFAULT_JOB_TTL_DAYS, jobOptionsSchema, type JobMessage, type JobRecord } from '@revive/contract';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { createStack, isTerminal, sendRaw, startWorkerProcess, waitForRecord, writeIdentityRestorer, type Stack, type WorkerProcess } from './service-helpers.js';

const TENANT = 'tenant-review';
let stack: Stack;
let worker: WorkerProcess;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-review-'));
  stack = await createStack(inject('localAws'), { visibilityTimeoutSeconds: 5, maxReceiveCount: 3 });
  const restorer = await writeIdentityRestorer(path.join(dir, 'models'));
  worker = await startWorkerProcess(stack, { restorer, healthFile: path.join(dir, 'health.json') });
});
afterAll(async () => {
  await worker?.stop();
  stack?.destroy();
  await rm(dir, { recursive: true, force: true });
});

it('a photo whose album record is not written yet is not canceled (it waits for its album)', async () => {
  const albumId = crypto.randomUUID();
  const now = new Date();
  const options = jobOptionsSchema.parse({ upscale: 1 });
  const jobId = childJobId(albumId, 0);
  const child: JobRecord = {
    jobId, tenantId: TENANT, status: 'QUEUED', kind: 'photo', parentJobId: albumId, childIndex: 0, options, attempts: 0,
    source: { kind: 's3', key: `uploads/${TENANT}/0` }, createdAt: now.toISOString(), expiresAt: Math.floor(now.getTime() / 1000) + DEFAULT_JOB_TTL_DAYS * 86_400,
  };
  await stack.doc.send(new PutCommand({ TableName: stack.resources.tableName, Item: child }));
  // What the enqueue sweeper sends for a child left in the outbox (jobMessageFromRecord).
  const message: JobMessage = { version: 1, jobId, tenantId: TENANT, source: child.source, options, enqueuedAt: now.toISOString(), parentJobId: albumId };
  await sendRaw(stack, JSON.stringify(message));
  const ended = await waitForRecord(stack, jobId, isTerminal, 30_000).catch(() => undefined);
  expect(ended?.status).not.toBe('CANCELED');
});
