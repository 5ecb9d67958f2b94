// The parent sweeper's half in the worker: an album whose photos all ended, but whose ends were never counted (their
// worker died between each photo's final write and its count), gets the message the sweeper sends; the worker that
// claims it counts each photo once, writes the ZIP and ends the album. Real `revive serve`, emulators over HTTP.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { childJobId, DEFAULT_JOB_TTL_DAYS, jobOptionsSchema, resultKey, type JobMessage, type JobRecord } from '@revive/contract';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createStack, getObjectBytes, getRecord, isTerminal, sendRaw, startWorkerProcess, waitForRecord, writeIdentityRestorer, type Stack, type WorkerProcess } from './service-helpers.js';

const run = promisify(execFile);
const TENANT = 'tenant-parents';
let stack: Stack;
let worker: WorkerProcess;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-parents-'));
  stack = await createStack(inject('localAws'), { visibilityTimeoutSeconds: 5, maxReceiveCount: 3 });
  const restorer = await writeIdentityRestorer(path.join(dir, 'models'));
  worker = await startWorkerProcess(stack, { restorer, healthFile: path.join(dir, 'health.json') });
});
afterAll(async () => {
  await worker?.stop();
  stack?.destroy();
  await rm(dir, { recursive: true, force: true });
});

/** Writes an album of `ends.length` photos that each ended as given, none counted on the album. */
async function albumWithUncountedEnds(ends: readonly ('SUCCEEDED' | 'FAILED')[]): Promise<{ albumId: string; message: JobMessage }> {
  const albumId = crypto.randomUUID();
  const now = new Date();
  const options = jobOptionsSchema.parse({ upscale: 1 });
  const common = { tenantId: TENANT, options, attempts: 1, createdAt: now.toISOString(), expiresAt: Math.floor(now.getTime() / 1000) + DEFAULT_JOB_TTL_DAYS * 86_400 };
  for (const [i, end] of ends.entries()) {
    const jobId = childJobId(albumId, i);
    const key = resultKey(TENANT, jobId, 'png', 1);
    if (end === 'SUCCEEDED') await stack.clients.s3.send(new PutObjectCommand({ Bucket: stack.resources.bucketName, Key: key, Body: `photo ${i}`, ContentType: 'image/png' }));
    const child: JobRecord = {
      ...common,
      jobId,
      status: end,
      kind: 'photo',
      parentJobId: albumId,
      childIndex: i,
      source: { kind: 's3', key: `uploads/${TENANT}/${i}` },
      finishedAt: now.toISOString(),
      ...(end === 'SUCCEEDED' ? { resultKey: key, facesFound: 1 } : { errorCode: 'NO_FACE', errorMessage: 'no face' }),
    };
    await stack.doc.send(new PutCommand({ TableName: stack.resources.tableName, Item: child }));
  }
  const album: JobRecord = { ...common, attempts: 0, jobId: albumId, status: 'RUNNING', startedAt: now.toISOString(), kind: 'album', source: { kind: 'album', photos: ends.length }, childrenTotal: ends.length, childrenSucceeded: 0, childrenFailed: 0, childrenCanceled: 0 };
  await stack.doc.send(new PutCommand({ TableName: stack.resources.tableName, Item: album }));
  // What the sweeper sends (jobMessageFromRecord of the album).
  const message: JobMessage = { version: 1, jobId: albumId, tenantId: TENANT, source: album.source, options, enqueuedAt: now.toISOString(), kind: 'album' };
  return { albumId, message };
}

describe('an album whose photos ended but was never finished', () => {
  it('is finished by the message the parent sweeper sends: each photo counted once, the ZIP written, SUCCEEDED', async () => {
    const { albumId, message } = await albumWithUncountedEnds(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    await sendRaw(stack, JSON.stringify(message));
    // The sweeper may send twice (a later run before the first message is taken): the second finds it ended.
    await sendRaw(stack, JSON.stringify(message));
    const album = await waitForRecord(stack, albumId, isTerminal);
    expect(album).toMatchObject({ status: 'SUCCEEDED', childrenSucceeded: 3, childrenFailed: 0, facesFound: 3, resultKey: resultKey(TENANT, albumId, 'zip', 1) });
    for (let i = 0; i < 3; i++) expect((await getRecord(stack, childJobId(albumId, i)))?.countedOnParent).toBe(true);
    const zip = path.join(dir, `${albumId}.zip`);
    await writeFile(zip, (await getObjectBytes(stack, album.resultKey!)).bytes);
    expect((await run('zipinfo', ['-1', zip])).stdout.trim().split('\n')).toEqual(['0001.png', '0002.png', '0003.png']);
    expect((await run('unzip', ['-p', zip, '0002.png'])).stdout).toBe('photo 1');
    await worker.waitForLog((l) => l.message === 'job already ended; deleting the redelivered message' && l.jobId === albumId, 20_000);
    expect((await getRecord(stack, albumId))).toMatchObject({ status: 'SUCCEEDED', childrenSucceeded: 3 });
  });

  it('fails it ALBUM_PARTLY_FAILED when a photo failed, the ZIP of the others kept as its output', async () => {
    const { albumId, message } = await albumWithUncountedEnds(['SUCCEEDED', 'FAILED']);
    await sendRaw(stack, JSON.stringify(message));
    const album = await waitForRecord(stack, albumId, isTerminal);
    expect(album).toMatchObject({ status: 'FAILED', errorCode: 'ALBUM_PARTLY_FAILED', childrenSucceeded: 1, childrenFailed: 1, resultKey: resultKey(TENANT, albumId, 'zip', 1) });
    expect(album.errorMessage).toContain('1 of 2 photos did not succeed (1 failed)');
  });
});
