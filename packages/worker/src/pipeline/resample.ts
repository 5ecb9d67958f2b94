// The per-pixel inner loops of align, paste and the background upscale, in WebAssembly with SIMD (kernels/resample.ts,
// AssemblyScript, embedded by build-kernels.mjs). Hand-written because the library path was measured and lost:
// libvips' affine (sharp) costs 2–3 ms of fixed overhead per call and about 40 ns per output pixel per thread, and
// computes the whole rotated bounding box of its input (42 MP for the 25 MP footprint of a close-up's face); the
// kernels here sample only the pixels asked for (figures: `pnpm bench`, bench/resample.bench.ts, and the README).
//
// Each call is synchronous: the inputs are copied into the module's memory, the kernel runs, the output is copied
// out. Outputs run in strips of rows, so the module's memory stays a few MiB whatever the photo's size; a call with
// enough strips runs them on helper threads too (the memory is shared, each helper has its own instance of the
// module), one strip per thread at a time. The module and its helpers are per thread (per isolate), so pipeline
// threads never share them.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { RESAMPLE_WASM_BASE64 } from './resample-wasm.js';

/** Continuous-coordinate affine [a, b, c, d, e, f]: (x, y) → (a·x + b·y + c, d·x + e·y + f), pixel centres at i + 0.5. */
export type Matrix = readonly [number, number, number, number, number, number];

/** The part of the WebAssembly API used here (this project's TypeScript libs carry no DOM or WebAssembly types). */
interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object, imports: object) => { readonly exports: object };
  readonly Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
}

/** The kernels' exports: pointers are byte offsets into the shared memory. */
interface Kernels {
  heapBase(): number;
  warp(...args: number[]): void;
  paste(...args: number[]): void;
  enlarge(...args: number[]): void;
}
type KernelName = 'warp' | 'paste' | 'enlarge';
const KERNEL_NAMES: readonly KernelName[] = ['warp', 'paste', 'enlarge'];

/** One kernel call over one strip. */
interface StripJob {
  readonly kernel: KernelName;
  readonly args: readonly number[];
}

/**
 * Bytes of output a strip holds: small enough that the module's memory stays a few MiB (it never shrinks), large
 * enough that the per-strip copies, calls and hand-overs to helper threads are noise. @default 2 MiB
 */
export const STRIP_BYTES = 2 * 2 ** 20;
/**
 * Threads a large call runs its strips on, the calling one included. The same default as libvips' (image.ts):
 * a job owns its task's cores while it runs its pixel stages. @default os.availableParallelism()
 */
export const DEFAULT_KERNEL_THREADS = availableParallelism();
/**
 * Output below which a call stays on the calling thread: handing a strip to a helper costs tens of microseconds,
 * and a 512² crop (0.75 MiB) is done in a few milliseconds. @default 2 strips
 */
export const PARALLEL_MIN_BYTES = 2 * STRIP_BYTES;
/** Bytes past every buffer: kernels read and write a 3-byte pixel as 4 bytes and float rows as 16-byte lanes. */
const PAD_BYTES = 16;
const WASM_PAGE_BYTES = 65_536;
/** The most the module's memory may grow to (shared memory needs a maximum): 1 GiB, far above any strip layout. */
const MAX_MEMORY_PAGES = 16_384;
/** How long a helper may take over one strip before the call fails (a strip takes milliseconds). */
const HELPER_TIMEOUT_MS = 120_000;

// Helper protocol, one Int32Array per helper: [state, kernel index, argument count]; arguments in a Float64Array.
const STATE = 0, KERNEL = 1, ARG_COUNT = 2;
const IDLE = 0, RUN = 1, DONE = 2, FAILED = 3, BROKEN = 4;
const MAX_ARGS = 32;

/**
 * The helper thread: its own instance of the module over the shared memory; it sleeps on its state word, runs
 * the strip it is handed, and says DONE (or FAILED when the kernel trapped, BROKEN when it never loaded).
 */
