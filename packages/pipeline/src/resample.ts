// The per-pixel inner loops of align, paste and the background upscale, in WebAssembly with SIMD (kernels/resample.ts,
// AssemblyScript, embedded by build-kernels.mjs). Hand-written because the library path was measured and lost:
// libvips' affine (sharp) costs 2–3 ms of fixed overhead per call and about 40 ns per output pixel per thread, and
// computes the whole rotated bounding box of its input (42 MP for the 25 MP footprint of a close-up's face); the
// kernels here sample only the pixels asked for (figures: `pnpm bench`, bench/resample.bench.ts, and the README).
//
// Each call is synchronous: the inputs are copied into the module's memory, the kernel runs, the output is copied
// out. Outputs run in strips of rows, so the module's memory is bounded whatever the photo's size (about 15 MiB on
// 2 cores for the ×2 upscale of an 8000×3300 photo, at most LANE_MEMORY_BUDGET_BYTES of strips; paste and a
// magnifying warp add an f32 copy of a source up to FLOAT_SOURCE_MAX_PIXELS, 4 MiB for a 512² face); a call with enough
// strips runs them on helper threads too (the memory is shared, each helper has its own instance of the module),
// one strip per thread at a time. The module and its helpers are per thread (per isolate), so pipeline threads
// never share them. A call blocks its thread (about 0.45 s for the ×2 upscale of an 8000×3300 photo on 2 cores): the
// service runs the pipeline on its own threads, so the main event loop never waits for one.
import { availableParallelism } from 'node:os';
import { ARG_COUNT, BROKEN, CONTROL_WORDS, DONE, ERROR_BYTES, ERROR_LENGTH, FAILED, HELPER_MARKER, IDLE, JOB, KERNEL, KERNEL_NAMES, MAX_ARGS, RUN, STATE } from './resample-protocol.js';
import { kernelImports, wasmApi, type HelperData, type KernelName, type Kernels, type WasmMemory } from './resample-protocol.js';
import { RESAMPLE_WASM_BASE64 } from './resample-wasm.js';
import { siblingModule, startThread } from './thread-start.js';
import type { Affine } from './types.js';

/** One kernel call over one strip. */
interface StripJob {
  readonly kernel: KernelName;
  readonly args: readonly number[];
}

/**
 * Bytes of output a strip holds: small enough that a call's buffers stay bounded (they never shrink), large enough
 * that the per-strip copies, calls and hand-overs to helper threads are noise. @default 2 MiB
 */
export const STRIP_BYTES = 2 * 2 ** 20;
/**
 * Output below which a call stays on the calling thread: handing a strip to a helper costs tens of microseconds,
 * and a 512² crop (0.75 MiB) is done in a few milliseconds. @default 2 strips
 */
export const PARALLEL_MIN_BYTES = 2 * STRIP_BYTES;
/**
 * Buffers a call may lay out for strips that run at once: each lane of a ×2 upscale of a wide photo holds about
 * 7 MiB (source rows, float rows, output), so a many-core host runs fewer lanes than it has cores rather than
 * keep hundreds of MiB in every thread's module. @default 64 MiB
 */
const LANE_MEMORY_BUDGET_BYTES = 64 * 2 ** 20;
/**
 * Largest source a kernel samples from an f32 RGBX copy (16 bytes a pixel): a 1024² face. A larger one is sampled
 * from its bytes, so that a big warp never lays out gigabytes of floats. @default 2²⁰ pixels (16 MiB of floats)
 */
const FLOAT_SOURCE_MAX_PIXELS = 2 ** 20;
/** Bytes past every buffer: kernels read a 3-byte pixel as 4 bytes (a row of 4 taps as 16) and float rows as 16-byte lanes. */
const PAD_BYTES = 16;
const WASM_PAGE_BYTES = 65_536;
/** The most the module's memory may grow to (shared memory needs a maximum): 1 GiB, far above any strip layout. */
const MAX_MEMORY_PAGES = 16_384;
/** How long a helper may take over one strip before the call fails (a strip takes milliseconds). */
const HELPER_TIMEOUT_MS = 120_000;

