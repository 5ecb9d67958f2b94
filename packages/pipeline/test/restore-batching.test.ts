// Faces batched across jobs (restore-batch.ts, restorer-thread.ts): the faces of concurrent jobs share one restorer run
// and still come back to their own job, each in its own place; a batch-1 model keeps each thread's own session.
import { mkdtemp, rm } from 'node:fs/promises';
import type { Worker } from 'node:worker_threads';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RetryableError } from '../src/errors.js';
import { RemoteRestorer } from '../src/restorer-thread.js';
import { MessageChannel } from 'node:worker_threads';
import { decode } from '../src/decode.js';
import { RestorationPipeline, type ProcessResult } from '../src/pipeline.js';
import { PipelineThreadPool } from '../src/pipeline-threads.js';
import { psnr } from '../src/testing/metrics.js';
import { sharedDir } from '../src/testing/shared-dir.js';
import { photo, writeBatchMirrorRestorer, writeIdentityRestorer } from '../src/testing/index.js';

const modelsDir = path.join(sharedDir(), 'models');
const options = { upscale: 2, ext: 'png' } as const;
let dir: string;
let mirror: string;
let identity: string;
/** Two different photos with two or more faces each. */
let inputs: readonly Uint8Array[];
const disposables: { dispose(): Promise<void> }[] = [];

async function inProcess(restorer: string): Promise<RestorationPipeline> {
  const pipeline = await RestorationPipeline.create({ modelsDir, restorer, download: false, threads: 1 });
  disposables.push(pipeline);
  return pipeline;
}

const image = async (result: ProcessResult) => (await decode(result.image)).rgb;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-batching-'));
  mirror = await writeBatchMirrorRestorer(dir);
  identity = await writeIdentityRestorer(dir);
  inputs = [(await photo(480, 'Blake_Lively.jpg')).bytes, (await photo(480, '00.jpg')).bytes];
});

