import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { processCpuMs, startSyncCpuClock } from './thread-cpu.js';

/** Work for the CPU that no optimiser can drop: about 100 ms here. */
function busy(): number {
  let x = 0;
  for (let i = 0; i < 3e7; i++) x = (x + Math.sqrt(i)) % 1e9;
  return x;
}

describe('startSyncCpuClock', () => {
  it('counts a synchronous span\'s work as the process\'s CPU time does when nothing else runs', () => {
    const proc = processCpuMs();
    const clock = startSyncCpuClock();
    expect(busy()).toBeGreaterThan(0);
    const spanMs = clock();
    const processMs = processCpuMs() - proc;
    expect(spanMs).toBeGreaterThan(20);
    expect(spanMs).toBeGreaterThan(0.75 * processMs - 2);
    expect(spanMs).toBeLessThanOrEqual(processMs + 0.5);
  });

  it('counts no more than the span\'s wall time while another thread computes throughout it', async () => {
    // The other thread spins from before the span until after it, as onnxruntime's threads do after a run.
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const spinner = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       parentPort.postMessage('spinning');
       while (Atomics.load(workerData, 0) === 0) Math.sqrt(Math.random());`,
      { eval: true, workerData: stop },
    );
    await once(spinner, 'message');
    const wallStart = performance.now(), proc = processCpuMs();
    const clock = startSyncCpuClock();
    expect(busy()).toBeGreaterThan(0);
    const spanMs = clock();
    const processMs = processCpuMs() - proc, wallMs = performance.now() - wallStart;
    Atomics.store(stop, 0, 1);
    await once(spinner, 'exit');
    expect(spanMs).toBeGreaterThan(20);
    // The span's own thread cannot have run longer than the span: with a second core free, the process's CPU time over
    // it is about twice its wall time, and a clock that read it would fail here.
    expect(spanMs).toBeLessThanOrEqual(wallMs + 0.5);
    expect(spanMs).toBeLessThanOrEqual(processMs + 0.5);
  });
});