export interface KernelOptions {
  /**
   * Threads a large call runs its strips on, the calling one included. Like libvips (image.ts), a job owns its
   * task's cores while it runs its pixel stages; PipelineThreadPool gives each of its threads a share.
   * @default os.availableParallelism()
   */
  readonly threads?: number;
}

let kernelThreads = availableParallelism();

/**
 * Sets the kernels' options for this thread (each pipeline thread has its own module and helpers) and starts the
 * helper threads now, as the models load, so the first large call finds them ready rather than loading.
 */
export function configureKernels(options: KernelOptions = {}): void {
  const threads = options.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`kernel threads must be a positive integer, not ${threads}`);
  kernelThreads = threads;
  const rt = load();
  for (let i = 0; i < threads - 1; i++) rt.helpers[i] ??= new KernelHelper(rt.module, rt.memory);
}

/** Counters for the bench and the tests: what ran where. */
const stats = { helperThreads: 0, stripsOnHelpers: 0, stripsHere: 0 };

/** One helper thread (resample-helper.ts) and its control block (resample-protocol.ts), driven from the calling thread. */
class KernelHelper {
  readonly #state = new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4));
  readonly #args = new Float64Array(new SharedArrayBuffer(MAX_ARGS * 8));
  readonly #error = new Uint8Array(new SharedArrayBuffer(ERROR_BYTES));
  #job = 0;
  /** Set when the helper could not start, could not load the module or exited: its strips run on the caller. */
  #broken = false;

