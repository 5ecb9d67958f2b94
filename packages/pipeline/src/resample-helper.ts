// A resampling kernels' helper thread (started by resample.ts, one per further core): its own instance of the
// WebAssembly module over the caller's shared memory. It says IDLE once loaded (BROKEN if it can't load), sleeps on
// its state word, runs the strip it is handed and says DONE, or FAILED with the message when the kernel threw.
// Its own entry in the bundle (build.mjs): it imports nothing but the protocol, so a helper loads no pipeline code.
import { isMainThread, workerData } from 'node:worker_threads';
import { ARG_COUNT, BROKEN, DONE, ERROR_LENGTH, FAILED, IDLE, KERNEL, KERNEL_NAMES, RUN, STATE, isHelperData, kernelImports, wasmApi, type HelperData, type Kernels } from './resample-protocol.js';

function runHelper(data: HelperData): void {
  const state = new Int32Array(data.control);
  const values = new Float64Array(data.args);
  const message = new Uint8Array(data.error);
  let kernels: Kernels | undefined;
  try {
    const wasm = wasmApi();
    kernels = new wasm.Instance(data.module, kernelImports(data.memory)).exports as Kernels;
    Atomics.store(state, STATE, IDLE);
  } catch {
    Atomics.store(state, STATE, BROKEN);
  }
  Atomics.notify(state, STATE);
  // The thread lives in this loop: it blocks in Atomics.wait between strips and is unref'd by its starter.
  while (kernels !== undefined) {
    const s = Atomics.load(state, STATE);
    if (s !== RUN) {
      Atomics.wait(state, STATE, s);
      continue;
    }
    try {
      const name = KERNEL_NAMES[state[KERNEL]!]!;
      kernels[name](...values.subarray(0, state[ARG_COUNT]));
      Atomics.store(state, STATE, DONE);
    } catch (e) {
      const { written } = new TextEncoder().encodeInto(e instanceof Error && e.message ? e.message : String(e), message);
      state[ERROR_LENGTH] = written;
      Atomics.store(state, STATE, FAILED);
    }
    Atomics.notify(state, STATE);
  }
}

// Only in a thread resample.ts started: imported anywhere else (a bundler's analysis, a test) it does nothing.
if (!isMainThread && isHelperData(workerData)) runHelper(workerData);
