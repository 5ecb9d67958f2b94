import { afterEach, describe, expect, it, vi } from 'vitest';
import { RestoreBatcher, forEachInFlight, type BatchRequest } from './restore-batch.js';

/** A face whose single value says which face it is; the run below adds 1000 × the fidelity to each. */
const face = (value: number, fidelity = 0, sentAtMs = performance.timeOrigin + performance.now()): BatchRequest => ({
  tensor: Float32Array.of(value),
  fidelity,
  sentAtMs,
});

/** A run the test finishes by hand, recording each batch's faces. */
function controlledRun() {
  const batches: number[][] = [];
  const finish: (() => void)[] = [];
  const run = (tensors: readonly Float32Array[], fidelity: number) => {
    batches.push(tensors.map((t) => t[0]!));
    return new Promise<Float32Array[]>((resolve) => finish.push(() => resolve(tensors.map((t) => Float32Array.of(t[0]! + 1000 * fidelity)))));
  };
  return { run, batches, finish };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('RestoreBatcher', () => {
  it('runs a full batch at once, gives each face its own output, and holds the next faces while a batch runs', async () => {
    const { run, batches, finish } = controlledRun();
    const batcher = new RestoreBatcher(run, { maxBatchFaces: 2, maxBatchDelayMs: 60_000 });
    const first = [batcher.restore(face(1)), batcher.restore(face(2))];
    expect(batches).toEqual([[1, 2]]);
    const next = [batcher.restore(face(3)), batcher.restore(face(4)), batcher.restore(face(5))];
    // The model is busy: nothing else runs until the first batch is back.
    expect(batches).toHaveLength(1);
    finish[0]!();
    expect((await Promise.all(first)).map((t) => t[0])).toEqual([1, 2]);
    await vi.waitFor(() => expect(batches).toEqual([[1, 2], [3, 4]]));
    finish[1]!();
    expect((await Promise.all(next.slice(0, 2))).map((t) => t[0])).toEqual([3, 4]);
    // Face 5 is alone and its delay is far off: it waits for company, and leaves with the next face.
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(batches).toHaveLength(2);
    const sixth = batcher.restore(face(6));
    expect(batches[2]).toEqual([5, 6]);
    finish[2]!();
    expect((await Promise.all([next[2]!, sixth])).map((t) => t[0])).toEqual([5, 6]);
  });

  it('sends a partial batch once its oldest face has waited maxBatchDelayMs, not before', async () => {
    vi.useFakeTimers();
    const { run, batches, finish } = controlledRun();
    const batcher = new RestoreBatcher(run, { maxBatchFaces: 4, maxBatchDelayMs: 10 });
    const sentAtMs = performance.timeOrigin + performance.now();
    const waiting = [batcher.restore(face(1, 0, sentAtMs)), batcher.restore(face(2, 0, sentAtMs))];
    await vi.advanceTimersByTimeAsync(9);
    expect(batches).toEqual([]);
    await vi.advanceTimersByTimeAsync(2);
    expect(batches).toEqual([[1, 2]]);
    finish[0]!();
    expect((await Promise.all(waiting)).map((t) => t[0])).toEqual([1, 2]);
  });

  it('never mixes fidelities in one batch, and keeps arrival order within each', async () => {
    const { run, batches, finish } = controlledRun();
    const batcher = new RestoreBatcher(run, { maxBatchFaces: 2, maxBatchDelayMs: 0 });
    const results = [batcher.restore(face(1, 0.5)), batcher.restore(face(2, 1)), batcher.restore(face(3, 0.5)), batcher.restore(face(4, 1))];
    expect(batches).toEqual([[1]]);
    finish[0]!();
    await vi.waitFor(() => expect(batches).toHaveLength(2));
    expect(batches[1]).toEqual([2, 4]);
    finish[1]!();
    await vi.waitFor(() => expect(batches).toHaveLength(3));
    expect(batches[2]).toEqual([3]);
    finish[2]!();
    expect((await Promise.all(results)).map((t) => t[0])).toEqual([501, 1002, 503, 1004]);
  });

  it('fails every face of a batch whose run fails, and goes on with the next', async () => {
    let calls = 0;
    const batcher = new RestoreBatcher(
      async (tensors) => {
        if (calls++ === 0) throw new Error('the model failed');
        return tensors.map((t) => t.slice());
      },
      { maxBatchFaces: 2, maxBatchDelayMs: 60_000 },
    );
    const failed = [batcher.restore(face(1)), batcher.restore(face(2))];
    const later = [batcher.restore(face(3)), batcher.restore(face(4))];
    for (const result of await Promise.allSettled(failed)) expect(result).toMatchObject({ status: 'rejected', reason: { message: 'the model failed' } });
    expect((await Promise.all(later)).map((t) => t[0])).toEqual([3, 4]);
    await batcher.drained();
  });
});

describe('forEachInFlight', () => {
  it('keeps at most `limit` calls running and starts the next as one finishes', async () => {
    let running = 0;
    let most = 0;
    const done: number[] = [];
    await forEachInFlight(7, 3, async (index) => {
      most = Math.max(most, ++running);
      await new Promise<void>((resolve) => setImmediate(resolve));
      done.push(index);
      running--;
    });
    expect(most).toBe(3);
    expect([...done].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('rejects with the first error only after the calls already running have settled, and starts no more', async () => {
    const started: number[] = [];
    let settled = 0;
    const outcome = await forEachInFlight(10, 2, async (index) => {
      started.push(index);
      await new Promise<void>((resolve) => setImmediate(resolve));
      settled++;
      if (index === 1) throw new Error('face 1 failed');
    }).catch((e: unknown) => e);
    expect(outcome).toMatchObject({ message: 'face 1 failed' });
    expect(settled).toBe(started.length);
    expect(started.length).toBeLessThan(10);
  });
});
