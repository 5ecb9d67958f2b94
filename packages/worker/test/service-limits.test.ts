// Issue 18 items 1 and 2 end to end, `revive serve` against the emulators: a decompression bomb at upscale 4 and an
// output its format cannot hold end FAILED with a stable code and an exact reason, are never retried, and the
// worker goes on to finish the next job.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { writeImage, writeSolidImage } from '@revive/pipeline';
import { createStack, enqueue, isTerminal, JOB_END_CEILING_MS, type Stack, startWorkerProcess, upload, waitForRecord, type WorkerProcess, writeIdentityRestorer } from './service-helpers.js';

const TENANT = 'tenant-limits';
let stack: Stack;
let dir: string;
let worker: WorkerProcess;
let noFace: Uint8Array;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-limits-service-'));
  const identity = await writeIdentityRestorer(path.join(dir, 'models'));
  noFace = await writeImage({ width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(128) }, undefined, 'jpeg', { quality: 90 });
  stack = await createStack(inject('localAws'), { visibilityTimeoutSeconds: 8, maxReceiveCount: 3 });
  worker = await startWorkerProcess(stack, { restorer: identity, healthFile: path.join(dir, 'health.json'), env: { REVIVE_CONCURRENCY: '1' } });
});

afterAll(async () => {
  await worker?.stop();
  stack?.destroy();
  await rm(dir, { recursive: true, force: true });
});

const startsOf = (jobId: string) => worker.logs.filter((l) => l.message === 'job started' && l.jobId === jobId);

describe('size limits in revive serve', () => {
  it('the 8000×8000 RGBA PNG at upscale 4 ends FAILED IMAGE_TOO_LARGE, once; the next job succeeds', async () => {
    const bomb = await writeSolidImage(8000, 8000, 4, 'png');
    const job = await enqueue(stack, { kind: 's3', key: await upload(stack, TENANT, bomb, 'image/png') }, { tenantId: TENANT, options: { upscale: 4 } });
    const failed = await waitForRecord(stack, job.jobId, isTerminal, JOB_END_CEILING_MS);
    expect(failed).toMatchObject({
      status: 'FAILED',
      errorCode: 'IMAGE_TOO_LARGE',
      errorMessage:
        'The output would be 32000×32000 = 1,024,000,000 pixels (1024.0 MP: the 8000×8000 image at upscale 4); the limit is 256,000,000 pixels (256.0 MP). Ask for a smaller upscale.',
      attempts: 1,
    });
    const next = await enqueue(stack, { kind: 's3', key: await upload(stack, TENANT, noFace) }, { tenantId: TENANT, options: { upscale: 2 } });
    expect(await waitForRecord(stack, next.jobId, isTerminal, JOB_END_CEILING_MS)).toMatchObject({ status: 'SUCCEEDED', attempts: 1 });
    // Permanent: the message was deleted, not retried.
    expect(startsOf(job.jobId)).toHaveLength(1);
    expect(worker.child.exitCode).toBeNull();
  });

  it('an 8192×1024 WebP at upscale 2: ext webp ends FAILED OUTPUT_TOO_LARGE, ext auto is written as PNG', async () => {
    const key = await upload(stack, TENANT, await writeSolidImage(8192, 1024, 3, 'webp'), 'image/webp');
    const explicit = await enqueue(stack, { kind: 's3', key }, { tenantId: TENANT, options: { upscale: 2, ext: 'webp' } });
    expect(await waitForRecord(stack, explicit.jobId, isTerminal, JOB_END_CEILING_MS)).toMatchObject({
      status: 'FAILED',
      errorCode: 'OUTPUT_TOO_LARGE',
      errorMessage: expect.stringContaining('WebP holds at most 16,383 pixels per side'),
      attempts: 1,
    });
    expect(startsOf(explicit.jobId)).toHaveLength(1);
    const auto = await enqueue(stack, { kind: 's3', key }, { tenantId: TENANT, options: { upscale: 2, ext: 'auto' } });
    const done = await waitForRecord(stack, auto.jobId, isTerminal, JOB_END_CEILING_MS);
    expect(done).toMatchObject({ status: 'SUCCEEDED', resultWidth: 16384, resultHeight: 2048 });
    expect(done.resultKey).toMatch(/\.png$/);
    const log = await worker.waitForLog((l) => l.message === 'job succeeded' && l.jobId === auto.jobId);
    expect(log.formatFallback).toBe('written as PNG: the output is 16384×2048 and WebP holds at most 16,383 pixels per side');
  });
});