const HELPER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, control, args, names } = workerData;
const state = new Int32Array(control), values = new Float64Array(args);
let kernels;
try {
  kernels = new WebAssembly.Instance(module, { env: { memory, abort() { throw new Error('resample kernel aborted'); } } }).exports;
} catch {
  Atomics.store(state, ${STATE}, ${BROKEN});
  Atomics.notify(state, ${STATE});
}
while (kernels !== undefined) {
  const s = Atomics.load(state, ${STATE});
  if (s !== ${RUN}) {
    Atomics.wait(state, ${STATE}, s);
    continue;
  }
  try {
    kernels[names[state[${KERNEL}]]](...values.subarray(0, state[${ARG_COUNT}]));
    Atomics.store(state, ${STATE}, ${DONE});
  } catch {
    Atomics.store(state, ${STATE}, ${FAILED});
  }
  Atomics.notify(state, ${STATE});
}
`;

class KernelHelper {
  readonly #state = new Int32Array(new SharedArrayBuffer(3 * 4));
  readonly #args = new Float64Array(new SharedArrayBuffer(MAX_ARGS * 8));
  /** Set once the helper could not load the module: its strips run on the calling thread instead. */
  broken = false;

  constructor(module: object, memory: WasmMemory) {
    const worker = new Worker(HELPER_SOURCE, {
      eval: true,
      workerData: { module, memory, control: this.#state.buffer, args: this.#args.buffer, names: KERNEL_NAMES },
    });
    // Asleep between calls: it must not keep the process (or a pipeline thread) alive.
    worker.unref();
    worker.on('error', () => {
      this.broken = true;
    });
  }

  start(job: StripJob): void {
    this.#args.set(job.args);
    this.#state[KERNEL] = KERNEL_NAMES.indexOf(job.kernel);
    this.#state[ARG_COUNT] = job.args.length;
    Atomics.store(this.#state, STATE, RUN);
    Atomics.notify(this.#state, STATE);
  }

  /** Blocks until the strip is done; false when the helper never loaded (the strip was not touched). */
  finish(): boolean {
    const deadline = performance.now() + HELPER_TIMEOUT_MS;
    for (;;) {
      const s = Atomics.load(this.#state, STATE);
      if (s === DONE) break;
      if (s === BROKEN) {
        this.broken = true;
        return false;
      }
      if (s === FAILED) {
        Atomics.store(this.#state, STATE, IDLE);
        throw new Error('resample kernel failed on a helper thread');
      }
      if (performance.now() > deadline) throw new Error(`resample helper thread gave no answer in ${HELPER_TIMEOUT_MS / 1000} s`);
      Atomics.wait(this.#state, STATE, s, 1000);
    }
    Atomics.store(this.#state, STATE, IDLE);
    return true;
  }
}

interface Runtime {
  readonly memory: WasmMemory;
  readonly module: object;
  readonly kernels: Kernels;
  readonly helpers: KernelHelper[];
}

let runtime: Runtime | undefined;

function load(): Runtime {
  if (runtime === undefined) {
    const wasm = (globalThis as unknown as { readonly WebAssembly: WasmApi }).WebAssembly;
    const module = new wasm.Module(Buffer.from(RESAMPLE_WASM_BASE64, 'base64'));
    const memory = new wasm.Memory({ initial: 1, maximum: MAX_MEMORY_PAGES, shared: true });
    const abort = (): never => {
      throw new Error('resample kernel aborted');
    };
    const kernels = new wasm.Instance(module, { env: { memory, abort } }).exports as Kernels;
    runtime = { memory, module, kernels, helpers: [] };
  }
  return runtime;
}

/** Helper threads this thread has started and that loaded the kernels (diagnostics: the bench, the tests). */
export function kernelHelperThreads(): number {
  return runtime?.helpers.filter((helper) => !helper.broken).length ?? 0;
}

/** Lays out buffers of the given byte sizes (16-byte aligned, padded) from the heap base; returns their offsets. */
function layout(sizes: readonly number[]): { readonly rt: Runtime; readonly at: number[] } {
  const rt = load();
  const at: number[] = [];
  let p = (rt.kernels.heapBase() + 15) & ~15;
  for (const size of sizes) {
    at.push(p);
    p += (size + PAD_BYTES + 15) & ~15;
  }
  const have = rt.memory.buffer.byteLength;
  if (p > MAX_MEMORY_PAGES * WASM_PAGE_BYTES) throw new RangeError(`resample: ${p} bytes of buffers exceed the kernels' ${MAX_MEMORY_PAGES * WASM_PAGE_BYTES}`);
  if (p > have) rt.memory.grow(Math.ceil((p - have) / WASM_PAGE_BYTES));
  return { rt, at };
}