afterAll(async () => {
  await Promise.all(disposables.map((d) => d.dispose()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('restorer batching across jobs', () => {
  it('runs the faces of two concurrent jobs in one restorer batch and returns each face to its own job, in its place', async () => {
    // The reference: each photo alone, in process, one face per restorer run.
    const single = await inProcess(mirror);
    const expected = [await single.process(inputs[0]!.slice(), options), await single.process(inputs[1]!.slice(), options)];
    const faceCounts = expected.map((r) => r.faces.length);
    expect(Math.min(...faceCounts)).toBeGreaterThanOrEqual(2);
    // The mirror restorer changes every face visibly (it is not the identity), so a face pasted from the wrong job or
    // the wrong slot of the batch cannot pass for the right one.
    const unrestored = await (await inProcess(identity)).process(inputs[0]!.slice(), options);
    expect(psnr(await image(unrestored), await image(expected[0]!))).toBeLessThan(30);

    // A batch is exactly both jobs' faces, and it waits (far longer than any test) until it is full: the one run there
    // is holds every face of both jobs, whatever the machine's load.
    const total = faceCounts[0]! + faceCounts[1]!;
    const pool = await PipelineThreadPool.create({ modelsDir, restorer: mirror, download: false, threads: 1, threadCount: 2, maxBatchFaces: total, maxBatchDelayMs: 600_000 });
    disposables.push(pool);
    const actual = await Promise.all(inputs.map((bytes) => pool.process(bytes.slice(), options)));
    expect(pool.batching).toMatchObject({ batches: 1, faces: total, largestBatch: total });

    for (const [i, result] of actual.entries()) {
      const reference = expected[i]!;
      expect([result.width, result.height, result.faces.length]).toEqual([reference.width, reference.height, reference.faces.length]);
      expect(psnr(await image(result), await image(reference))).toBeGreaterThan(50);
      // Each face where the detector found it, in the detector's order.
      result.faces.forEach((face, f) => {
        const want = reference.faces[f]!;
        face.box.forEach((v, k) => expect(Math.abs(v - want.box[k]!)).toBeLessThan(0.5));
        expect(face.affine).toEqual(want.affine);
      });
    }
    // And the two jobs' outputs are not each other's.
    expect([actual[0]!.width, actual[0]!.height]).not.toEqual([actual[1]!.width, actual[1]!.height]);
  });

  it('keeps each job\'s faces its own over many batches, their outputs written into buffers the threads handed back', async () => {
    const single = await inProcess(mirror);
    const expected = [await single.process(inputs[0]!.slice(), options), await single.process(inputs[1]!.slice(), options)];
    // Batches of two at most, so each job's faces span several batches, and every batch after the first few writes into
    // an output an earlier face's thread sent back.
    const pool = await PipelineThreadPool.create({ modelsDir, restorer: mirror, download: false, threads: 1, threadCount: 2, maxBatchFaces: 2, maxBatchDelayMs: 20 });
    disposables.push(pool);
    for (let round = 0; round < 3; round++) {
      const actual = await Promise.all(inputs.map((bytes) => pool.process(bytes.slice(), options)));
      for (const [i, result] of actual.entries()) expect(psnr(await image(result), await image(expected[i]!)), `round ${round}, job ${i}`).toBeGreaterThan(50);
    }
    const stats = pool.batching!;
    expect(stats.faces).toBe(3 * (expected[0]!.faces.length + expected[1]!.faces.length));
    expect(stats.batches).toBeGreaterThan(3);
    expect(stats.outputsReused).toBeGreaterThan(0);
  });

  it('sends faces on after at most maxBatchDelayMs when no other job comes to fill the batch', async () => {
    const pool = await PipelineThreadPool.create({ modelsDir, restorer: mirror, download: false, threads: 1, threadCount: 2, maxBatchFaces: 16, maxBatchDelayMs: 1 });
    disposables.push(pool);
    const reference = await (await inProcess(mirror)).process(inputs[0]!.slice(), options);
    const result = await pool.process(inputs[0]!.slice(), options);
    expect(psnr(await image(result), await image(reference))).toBeGreaterThan(50);
    const stats = pool.batching!;
    expect(stats.faces).toBe(reference.faces.length);
    expect(stats.largestBatch).toBeLessThan(16);
  });

  it('keeps a session per thread with a restorer that takes a batch of 1, whatever maxBatchFaces says', async () => {
    const pool = await PipelineThreadPool.create({ modelsDir, restorer: identity, download: false, threads: 1, threadCount: 2, maxBatchFaces: 8 });
    disposables.push(pool);
    expect(pool.batching).toBeUndefined();
    const reference = await (await inProcess(identity)).process(inputs[1]!.slice(), options);
    const results = await Promise.all([pool.process(inputs[1]!.slice(), options), pool.process(inputs[1]!.slice(), options)]);
    for (const result of results) expect(psnr(await image(result), await image(reference))).toBeGreaterThan(50);
  });

  it('replaces the restorer thread and every pipeline thread on it when the restorer thread dies, and goes on restoring', async () => {
    const pool = await PipelineThreadPool.create({ modelsDir, restorer: mirror, download: false, threads: 1, threadCount: 2, maxBatchFaces: 4, maxBatchDelayMs: 1 });
    disposables.push(pool);
    const reference = await (await inProcess(mirror)).process(inputs[1]!.slice(), options);
    await pool.process(inputs[1]!.slice(), options);
    // Fault injection: end the restorer thread between two runs (it is idle), as a crash would.
    const internals = pool as unknown as { slots: Set<{ worker: Worker }>; batchingState: { current: Promise<{ worker: Worker }> } };
    const before = [...internals.slots].map((slot) => slot.worker);
    const restorerBefore = (await internals.batchingState.current).worker;
    await restorerBefore.terminate();
    // The pool learns of the death from the threads' exit events: a job sent before then goes to a thread wired to the
    // dead restorer and fails as retryable (what a crash costs). Once the old pipeline threads are out of the pool,
    // jobs wait for the new restorer and its pipeline threads.
    await vi.waitFor(() => expect([...internals.slots].filter((slot) => before.includes(slot.worker))).toEqual([]), { timeout: 60_000, interval: 20 });
    const results = await Promise.all([pool.process(inputs[1]!.slice(), options), pool.process(inputs[1]!.slice(), options)]);
    for (const result of results) expect(psnr(await image(result), await image(reference))).toBeGreaterThan(50);
    expect((await internals.batchingState.current).worker).not.toBe(restorerBefore);
    expect([...internals.slots].map((slot) => slot.worker).filter((worker) => before.includes(worker))).toEqual([]);
    expect(pool.threadCount).toBe(2);
  });

  it('fails the faces a pipeline thread waits on with a RetryableError when the restorer\'s port closes', async () => {
    const { port1, port2 } = new MessageChannel();
    // The far end takes the request and never answers, as a restorer that died mid-batch.
    port1.on('message', () => port1.close());
    const remote = new RemoteRestorer(port2, { inputSize: 8, hasFidelityInput: false, maxBatchFaces: 2 });
    const crop = { width: 8, height: 8, data: new Uint8Array(8 * 8 * 3) };
    const waiting = await remote.restore(crop).catch((e: unknown) => e);
    expect(waiting).toBeInstanceOf(RetryableError);
    expect(await remote.restore(crop).catch((e: unknown) => e)).toBeInstanceOf(RetryableError);
  });
});