  constructor(module: object, memory: WasmMemory) {
    try {
      const data: HelperData = { marker: HELPER_MARKER, module, memory, control: this.#state.buffer, args: this.#args.buffer, error: this.#error.buffer };
      const worker = startThread(siblingModule('resample-helper', import.meta.url), { workerData: data });
      // Asleep between calls: it must not keep the process (or a pipeline thread) alive.
      worker.unref();
      worker.on('error', (error) => {
        this.#broken = true;
        // Said once per helper: one that cannot start (its file missing beside a bundle's chunks) would otherwise
        // only make large calls slower, without a word.
        process.emitWarning(`a resampling helper thread failed; its strips run on the calling thread: ${error.message}`, { code: 'REVIVE_RESAMPLE_HELPER' });
      });
      worker.on('exit', () => {
        this.#broken = true;
      });
      stats.helperThreads++;
    } catch {
      // No thread to be had (a process limit, say): this lane's strips run on the calling thread.
      this.#broken = true;
    }
  }

  /** Loaded and waiting: a strip handed over now starts at once (one still loading would only delay the call). */
  get ready(): boolean {
    return !this.#broken && Atomics.load(this.#state, STATE) === IDLE;
  }

  get broken(): boolean {
    return this.#broken || Atomics.load(this.#state, STATE) === BROKEN;
  }

  start(job: StripJob): void {
    if (Atomics.load(this.#state, STATE) !== IDLE) throw new Error('resample: a strip was handed to a busy helper thread');
    this.#args.set(job.args);
    this.#state[JOB] = ++this.#job;
    this.#state[KERNEL] = KERNEL_NAMES.indexOf(job.kernel);
    this.#state[ARG_COUNT] = job.args.length;
    Atomics.store(this.#state, STATE, RUN);
    Atomics.notify(this.#state, STATE);
  }

  /** Blocks until the helper has answered for the strip it was handed; throws when it failed or gave no answer. */
  finish(): void {
    const deadline = performance.now() + HELPER_TIMEOUT_MS;
    for (;;) {
      const s = Atomics.load(this.#state, STATE);
      if (s === DONE && this.#state[JOB] === this.#job) break;
      if (s === FAILED) {
        const reason = new TextDecoder().decode(this.#error.slice(0, this.#state[ERROR_LENGTH]));
        Atomics.store(this.#state, STATE, IDLE);
        throw new Error(`resample kernel failed on a helper thread: ${reason}`);
      }
      if (performance.now() > deadline) {
        // It may still be writing into the module's memory: it is never handed another strip.
        this.#broken = true;
        throw new Error(`resample helper thread gave no answer in ${HELPER_TIMEOUT_MS / 1000} s`);
      }
      Atomics.wait(this.#state, STATE, s, 1000);
    }
    Atomics.store(this.#state, STATE, IDLE);
    stats.stripsOnHelpers++;
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
    const wasm = wasmApi();
    const module = new wasm.Module(Buffer.from(RESAMPLE_WASM_BASE64, 'base64'));
    const memory = new wasm.Memory({ initial: 1, maximum: MAX_MEMORY_PAGES, shared: true });
    const kernels = new wasm.Instance(module, kernelImports(memory)).exports as Kernels;
    runtime = { memory, module, kernels, helpers: [] };
  }
  return runtime;
}

/**
 * What ran where on this thread so far: helper threads started, strips run on them and on this thread
 * (diagnostics for the bench and the tests).
 */
export function kernelStats(): { readonly helperThreads: number; readonly stripsOnHelpers: number; readonly stripsHere: number } {
  return { ...stats };
}

const align16 = (n: number): number => Math.ceil(n / 16) * 16;

/** Lays out buffers of the given byte sizes (16-byte aligned, padded) from the heap base; returns their offsets. */
function layout(sizes: readonly number[]): { readonly rt: Runtime; readonly at: number[] } {
  const rt = load();
  const at: number[] = [];
  let p = align16(rt.kernels.heapBase());
  for (const size of sizes) {
    at.push(p);
    p += align16(size + PAD_BYTES);
  }
  const limit = MAX_MEMORY_PAGES * WASM_PAGE_BYTES;
  if (p > limit) throw new RangeError(`resample: ${p} bytes of buffers exceed the kernels' ${limit}`);
  const have = rt.memory.buffer.byteLength;
  if (p > have) rt.memory.grow(Math.ceil((p - have) / WASM_PAGE_BYTES));
  return { rt, at };
}

const bytesAt = (rt: Runtime, at: number, length: number): Uint8Array => new Uint8Array(rt.memory.buffer, at, length);

/** Rows of `channels`-byte pixels, `width` wide, per strip. */
function stripRows(width: number, channels: number): number {
  return Math.max(1, Math.floor(STRIP_BYTES / (width * channels)));
}

/**
 * Strips run at once, each with its own buffers of `laneBytes`: 1 for small calls, else one per kernel thread,
 * no more than there are strips or than LANE_MEMORY_BUDGET_BYTES holds.
 */
function lanesFor(outputBytes: number, strips: number, laneBytes: number): number {
  if (outputBytes < PARALLEL_MIN_BYTES) return 1;
  return Math.max(1, Math.min(kernelThreads, strips, Math.floor(LANE_MEMORY_BUDGET_BYTES / laneBytes)));
}

/**
 * Runs the strips at once: each on a ready helper thread (started on first use) or on this thread. Every strip
 * handed over is waited for, also when another one throws, so no helper is still writing into the module's memory
 * when the next call lays out its buffers there.
 */
function runStrips(rt: Runtime, jobs: readonly StripJob[]): void {
  const here: StripJob[] = [];
  const handed: KernelHelper[] = [];
  jobs.forEach((job, i) => {
    if (i === 0) return here.push(job);
    const helper = (rt.helpers[i - 1] ??= new KernelHelper(rt.module, rt.memory));
    if (!helper.ready) return here.push(job);
    helper.start(job);
    handed.push(helper);
  });
  let failure: unknown;
  try {
    for (const job of here) {
      rt.kernels[job.kernel](...job.args);
      stats.stripsHere++;
    }
  } catch (error) {
    failure = error;
  }
  for (const helper of handed) {
    try {
      helper.finish();
    } catch (error) {
      failure ??= error;
    }
  }
  if (failure !== undefined) throw failure;
}

/** The matrix a kernel takes, refused when a coefficient is not finite (a NaN would sample garbage silently). */
function finiteMatrix(m: Affine, what: string): Affine {
  if (!m.every(Number.isFinite)) throw new RangeError(`resample: the ${what} matrix [${m.join(', ')}] is not finite`);
  return m;
}

function checkSource(src: WarpSource): void {
  const { data, width, height, channels } = src;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0) || data.length !== width * height * channels) {
    throw new RangeError(`resample: ${data.length} bytes is not a ${width}×${height}×${channels} image`);
  }
}

/** Source index coordinates sampled for destination pixel (X, Y): the matrix with the half-pixel centres folded in. */
function indexMatrix(m: Affine, x0: number, y0: number): Affine {
  const [a, b, c, d, e, f] = finiteMatrix(m, 'sampling');
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
export function warpBicubic(src: WarpSource, inverse: Affine, x0: number, y0: number, outWidth: number, outHeight: number): Uint8Array {
  checkSource(src);
  if (!(Number.isInteger(outWidth) && Number.isInteger(outHeight) && outWidth > 0 && outHeight > 0)) {
    throw new RangeError(`warpBicubic: bad output size ${outWidth}×${outHeight}`);
  }
  const { width, height, channels } = src;
  const rowBytes = outWidth * channels;
  const out = new Uint8Array(outHeight * rowBytes);
  const rows = Math.min(stripRows(outWidth, channels), outHeight);
  const lanes = lanesFor(out.length, Math.ceil(outHeight / rows), rows * rowBytes);
  // An RGB source no larger than the output (align's magnified faces) is sampled from an f32 RGBX copy: a tap is
  // then one load and a multiply-add; a larger one would cost more to convert than its samples save.
  const pixels = width * height;
  const float = channels === 3 && pixels <= outWidth * outHeight && pixels <= FLOAT_SOURCE_MAX_PIXELS;
  const { rt, at } = layout([src.data.length, float ? pixels * 16 : 0, ...Array<number>(lanes).fill(rows * rowBytes)]);
  const [srcAt, floatAt, ...dstAt] = at as [number, number, ...number[]];
  bytesAt(rt, srcAt, src.data.length).set(src.data);
  if (float) rt.kernels.toFloatPixels(srcAt, pixels, floatAt);
  const [a, b, c, d, e, f] = indexMatrix(inverse, x0, y0);
  for (let y = 0; y < outHeight; y += lanes * rows) {
    const strips = dstAt.map((dst, i) => ({ dst, y0: Math.min(outHeight, y + i * rows), y1: Math.min(outHeight, y + (i + 1) * rows) })).filter((s) => s.y1 > s.y0);
    // The kernel writes destination rows [y0, y1) from `dst` on.
    runStrips(rt, strips.map((s) => ({ kernel: 'warp', args: [srcAt, float ? floatAt : 0, width, height, channels, s.dst, outWidth, s.y0, s.y1, a, b, c, d, e, f] })));
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

/** Runs of output pixels an enlargement may leave out, per output row (the kernels' SKIP_RUNS). */
export const ENLARGE_SKIP_RUNS = 4;

/**
 * The runs a source row of a strip can leave out in the horizontal pass: those of output rows j0..j1 (the rows
 * that take it as a tap) in common. Each run of row j0 is narrowed, row after row, to its overlap with the run of
 * that row it overlaps most (dropped when none does), so runs split by another row are kept in their larger part
 * only: fewer pixels left out, never more. Written into `into` at `at`, as enlargeCubic's `skip`.
 */
function commonRuns(skip: Int32Array, j0: number, j1: number, into: Int32Array, at: number): void {
  const perRow = ENLARGE_SKIP_RUNS * 2;
  let n = 0;
  for (let k = j0 * perRow; k < (j0 + 1) * perRow; k += 2) {
    let from = skip[k]!, to = skip[k + 1]!;
    for (let j = j0 + 1; j <= j1 && from < to; j++) {
      let bestFrom = 0, bestTo = 0;
      for (let q = j * perRow; q < (j + 1) * perRow; q += 2) {
        const f = Math.max(from, skip[q]!), t = Math.min(to, skip[q + 1]!);
        if (t - f > bestTo - bestFrom) {
          bestFrom = f;
          bestTo = t;
        }
      }
      from = bestFrom;
      to = bestTo;
    }
    if (from < to) {
      into[at + n] = from;
      into[at + n + 1] = to;
      n += 2;
    }
  }
  into.fill(0, at + n, at + perRow);
}

/** The kernel trusts the skipped runs: each must lie in its row, the non-empty ones in order. */
function checkSkip(skip: Int32Array, toWidth: number, toHeight: number): void {
  const fail = (): never => {
    throw new RangeError('enlargeCubic: the skipped runs do not fit the output');
  };
  if (skip.length !== toHeight * ENLARGE_SKIP_RUNS * 2) fail();
  for (let row = 0; row < toHeight; row++) {
    let end = 0;
    for (let k = row * ENLARGE_SKIP_RUNS * 2; k < (row + 1) * ENLARGE_SKIP_RUNS * 2; k += 2) {
      const from = skip[k]!, to = skip[k + 1]!;
      if (!(Number.isInteger(from) && from >= 0 && from <= to && to <= toWidth)) fail();
      if (from === to) continue;
      if (from < end) fail();
      end = to;
    }
  }
}

/**
 * Enlarges `src` to `toWidth`×`toHeight` with Catmull-Rom (libvips' bicubic) and exact pixel centres (source
 * x = (X + 0.5)·w/W − 0.5), edges replicated: separable, per strip a horizontal pass over the source rows it needs
 * into floats and a vertical pass to bytes.
 *
 * `skip` (ENLARGE_SKIP_RUNS runs [from, to) of output pixels per output row, sorted and disjoint, empty runs as
 * from = to) names pixels the caller overwrites whole: they are not computed and come back as zeros, every other
 * pixel as without it. The horizontal pass leaves out, in a source row, what every output row taking it as a tap
 * leaves out. `into`, when given, is the output's buffer (exactly its size): a buffer written before costs no page
 * faults, which a fresh one of a photo's size does (about 5 ms per 11.5 MB here, more than the kernel's copy out).
 */
export function enlargeCubic(src: WarpSource, toWidth: number, toHeight: number, skip?: Int32Array, into?: Uint8Array): Uint8Array {
  checkSource(src);
  const { width, height, channels } = src;
  if (!(Number.isInteger(toWidth) && Number.isInteger(toHeight) && toWidth >= width && toHeight >= height)) {
    throw new RangeError(`enlargeCubic: ${toWidth}×${toHeight} is not an enlargement of ${width}×${height}`);
  }
  const runsPerRow = ENLARGE_SKIP_RUNS * 2;
  if (skip !== undefined) checkSkip(skip, toWidth, toHeight);
  const h = enlargeTaps(width, toWidth);
  const v = enlargeTaps(height, toHeight);
  if (into !== undefined && into.length !== toWidth * toHeight * channels) throw new RangeError(`enlargeCubic: ${into.length} bytes cannot hold the ${toWidth}×${toHeight} output`);
  // Every byte of it is written below, the skipped runs included.
  const out = into ?? new Uint8Array(toWidth * toHeight * channels);
  const rows = Math.min(stripRows(toWidth, channels), toHeight);
  // Source rows one strip can need: its own span at this scale plus the kernel's reach on both sides.
  const maxSourceRows = Math.min(height, Math.ceil((rows * height) / toHeight) + 4);
  const rowBytes = width * channels, outRow = toWidth * channels;
  const lane = [maxSourceRows * rowBytes, maxSourceRows * outRow * 4, rows * outRow, rows * 16, rows * 16, maxSourceRows * runsPerRow * 4, rows * runsPerRow * 4];
  const lanes = lanesFor(out.length, Math.ceil(toHeight / rows), lane.reduce((sum, bytes) => sum + bytes, 0));
  const { rt, at } = layout([h.index.byteLength, h.weight.byteLength, ...Array.from({ length: lanes }, () => lane).flat()]);
  const [hIndexAt, hWeightAt] = at as [number, number];
  const buffer = rt.memory.buffer;
  new Int32Array(buffer, hIndexAt, h.index.length).set(h.index);
  new Float32Array(buffer, hWeightAt, h.weight.length).set(h.weight);
  for (let Y = 0; Y < toHeight; Y += lanes * rows) {
    const jobs: StripJob[] = [];
    const strips: { readonly dst: number; readonly y0: number; readonly y1: number }[] = [];
    for (let i = 0; i < lanes && Y + i * rows < toHeight; i++) {
      const [srcAt, midAt, dstAt, vIndexAt, vWeightAt, hSkipAt, vSkipAt] = at.slice(2 + i * lane.length, 2 + (i + 1) * lane.length) as [number, number, number, number, number, number, number];
      const y0 = Y + i * rows, y1 = Math.min(toHeight, y0 + rows);
      const first = v.index[y0 * 4]!, last = v.index[y1 * 4 - 1]!;
      const count = last - first + 1;
      bytesAt(rt, srcAt, count * rowBytes).set(src.data.subarray(first * rowBytes, (last + 1) * rowBytes));
      const stripIndex = v.index.subarray(y0 * 4, y1 * 4).map((r) => r - first);
      new Int32Array(buffer, vIndexAt, stripIndex.length).set(stripIndex);
      new Float32Array(buffer, vWeightAt, stripIndex.length).set(v.weight.subarray(y0 * 4, y1 * 4));
      const hSkip = new Int32Array(buffer, hSkipAt, count * runsPerRow).fill(0);
      const vSkip = new Int32Array(buffer, vSkipAt, (y1 - y0) * runsPerRow).fill(0);
      if (skip !== undefined) {
        vSkip.set(skip.subarray(y0 * runsPerRow, y1 * runsPerRow));
        // Output rows j0..j1 of the strip take source row r as a tap (the taps rise with the row).
        for (let r = 0, j0 = y0; r < count; r++) {
          while (v.index[j0 * 4 + 3]! - first < r) j0++;
          let j1 = j0;
          while (j1 + 1 < y1 && v.index[(j1 + 1) * 4]! - first <= r) j1++;
          commonRuns(skip, j0, j1, hSkip, r * runsPerRow);
        }
      }
      jobs.push({ kernel: 'enlarge', args: [srcAt, width, count, channels, midAt, toWidth, hIndexAt, hWeightAt, dstAt, y1 - y0, vIndexAt, vWeightAt, hSkipAt, vSkipAt] });
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
  readonly toSource: Affine;
  /** Output continuous → face space continuous, where `profile` is evaluated. */
  readonly toFace: Affine;
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
  checkSource(source);
  if (source.channels !== 3) throw new RangeError('pasteBicubic: the face must be RGB.');
  const { x0, y0, width: mw, height: mh } = rect;
  if (!(x0 >= 0 && y0 >= 0 && mw > 0 && mh > 0 && x0 + mw <= outWidth && (y0 + mh) * outWidth * 3 <= out.length)) {
    throw new RangeError(`pasteBicubic: the footprint ${mw}×${mh} at (${x0}, ${y0}) is not inside the output`);
  }
  // The kernel writes where the spans say: each must lie inside the footprint's row.
  if (spans.length !== mh * 4 || !spans.every((x) => x >= 0 && x <= mw)) throw new RangeError('pasteBicubic: the spans do not fit the footprint');
  const rowBytes = mw * 3;
  const rows = Math.min(stripRows(mw, 3), mh);
  const lane = [rows * rowBytes, rows * 16];
  const lanes = lanesFor(mh * rowBytes, Math.ceil(mh / rows), lane[0]! + lane[1]!);
  const pixels = source.width * source.height;
  const float = pixels <= FLOAT_SOURCE_MAX_PIXELS;
  const { rt, at } = layout([source.data.length, float ? pixels * 16 : 0, profile.length * 4, ...Array.from({ length: lanes }, () => lane).flat()]);
  const [faceAt, floatAt, profileAt] = at as [number, number, number];
  const buffer = rt.memory.buffer;
  bytesAt(rt, faceAt, source.data.length).set(source.data);
  // The face as f32 RGBX, once: a tap of the (magnified) face is then one load and one multiply-add.
  if (float) rt.kernels.toFloatPixels(faceAt, pixels, floatAt);
  new Float32Array(buffer, profileAt, profile.length).set(profile);
  const [sa, sb, sc, sd, se, sf] = indexMatrix(req.toSource, x0, y0);
  // The mask is evaluated at pixel centres in face space: the same matrix without the half-pixel index shift.
  const [ma, mb, mc, md, me, mf] = indexMatrix(req.toFace, x0, y0);
  for (let Y = 0; Y < mh; Y += lanes * rows) {
    const jobs: StripJob[] = [];
    const strips: { readonly strip: Uint8Array; readonly y0: number; readonly y1: number }[] = [];
    for (let i = 0; i < lanes && Y + i * rows < mh; i++) {
      const [stripAt, spansAt] = at.slice(3 + i * 2, 5 + i * 2) as [number, number];
      const s0 = Y + i * rows, s1 = Math.min(mh, s0 + rows);
      // The strip of the footprint is copied in, composited, and copied back: in, only the pixels blended over
      // (the opaque run is overwritten whole), back, only the row's span.
      const strip = bytesAt(rt, stripAt, (s1 - s0) * rowBytes);
      for (let j = s0; j < s1; j++) {
        const o = ((y0 + j) * outWidth + x0) * 3, at = (j - s0) * rowBytes;
        const from = spans[j * 4]! * 3, to = spans[j * 4 + 1]! * 3, opaqueFrom = spans[j * 4 + 2]! * 3, opaqueTo = spans[j * 4 + 3]! * 3;
        if (from >= to) continue;
        strip.set(out.subarray(o + from, o + Math.max(from, Math.min(opaqueFrom, to))), at + from);
        if (opaqueTo < to) strip.set(out.subarray(o + Math.max(from, opaqueTo), o + to), at + Math.max(from, opaqueTo));
      }
      new Int32Array(buffer, spansAt, (s1 - s0) * 4).set(spans.subarray(s0 * 4, s1 * 4));
      jobs.push({
        kernel: 'paste',
        args: [faceAt, float ? floatAt : 0, source.width, source.height, stripAt, mw, s0, s1, 0, spansAt, profileAt, profile.length, sa, sb, sc, sd, se, sf, ma, mb, mc + 0.5, md, me, mf + 0.5],
      });
      strips.push({ strip, y0: s0, y1: s1 });
    }
    runStrips(rt, jobs);
    for (const { strip, y0: s0, y1: s1 } of strips) {
      for (let j = s0; j < s1; j++) {
        const from = spans[j * 4]! * 3, to = spans[j * 4 + 1]! * 3;
        if (from < to) out.set(strip.subarray((j - s0) * rowBytes + from, (j - s0) * rowBytes + to), ((y0 + j) * outWidth + x0) * 3 + from);
      }
    }
  }
}
