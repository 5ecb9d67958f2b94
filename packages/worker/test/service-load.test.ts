// 100 jobs through one worker at concurrency 2: none lost, none run twice.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { BUCKET_PREFIXES, tenantKeySegment } from '@revive/contract';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { createStack, drainDlq, enqueue, getRecord, photo, queueDepth, sleep, startWorkerProcess, upload, writeIdentityRestorer, type Stack, type WorkerProcess } from './service-helpers.js';

const TENANT = 'tenant-load';
const JOBS = 100;
let stack: Stack;
let dir: string;
let worker: WorkerProcess;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-load-'));
  stack = await createStack(inject('localAws'), { visibilityTimeoutSeconds: 30, maxReceiveCount: 3 });
  worker = await startWorkerProcess(stack, {
    restorer: await writeIdentityRestorer(path.join(dir, 'models')),
    healthFile: path.join(dir, 'health.json'),
    env: { REVIVE_CONCURRENCY: '2' },
  });
});

afterAll(async () => {
  await worker?.stop();
  stack?.destroy();
  await rm(dir, { recursive: true, force: true });
});

it(`finishes ${JOBS} jobs at concurrency 2 with none lost and none duplicated`, async () => {
  const { bytes } = await photo(256);
  const key = await upload(stack, TENANT, bytes);
  const jobIds: string[] = [];
  for (let i = 0; i < JOBS; i++) jobIds.push((await enqueue(stack, { kind: 's3', key }, { tenantId: TENANT, options: { upscale: 1 } })).jobId);

  const deadline = Date.now() + 150_000;
  let pending = new Set(jobIds);
  while (pending.size > 0 && Date.now() < deadline) {
    await sleep(500);
    const still = new Set<string>();
    for (const id of pending) if ((await getRecord(stack, id))?.status !== 'SUCCEEDED') still.add(id);
    pending = still;
  }
  expect([...pending]).toEqual([]);

  for (const id of jobIds) expect(await getRecord(stack, id)).toMatchObject({ status: 'SUCCEEDED', attempts: 1 });
  const started = worker.logs.filter((l) => l.message === 'job started').map((l) => l.jobId);
  expect(started).toHaveLength(JOBS);
  expect(new Set(started).size).toBe(JOBS);
  // Never more than two at once: the slot that started each job is 0 or 1.
  expect(new Set(worker.logs.filter((l) => l.message === 'job started').map((l) => l.slot))).toEqual(new Set([0, 1]));
  const listed = await stack.clients.s3.send(new ListObjectsV2Command({ Bucket: stack.resources.bucketName, Prefix: `${BUCKET_PREFIXES.results}${tenantKeySegment(TENANT)}/`, MaxKeys: 1000 }));
  expect(listed.KeyCount).toBe(JOBS);
  expect(await queueDepth(stack, stack.resources.queueUrl)).toBe(0);
  expect(await drainDlq(stack, 0)).toEqual([]);
});
