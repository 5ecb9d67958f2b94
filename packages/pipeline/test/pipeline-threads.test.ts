// The pipeline on worker threads, as `revive serve` runs it: same output as in-process, same error classes and
// codes across the thread boundary, a free main event loop while a job computes, and real parallelism.
import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PermanentError, RetryableError, WorkerError } from '../src/errors.js';
import { decode } from '../src/decode.js';
import { writeImage } from '../src/image.js';
import { RestorationPipeline, type DetectionSummary, type ProcessResult } from '../src/pipeline.js';
import { PipelineThreadPool } from '../src/pipeline-threads.js';
import { maxColourDistance, psnr } from '../src/testing/metrics.js';
import { sharedDir } from '../src/testing/shared-dir.js';
import { writeIdentityRestorer } from '../src/testing/models.js';
import { photo, writeSlowRestorer } from '../src/testing/index.js';

/** ~3.5 s of restoring per face on one onnxruntime thread: long enough to watch the event loop during it. */
const SLOW_CONVS = 40;
const modelsDir = path.join(sharedDir(), 'models');
let dir: string;
let identity: string;
let slow: string;
let input: Uint8Array;
const pools: { dispose(): Promise<void> }[] = [];

async function pool(restorer: string, threadCount: number): Promise<PipelineThreadPool> {
  const p = await PipelineThreadPool.create({ modelsDir, restorer, download: false, threads: 1, threadCount });
  pools.push(p);
  return p;
}

const totalMs = (r: ProcessResult) => Object.values(r.timingsMs).reduce((sum, ms) => sum + (ms ?? 0), 0);

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-threads-'));
  identity = await writeIdentityRestorer(dir);
  slow = await writeSlowRestorer(dir, SLOW_CONVS);
  input = (await photo(480)).bytes;
});