const bytesAt = (rt: Runtime, at: number, length: number): Uint8Array => new Uint8Array(rt.memory.buffer, at, length);

/** Rows of `channels`-byte pixels, `width` wide, per strip. */
function stripRows(width: number, channels: number): number {
  return Math.max(1, Math.floor(STRIP_BYTES / (width * channels)));
}

/** Strips run at once (each with its own buffers): 1 for small calls, else up to DEFAULT_KERNEL_THREADS. */
function lanesFor(outputBytes: number, strips: number): number {
  return outputBytes < PARALLEL_MIN_BYTES ? 1 : Math.max(1, Math.min(DEFAULT_KERNEL_THREADS, strips));
}

/** Runs the strips at once: the first on this thread, the others on helper threads (started on first use). */
function runStrips(rt: Runtime, jobs: readonly StripJob[]): void {
  const handed: [KernelHelper, StripJob][] = [];
  jobs.slice(1).forEach((job, i) => {
    const helper = (rt.helpers[i] ??= new KernelHelper(rt.module, rt.memory));
    if (helper.broken) rt.kernels[job.kernel](...job.args);
    else {
      helper.start(job);
      handed.push([helper, job]);
    }
  });
  const first = jobs[0];
  if (first !== undefined) rt.kernels[first.kernel](...first.args);
  for (const [helper, job] of handed) if (!helper.finish()) rt.kernels[job.kernel](...job.args);
}

/** Source index coordinates sampled for destination pixel (X, Y): the matrix with the half-pixel centres folded in. */
function indexMatrix(m: Matrix, x0: number, y0: number): Matrix {
  const [a, b, c, d, e, f] = m;
  return [a, b, a * (x0 + 0.5) + b * (y0 + 0.5) + c - 0.5, d, e, d * (x0 + 0.5) + e * (y0 + 0.5) + f - 0.5];
}

export interface WarpSource {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3 | 4;
}

/**
 * Bicubic (Catmull-Rom) affine warp with edges replicated: destination pixel (i, j) of the `outWidth`×`outHeight`
 * rectangle at (x0, y0) takes the source at `inverse`(x0 + i + 0.5, y0 + j + 0.5) (continuous coordinates).
 */
export function warpBicubic(src: WarpSource, inverse: Matrix, x0: number, y0: number, outWidth: number, outHeight: number): Uint8Array {
  const { width, height, channels } = src;
  const rowBytes = outWidth * channels;
  const out = new Uint8Array(outHeight * rowBytes);
  const rows = Math.min(stripRows(outWidth, channels), outHeight);
  const lanes = lanesFor(out.length, Math.ceil(outHeight / rows));
  const { rt, at } = layout([src.data.length, ...Array<number>(lanes).fill(rows * rowBytes)]);
  const [srcAt, ...dstAt] = at as [number, ...number[]];
  bytesAt(rt, srcAt, src.data.length).set(src.data);
  const [a, b, c, d, e, f] = indexMatrix(inverse, x0, y0);
  for (let y = 0; y < outHeight; y += lanes * rows) {
    const strips = dstAt.map((dst, i) => ({ dst, y0: Math.min(outHeight, y + i * rows), y1: Math.min(outHeight, y + (i + 1) * rows) })).filter((s) => s.y1 > s.y0);
    // The kernel writes destination rows [y0, y1) from `dst` on.
    runStrips(rt, strips.map((s) => ({ kernel: 'warp', args: [srcAt, width, height, channels, s.dst, outWidth, s.y0, s.y1, a, b, c, d, e, f] })));
    for (const s of strips) out.set(bytesAt(rt, s.dst, (s.y1 - s.y0) * rowBytes), s.y0 * rowBytes);
  }
  return out;
}

