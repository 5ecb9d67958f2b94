// `revive serve` with REVIVE_RESTORE_BATCH_FACES above 1 and a restorer whose batch dimension is symbolic: the faces
// of its concurrent jobs go through one shared restorer, and every job still gets its own photo back.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RestorationPipeline, readImage } from '@revive/pipeline';
import { psnr, sharedDir, writeBatchMirrorRestorer } from '@revive/pipeline/testing';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { createStack, enqueue, getObjectBytes, isTerminal, photo, startWorkerProcess, upload, waitForRecord, type Stack, type WorkerProcess } from './service-helpers.js';

const TENANT = 'tenant-batching';
const options = { upscale: 2, ext: 'png' } as const;
let stack: Stack;
let dir: string;
let restorer: string;
let worker: WorkerProcess;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-batching-'));
  restorer = await writeBatchMirrorRestorer(path.join(dir, 'models'));
  stack = await createStack(inject('localAws'), { visibilityTimeoutSeconds: 60 });
  worker = await startWorkerProcess(stack, {
    restorer,
    healthFile: path.join(dir, 'health.json'),
    env: { REVIVE_CONCURRENCY: '2', REVIVE_RESTORE_BATCH_FACES: '8', REVIVE_RESTORE_BATCH_DELAY_MS: '200' },
  });
});

afterAll(async () => {
  await worker?.stop();
  stack?.destroy();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('restores two concurrent jobs through one batching restorer, each job getting its own photo back', async () => {
  const loaded = await worker.waitForLog((l) => l.message === 'models loaded');
  expect(loaded.restoreBatching).toEqual({ maxBatchFaces: 8, maxBatchDelayMs: 200 });

  const inputs = [(await photo(480, 'Blake_Lively.jpg')).bytes, (await photo(480, '00.jpg')).bytes];
  const jobs = await Promise.all(inputs.map(async (bytes) => enqueue(stack, { kind: 's3', key: await upload(stack, TENANT, bytes) }, { tenantId: TENANT, options })));
  const records = await Promise.all(jobs.map((job) => waitForRecord(stack, job.jobId, isTerminal, 120_000)));

  // The reference: each photo alone, in process, one face per restorer run.
  const reference = await RestorationPipeline.create({ modelsDir: path.join(sharedDir(), 'models'), restorer, download: false, threads: 1 });
  try {
    for (const [i, record] of records.entries()) {
      expect(record).toMatchObject({ status: 'SUCCEEDED' });
      const expected = await reference.process(inputs[i]!.slice(), options);
      expect(record.facesFound).toBe(expected.faces.length);
      const actual = await readImage((await getObjectBytes(stack, record.resultKey!)).bytes, { maxPixels: 100_000_000 });
      const wanted = await readImage(expected.image, { maxPixels: 100_000_000 });
      expect([actual.rgb.width, actual.rgb.height]).toEqual([wanted.rgb.width, wanted.rgb.height]);
      expect(psnr(actual.rgb, wanted.rgb)).toBeGreaterThan(50);
    }
  } finally {
    await reference.dispose();
  }
});