afterAll(async () => {
  await Promise.all(pools.map((p) => p.dispose()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('PipelineThreadPool', () => {
  it('tells what detect found before the faces are restored, and writes the result into a file when asked', async () => {
    const threads = await pool(identity, 1);
    const inMemory = await threads.process(input.slice(), { upscale: 2, ext: 'png' });
    expect(inMemory.facesDetected).toBeGreaterThan(1);
    const detections: DetectionSummary[] = [];
    const file = path.join(dir, 'pool-result.png.part');
    const toFile = await threads.process(input.slice(), { upscale: 2, ext: 'png', maxFaces: 1, outputPath: file }, { onDetected: (d) => detections.push(d) });
    expect(detections).toEqual([{ facesDetected: inMemory.facesDetected, facesToRestore: 1, outputWidth: toFile.width, outputHeight: toFile.height }]);
    expect([toFile.facesDetected, toFile.faces.length, toFile.image.byteLength]).toEqual([inMemory.facesDetected, 1, 0]);
    expect(toFile.byteLength).toBe((await stat(file)).size);
    const [fromFile, fromMemory] = await Promise.all([readFile(file).then(decode), decode(inMemory.image)]);
    // One face restored instead of all: with the identity restorer the pictures still agree closely.
    expect(psnr(fromFile.rgb, fromMemory.rgb)).toBeGreaterThan(40);
  });

  it('gives the in-process pipeline\'s output for the same photo', async () => {
    const inProcess = await RestorationPipeline.create({ modelsDir, restorer: identity, download: false, threads: 1 });
    pools.push(inProcess);
    const threads = await pool(identity, 2);
    expect(threads.models).toEqual(inProcess.models);
    const options = { upscale: 2, ext: 'png' } as const;
    // The pool moves the input's buffer to the thread: each side gets its own copy.
    const [a, b] = await Promise.all([inProcess.process(input.slice(), options), threads.process(input.slice(), options)]);
    expect(b.faces.length).toBe(a.faces.length);
    expect(a.faces.length).toBeGreaterThan(0);
    expect([b.width, b.height, b.format]).toEqual([a.width, a.height, a.format]);
    const [imgA, imgB] = await Promise.all([decode(a.image), decode(b.image)]);
    expect(psnr(imgA.rgb, imgB.rgb)).toBeGreaterThan(50);
    expect(maxColourDistance(imgA.rgb, imgB.rgb)).toBeLessThanOrEqual(2);
    b.faces.forEach((face, i) => expect(Math.abs(face.box[0] - a.faces[i]!.box[0])).toBeLessThan(0.5));
  });

  it('runs a large photo\'s kernels on helper threads inside a pipeline thread: the same output, and dispose still ends the thread', async () => {
    // 1400×928 at upscale 2: a 7.8 MB background and a large face footprint, over PARALLEL_MIN_BYTES, so the
    // upscale and the paste run strips on helper threads (nested in the pipeline thread).
    const large = (await photo(1400)).bytes;
    const inProcess = await RestorationPipeline.create({ modelsDir, restorer: identity, download: false, threads: 1 });
    pools.push(inProcess);
    const threads = await PipelineThreadPool.create({ modelsDir, restorer: identity, download: false, threads: 1, threadCount: 1 });
    const options = { upscale: 2, ext: 'png' } as const;
    const a = await inProcess.process(large.slice(), options);
    const b = await threads.process(large.slice(), options);
    expect(a.faces.length).toBeGreaterThan(0);
    const [imgA, imgB] = await Promise.all([decode(a.image), decode(b.image)]);
    expect(psnr(imgA.rgb, imgB.rgb)).toBeGreaterThan(50);
    // The thread with its helpers asleep in Atomics.wait still exits when told to.
    await threads.dispose();
  });

  it('keeps error classes and codes across the thread boundary', async () => {
    const threads = await pool(identity, 1);
    const notImage = await threads.process(new TextEncoder().encode('this is not an image')).catch((e: unknown) => e);
    expect(notImage).toBeInstanceOf(PermanentError);
    expect(notImage).toMatchObject({ code: 'INVALID_IMAGE', retryable: false, name: 'PermanentError' });
    expect((notImage as Error).message).toMatch(/image/i);

    const blank = await writeImage({ width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(128) }, undefined, 'png');
    const noFace = await threads.process(blank, { requireFace: true }).catch((e: unknown) => e);
    expect(noFace).toBeInstanceOf(PermanentError);
    expect(noFace).toMatchObject({ code: 'NO_FACE' });

    // A model that fails to load fails create() the way the in-process pipeline does, cause included.
    const broken = path.join(dir, 'broken_restorer.onnx');
    await writeFile(broken, 'not an onnx model');
    const config = { modelsDir, restorer: broken, download: false } as const;
    const expected = await RestorationPipeline.create(config).catch((e: unknown) => e);
    const actual = await PipelineThreadPool.create({ ...config, threadCount: 2 }).catch((e: unknown) => e);
    expect(expected).toBeInstanceOf(WorkerError);
    expect(actual).toBeInstanceOf((expected as object).constructor as typeof WorkerError);
    expect(actual).toMatchObject({ code: (expected as WorkerError).code, message: (expected as WorkerError).message });
    if ((expected as Error).cause instanceof Error) expect(String((actual as Error).cause)).toContain(((expected as Error).cause as Error).message);
  });

  it('leaves the main event loop free while a job computes', async () => {
    const threads = await pool(slow, 1);
    const ticks: number[] = [];
    const timer = setInterval(() => ticks.push(performance.now()), 10);
    const started = performance.now();
    let result: ProcessResult;
    try {
      result = await threads.process(input.slice(), { upscale: 1 });
    } finally {
      clearInterval(timer);
    }
    const elapsedMs = performance.now() - started;
    expect(elapsedMs).toBeGreaterThan(300);
    const gaps = ticks.map((t, i) => t - (ticks[i - 1] ?? started));
    // In-process, one face's session.run blocks this loop for the whole run, with no tick. Measured against that run
    // (timed in the thread, so a loaded machine stretches both alike), not against a fixed number of ms.
    const restoreMsPerFace = (result.timingsMs.restore ?? 0) / Math.max(1, result.faces.length);
    expect(restoreMsPerFace).toBeGreaterThan(100);
    expect(Math.max(...gaps)).toBeLessThan(restoreMsPerFace / 2);
    expect(ticks.length).toBeGreaterThan(elapsedMs / (restoreMsPerFace / 2));
  });

  it('runs two jobs at once on two threads', async () => {
    const threads = await pool(slow, 2);
    const started = performance.now();
    const [a, b] = await Promise.all([threads.process(input.slice(), { upscale: 1 }), threads.process(input.slice(), { upscale: 1 })]);
    const wallMs = performance.now() - started;
    // Each job's own stage times are measured in its thread: run one after the other, the wall time would be
    // at least their sum.
    expect(wallMs).toBeLessThan(0.8 * (totalMs(a) + totalMs(b)));
  });

  // Only an idle thread is killed here: terminating a thread inside onnxruntime's native run aborts the process
  // (see dispose()), so a crash mid-job is the thread's own uncaught error, which takes the same exit path.
  it('replaces a thread that dies, and keeps serving jobs', async () => {
    const threads = await pool(identity, 1);
    const { slots } = threads as unknown as { slots: Set<{ worker: Worker }> };
    const [first] = [...slots];
    await first!.worker.terminate();
    const result = await threads.process(input.slice(), { upscale: 1 });
    expect(result.faces.length).toBeGreaterThan(0);
    expect(threads.threadCount).toBe(1);
    expect([...slots][0]!.worker).not.toBe(first!.worker);
  });

  it('an aborted job fails at once with the reason; its thread is replaced and the next job runs', async () => {
    const threads = await pool(slow, 1);
    const { slots } = threads as unknown as { slots: Set<{ worker: Worker }> };
    const [first] = [...slots];
    const budget = new AbortController();
    const job = threads.process(input.slice(), { upscale: 1 }, { signal: budget.signal }).catch((e: unknown) => e);
    const next = threads.process(input.slice(), { upscale: 1 });
    // Aborted while the first job computes (its restorer alone takes seconds): the reason comes back unchanged.
    await new Promise((r) => setTimeout(r, 300));
    const reason = new PermanentError('JOB_TIMEOUT', 'over budget');
    budget.abort(reason);
    expect(await job).toBe(reason);
    // The queued job runs on a new thread once the old one has left its native run and exited.
    expect((await next).faces.length).toBeGreaterThan(0);
    expect(threads.threadCount).toBe(1);
    await vi.waitFor(() => expect(threads.stoppingCount).toBe(0), { timeout: 60_000, interval: 100 });
    expect([...slots]).toHaveLength(1);
    expect([...slots][0]!.worker).not.toBe(first!.worker);
  });

  it('after an abort whose replacement fails to load, a queued job fails instead of hanging; the pool retries the thread', async () => {
    // Seconds per face inside one native run: the old thread is still in it when the replacement has already failed.
    const slower = await writeSlowRestorer(path.join(dir, 'slower'), SLOW_CONVS * 3);
    const restorer = path.join(dir, 'vanishing.onnx');
    await copyFile(slower, restorer);
    const threads = await pool(restorer, 1);
    const budget = new AbortController();
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const job = threads.process(input.slice(), { upscale: 1 }, { signal: budget.signal, onStarted: started }).catch((e: unknown) => e);
    const queued = threads.process(input.slice(), { upscale: 1 }).catch((e: unknown) => e);
    await running;
    // Into the restorer's native run: CPU time (this process's, threads included) past decode and detect's share.
    const cpuAtStart = process.cpuUsage();
    await vi.waitFor(() => expect(process.cpuUsage(cpuAtStart).user / 1000).toBeGreaterThan(1_500), { timeout: 120_000, interval: 50 });
    await rm(restorer);
    budget.abort(new PermanentError('JOB_TIMEOUT', 'over budget'));
    await job;
    const error = await queued;
    expect(error).toBeInstanceOf(RetryableError);
    expect((error as Error).message).toMatch(/no pipeline thread is running/);
    // The model is back: the pool's retry (with backoff) brings the thread count back to what it was created with.
    await copyFile(slower, restorer);
    await vi.waitFor(() => expect(threads.threadCount).toBe(1), { timeout: 120_000, interval: 200 });
    expect(threads.missingThreads).toBe(0);
    expect((await threads.process(input.slice(), { upscale: 1 })).faces.length).toBeGreaterThan(0);
  }, 240_000);

  it('fails a running job as retryable when the pool is disposed, without taking the process down', async () => {
    const threads = await PipelineThreadPool.create({ modelsDir, restorer: slow, download: false, threads: 1, threadCount: 1 });
    const job = threads.process(input.slice(), { upscale: 1 }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 300));
    await threads.dispose();
    const error = await job;
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({ code: 'INTERNAL' });
    await expect(threads.process(input.slice())).rejects.toBeInstanceOf(RetryableError);
  });
});