/** Catmull-Rom taps of an exact enlargement from n to toN samples: 4 clamped indices and 4 weights per output. */
function enlargeTaps(n: number, toN: number): { readonly index: Int32Array; readonly weight: Float32Array } {
  const index = new Int32Array(toN * 4);
  const weight = new Float32Array(toN * 4);
  for (let X = 0; X < toN; X++) {
    const centre = ((X + 0.5) * n) / toN - 0.5;
    const i = Math.floor(centre);
    const t = centre - i;
    weight.set([((-0.5 * t + 1) * t - 0.5) * t, (1.5 * t - 2.5) * t * t + 1, ((-1.5 * t + 2) * t + 0.5) * t, (0.5 * t - 0.5) * t * t], X * 4);
    for (let k = 0; k < 4; k++) index[X * 4 + k] = Math.min(n - 1, Math.max(0, i - 1 + k));
  }
  return { index, weight };
}

/**
 * Enlarges `src` to `toWidth`×`toHeight` with Catmull-Rom (libvips' bicubic) and exact pixel centres (source
 * x = (X + 0.5)·w/W − 0.5), edges replicated: separable, per strip a horizontal pass over the source rows it needs
 * into floats and a vertical pass to bytes.
 */
export function enlargeCubic(src: WarpSource, toWidth: number, toHeight: number): Uint8Array {
  const { width, height, channels } = src;
  const h = enlargeTaps(width, toWidth);
  const v = enlargeTaps(height, toHeight);
  const out = new Uint8Array(toWidth * toHeight * channels);
  const rows = Math.min(stripRows(toWidth, channels), toHeight);
  const lanes = lanesFor(out.length, Math.ceil(toHeight / rows));
  // Source rows one strip can need: its own span at this scale plus the kernel's reach on both sides.
  const maxSourceRows = Math.min(height, Math.ceil((rows * height) / toHeight) + 4);
  const rowBytes = width * channels, outRow = toWidth * channels;
  const lane = [maxSourceRows * rowBytes, maxSourceRows * outRow * 4, rows * outRow, rows * 16, rows * 16];
  const { rt, at } = layout([h.index.byteLength, h.weight.byteLength, ...Array.from({ length: lanes }, () => lane).flat()]);
  const [hIndexAt, hWeightAt] = at as [number, number];
  const buffer = rt.memory.buffer;
  new Int32Array(buffer, hIndexAt, h.index.length).set(h.index);
  new Float32Array(buffer, hWeightAt, h.weight.length).set(h.weight);
  for (let Y = 0; Y < toHeight; Y += lanes * rows) {
    const jobs: StripJob[] = [];
    const strips: { readonly dst: number; readonly y0: number; readonly y1: number }[] = [];
    for (let i = 0; i < lanes && Y + i * rows < toHeight; i++) {
      const [srcAt, midAt, dstAt, vIndexAt, vWeightAt] = at.slice(2 + i * lane.length, 2 + (i + 1) * lane.length) as [number, number, number, number, number];
      const y0 = Y + i * rows, y1 = Math.min(toHeight, y0 + rows);
      const first = v.index[y0 * 4]!, last = v.index[y1 * 4 - 1]!;
      const count = last - first + 1;
      bytesAt(rt, srcAt, count * rowBytes).set(src.data.subarray(first * rowBytes, (last + 1) * rowBytes));
      const stripIndex = v.index.subarray(y0 * 4, y1 * 4).map((r) => r - first);
      new Int32Array(buffer, vIndexAt, stripIndex.length).set(stripIndex);
      new Float32Array(buffer, vWeightAt, stripIndex.length).set(v.weight.subarray(y0 * 4, y1 * 4));
      jobs.push({ kernel: 'enlarge', args: [srcAt, width, count, channels, midAt, toWidth, hIndexAt, hWeightAt, dstAt, y1 - y0, vIndexAt, vWeightAt] });
      strips.push({ dst: dstAt, y0, y1 });
    }
    runStrips(rt, jobs);
    for (const s of strips) out.set(bytesAt(rt, s.dst, (s.y1 - s.y0) * outRow), s.y0 * outRow);
  }
  return out;
}

