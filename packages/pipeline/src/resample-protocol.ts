// What a resample call (resample.ts) and its helper threads (resample-helper.ts) share: the control block's layout
// and states, the kernels' names, and what a helper is started with.

/** The part of the WebAssembly API used here (this project's TypeScript libs carry no DOM or WebAssembly types). */
export interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
  grow(pages: number): number;
}
export interface WasmApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object, imports: object) => { readonly exports: object };
  readonly Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
}

/** This isolate's WebAssembly. */
export function wasmApi(): WasmApi {
  return (globalThis as unknown as { readonly WebAssembly: WasmApi }).WebAssembly;
}

/** The kernels' exports: pointers are byte offsets into the shared memory. */
export interface Kernels {
  heapBase(): number;
  warp(...args: number[]): void;
  paste(...args: number[]): void;
  enlarge(...args: number[]): void;
  toFloatPixels(src: number, pixels: number, dst: number): void;
}
export type KernelName = 'warp' | 'paste' | 'enlarge';
/** A strip's kernel crosses to a helper as its index in this list. */
export const KERNEL_NAMES: readonly KernelName[] = ['warp', 'paste', 'enlarge'];

/** The kernels' imports: the shared memory, and AssemblyScript's abort as an exception. */
export function kernelImports(memory: WasmMemory): object {
  const abort = (): never => {
    throw new Error('resample kernel aborted');
  };
  return { env: { memory, abort } };
}

// The control block, one Int32Array per helper: [state, job number, kernel index, argument count, error length]. The
// job number the helper echoes with its answer ties the answer to the strip it was given.
export const STATE = 0;
export const JOB = 1;
export const KERNEL = 2;
export const ARG_COUNT = 3;
export const ERROR_LENGTH = 4;
export const CONTROL_WORDS = 5;

// Its states. 0 is "loading": a new control block is zeroed, and the helper says IDLE once it has loaded the module.
/** Loaded and waiting for a strip. */
export const IDLE = 1;
/** Handed a strip: the arguments are in place. */
export const RUN = 2;
/** The strip is done. */
export const DONE = 3;
/** The kernel threw: the message is in the error bytes. */
export const FAILED = 4;
/** The helper could not load the module: it never takes a strip. */
export const BROKEN = 5;

/** Arguments of one kernel call, as float64s. */
export const MAX_ARGS = 32;
/** Bytes of a failure's message (UTF-8, cut to fit). */
export const ERROR_BYTES = 1024;

/** What a helper thread is started with (its `workerData`). */
export interface HelperData {
  readonly marker: typeof HELPER_MARKER;
  readonly module: object;
  readonly memory: WasmMemory;
  /** CONTROL_WORDS int32s. */
  readonly control: SharedArrayBuffer;
  /** MAX_ARGS float64s. */
  readonly args: SharedArrayBuffer;
  /** ERROR_BYTES bytes. */
  readonly error: SharedArrayBuffer;
}

export const HELPER_MARKER = 'revive-resample-helper';

export function isHelperData(data: unknown): data is HelperData {
  return typeof data === 'object' && data !== null && (data as { marker?: unknown }).marker === HELPER_MARKER;
}
