// POST /albums writes the photos (each in the outbox) before the album. If that Lambda dies in between, the enqueue
// sweeper sends the photos after its grace period, with no album record yet; the client's retry (same Idempotency-Key)
// writes the album later. A young photo whose album is missing waits for it; an old one's album is known gone and the
// photo is canceled. Real `revive serve`, emulators over HTTP.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { childJobId, DEFAULT_JOB_TTL_DAYS, jobOptionsSchema, type JobMessage, type JobRecord } from '@revive/contract';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { createStack, getRecord, isTerminal, photo, sendRaw, startWorkerProcess, upload, waitForRecord, writeIdentityRestorer, type Stack, type WorkerProcess } from './service-helpers.js';

const TENANT = 'tenant-missing-parent';
let stack: Stack;
let worker: WorkerProcess;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-missing-parent-'));
  stack = await createStack(inject('localAws'), { visibilityTimeoutSeconds: 5, maxReceiveCount: 3 });
  const restorer = await writeIdentityRestorer(path.join(dir, 'models'));
  worker = await startWorkerProcess(stack, { restorer, healthFile: path.join(dir, 'health.json') });
});
afterAll(async () => {
  await worker?.stop();
  stack?.destroy();
  await rm(dir, { recursive: true, force: true });
});

const options = jobOptionsSchema.parse({ upscale: 1 });

/** Writes photo 0 of `albumId` as POST /albums does, created `createdAt`, and sends what the enqueue sweeper sends. */
async function orphanPhoto(albumId: string, createdAt: Date): Promise<{ child: JobRecord; message: JobMessage }> {
  const key = await upload(stack, TENANT, (await photo(240)).bytes);
  const jobId = childJobId(albumId, 0);
  const child: JobRecord = {
    jobId, tenantId: TENANT, status: 'QUEUED', kind: 'photo', parentJobId: albumId, childIndex: 0, options, attempts: 0,
    source: { kind: 's3', key }, createdAt: createdAt.toISOString(), expiresAt: Math.floor(Date.now() / 1000) + DEFAULT_JOB_TTL_DAYS * 86_400,
  };
  await stack.doc.send(new PutCommand({ TableName: stack.resources.tableName, Item: child }));
  // jobMessageFromRecord of the child.
  const message: JobMessage = { version: 1, jobId, tenantId: TENANT, source: child.source, options, enqueuedAt: new Date().toISOString(), parentJobId: albumId };
  await sendRaw(stack, JSON.stringify(message));
  return { child, message };
}

it('a photo whose album record is not written yet waits for it, and the album written later succeeds with it', async () => {
  const albumId = crypto.randomUUID();
  const { child, message } = await orphanPhoto(albumId, new Date());
  await worker.waitForLog((l) => l.message === 'parent record not written yet; the child waits for it' && l.jobId === child.jobId, 30_000);
  expect(isTerminal((await getRecord(stack, child.jobId))!)).toBe(false);

  // The client's retry: the photo is there already (putNew skips it), the album is written, the photo is sent again.
  const now = new Date().toISOString();
  const album: JobRecord = {
    jobId: albumId, tenantId: TENANT, status: 'QUEUED', kind: 'album', options, attempts: 0, source: { kind: 'album', photos: 1 }, createdAt: now,
    expiresAt: child.expiresAt, childrenTotal: 1, childrenSucceeded: 0, childrenFailed: 0, childrenCanceled: 0,
  };
  await stack.doc.send(new PutCommand({ TableName: stack.resources.tableName, Item: album }));
  await sendRaw(stack, JSON.stringify({ ...message, enqueuedAt: now }));

  expect(await waitForRecord(stack, child.jobId, isTerminal)).toMatchObject({ status: 'SUCCEEDED' });
  expect(await waitForRecord(stack, albumId, isTerminal)).toMatchObject({ status: 'SUCCEEDED', childrenSucceeded: 1 });
});

it('a photo whose album record is still missing long after the photo was written is canceled', async () => {
  const { child } = await orphanPhoto(crypto.randomUUID(), new Date(Date.now() - 60 * 60_000));
  expect(await waitForRecord(stack, child.jobId, isTerminal, 30_000)).toMatchObject({ status: 'CANCELED' });
});