/** One face to composite, as pasteBicubic takes it. */
export interface PasteRequest {
  /** The RGB image sampled for the face (the face itself, or a prefiltered region of it). */
  readonly source: WarpSource;
  /** Output continuous → `source` continuous. */
  readonly toSource: Matrix;
  /** Output continuous → face space continuous, where `profile` is evaluated. */
  readonly toFace: Matrix;
  /** The mask's 1-D profile at the face's pixel centres; the mask is P(u)·P(v). */
  readonly profile: Float64Array;
  /** The footprint in the output. */
  readonly rect: { readonly x0: number; readonly y0: number; readonly width: number; readonly height: number };
  /**
   * Per footprint row, 4 values: the pixels [from, to) where the mask is non-zero and [opaqueFrom, opaqueTo)
   * where it is surely 1 (copied without a blend), as footprint x indices.
   */
  readonly spans: Int32Array;
}

/**
 * Composites one face into `out` (RGB, `outWidth` wide) over its footprint: each pixel of a row's non-zero span
 * takes the bicubic sample of the face and, off the opaque span, out = face·α + out·(1 − α), rounded, with
 * α = round(255·P(u)·P(v)).
 */
export function pasteBicubic(out: Uint8Array, outWidth: number, req: PasteRequest): void {
  const { source, rect, profile, spans } = req;
  if (source.channels !== 3) throw new RangeError('pasteBicubic: the face must be RGB.');
  const { x0, y0, width: mw, height: mh } = rect;
  const rowBytes = mw * 3;
  const rows = Math.min(stripRows(mw, 3), mh);
  const lanes = lanesFor(mh * rowBytes, Math.ceil(mh / rows));
  const lane = [rows * rowBytes, rows * 16];
  const { rt, at } = layout([source.data.length, profile.length * 4, ...Array.from({ length: lanes }, () => lane).flat()]);
  const [faceAt, profileAt] = at as [number, number];
  const buffer = rt.memory.buffer;
  bytesAt(rt, faceAt, source.data.length).set(source.data);
  new Float32Array(buffer, profileAt, profile.length).set(profile);
  const [sa, sb, sc, sd, se, sf] = indexMatrix(req.toSource, x0, y0);
  // The mask is evaluated at pixel centres in face space: the same matrix without the half-pixel index shift.
  const [ma, mb, mc, md, me, mf] = indexMatrix(req.toFace, x0, y0);
  for (let Y = 0; Y < mh; Y += lanes * rows) {
    const jobs: StripJob[] = [];
    const strips: { readonly strip: Uint8Array; readonly y0: number; readonly y1: number }[] = [];
    for (let i = 0; i < lanes && Y + i * rows < mh; i++) {
      const [stripAt, spansAt] = at.slice(2 + i * 2, 4 + i * 2) as [number, number];
      const s0 = Y + i * rows, s1 = Math.min(mh, s0 + rows);
      // The strip of the footprint is copied in, composited, and copied back.
      const strip = bytesAt(rt, stripAt, (s1 - s0) * rowBytes);
      for (let j = s0; j < s1; j++) {
        const o = ((y0 + j) * outWidth + x0) * 3;
        strip.set(out.subarray(o, o + rowBytes), (j - s0) * rowBytes);
      }
      new Int32Array(buffer, spansAt, (s1 - s0) * 4).set(spans.subarray(s0 * 4, s1 * 4));
      jobs.push({
        kernel: 'paste',
        args: [faceAt, source.width, source.height, stripAt, mw, s0, s1, 0, spansAt, profileAt, profile.length, sa, sb, sc, sd, se, sf, ma, mb, mc + 0.5, md, me, mf + 0.5],
      });
      strips.push({ strip, y0: s0, y1: s1 });
    }
    runStrips(rt, jobs);
    for (const { strip, y0: s0, y1: s1 } of strips) {
      for (let j = s0; j < s1; j++) out.set(strip.subarray((j - s0) * rowBytes, (j - s0 + 1) * rowBytes), ((y0 + j) * outWidth + x0) * 3);
    }
  }
}
