// The per-pixel inner loops of align, paste and the background upscale, in WebAssembly with SIMD (kernels/resample.ts,
// AssemblyScript, embedded by build-kernels.mjs). Hand-written because the library path was measured and lost:
// libvips' affine (sharp) costs 2–3 ms of fixed overhead per call and about 40 ns per output pixel per thread, and
// computes the whole rotated bounding box of its input (42 MP for the 25 MP footprint of a close-up's face); the
// kernels here sample only the pixels asked for (see the README's speed section for the figures).
//
// Each call is synchronous: the inputs are copied into the module's memory, the kernel runs, the output is copied
// out. Large outputs run in strips of rows so the module's memory stays a few MiB whatever the photo's size. One
// instance per thread (module state is per isolate), so pipeline threads never share it.
import { RESAMPLE_WASM_BASE64 } from './resample-wasm.js';

/** Continuous-coordinate affine [a, b, c, d, e, f]: (x, y) → (a·x + b·y + c, d·x + e·y + f), pixel centres at i + 0.5. */
export type Matrix = readonly [number, number, number, number, number, number];

/** The part of the WebAssembly API used here (this project's TypeScript libs carry no DOM or WebAssembly types). */
interface WasmApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object, imports: object) => { readonly exports: object };
}

interface Kernels {
  readonly memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  heapBase(): number;
  warp(src: number, sw: number, sh: number, ch: number, dst: number, dw: number, y0: number, y1: number,
    a: number, b: number, c: number, d: number, e: number, f: number): void;
  paste(face: number, fw: number, fh: number, out: number, ow: number, y0: number, y1: number, x0: number, spans: number,
    profile: number, n: number,
    sa: number, sb: number, sc: number, sd: number, se: number, sf: number,
    ma: number, mb: number, mc: number, md: number, me: number, mf: number): void;
  enlargeRows(src: number, sw: number, rows: number, ch: number, dst: number, dw: number, idx: number, wt: number): void;
  enlargeColumns(src: number, n: number, dst: number, rows: number, idx: number, wt: number): void;
}

/**
 * Bytes of output a strip holds: small enough that the module's memory stays a few MiB (it never shrinks), large
 * enough that the per-strip copies and calls are noise. @default 2 MiB
 */
export const STRIP_BYTES = 2 * 2 ** 20;
/** Bytes past every buffer: kernels read and write a 3-byte pixel as 4 bytes and float rows as 16-byte lanes. */
const PAD_BYTES = 16;
const WASM_PAGE_BYTES = 65_536;

let instance: Kernels | undefined;

function kernels(): Kernels {
  if (instance === undefined) {
    const wasm = (globalThis as unknown as { readonly WebAssembly: WasmApi }).WebAssembly;
    const module = new wasm.Module(Buffer.from(RESAMPLE_WASM_BASE64, 'base64'));
    const abort = (): never => {
      throw new Error('resample kernel aborted');
    };
    instance = new wasm.Instance(module, { env: { abort } }).exports as Kernels;
  }
  return instance;
}

/** Lays out buffers of the given byte sizes (16-byte aligned, padded) from the heap base; returns their offsets. */
function layout(sizes: readonly number[]): { readonly k: Kernels; readonly at: number[] } {
  const k = kernels();
  const at: number[] = [];
  let p = (k.heapBase() + 15) & ~15;
  for (const size of sizes) {
    at.push(p);
    p += (size + PAD_BYTES + 15) & ~15;
  }
  const have = k.memory.buffer.byteLength;
  if (p > have) k.memory.grow(Math.ceil((p - have) / WASM_PAGE_BYTES));
  return { k, at };
}

const bytesAt = (k: Kernels, at: number, length: number): Uint8Array => new Uint8Array(k.memory.buffer, at, length);

/** Rows of `channels`-byte pixels, `width` wide, per strip. */
function stripRows(width: number, channels: number): number {
  return Math.max(1, Math.floor(STRIP_BYTES / (width * channels)));
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
  const out = new Uint8Array(outWidth * outHeight * channels);
  const rows = stripRows(outWidth, channels);
  const { k, at } = layout([src.data.length, Math.min(rows, outHeight) * outWidth * channels]);
  const [srcAt, dstAt] = at as [number, number];
  bytesAt(k, srcAt, src.data.length).set(src.data);
  const [a, b, c, d, e, f] = indexMatrix(inverse, x0, y0);
  for (let y = 0; y < outHeight; y += rows) {
    const y1 = Math.min(outHeight, y + rows);
    // Strip row 0 is destination row y: the kernel's rows [y, y1) are written from dstAt on.
    k.warp(srcAt, width, height, channels, dstAt, outWidth, y, y1, a, b, c, d, e, f);
    out.set(bytesAt(k, dstAt, (y1 - y) * outWidth * channels), y * outWidth * channels);
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
 * x = (X + 0.5)·w/W − 0.5), edges replicated: separable, a horizontal pass into floats and a vertical pass to bytes,
 * strip by strip.
 */
export function enlargeCubic(src: WarpSource, toWidth: number, toHeight: number): Uint8Array {
  const { width, height, channels } = src;
  const h = enlargeTaps(width, toWidth);
  const v = enlargeTaps(height, toHeight);
  const out = new Uint8Array(toWidth * toHeight * channels);
  const rows = stripRows(toWidth, channels);
  // Source rows one strip can need: its own span at this scale plus the kernel's reach on both sides.
  const maxSourceRows = Math.min(height, Math.ceil((rows * height) / toHeight) + 4);
  const rowBytes = width * channels, floatRow = toWidth * channels;
  const { k, at } = layout([maxSourceRows * rowBytes, maxSourceRows * floatRow * 4, Math.min(rows, toHeight) * floatRow, h.index.byteLength, h.weight.byteLength, rows * 16, rows * 16]);
  const [srcAt, midAt, dstAt, hIndexAt, hWeightAt, vIndexAt, vWeightAt] = at as [number, number, number, number, number, number, number];
  new Int32Array(k.memory.buffer, hIndexAt, h.index.length).set(h.index);
  new Float32Array(k.memory.buffer, hWeightAt, h.weight.length).set(h.weight);
  for (let Y = 0; Y < toHeight; Y += rows) {
    const Y1 = Math.min(toHeight, Y + rows);
    const first = v.index[Y * 4]!, last = v.index[Y1 * 4 - 1]!;
    const count = last - first + 1;
    bytesAt(k, srcAt, count * rowBytes).set(src.data.subarray(first * rowBytes, (last + 1) * rowBytes));
    k.enlargeRows(srcAt, width, count, channels, midAt, toWidth, hIndexAt, hWeightAt);
    const stripIndex = v.index.subarray(Y * 4, Y1 * 4).map((i) => i - first);
    new Int32Array(k.memory.buffer, vIndexAt, stripIndex.length).set(stripIndex);
    new Float32Array(k.memory.buffer, vWeightAt, stripIndex.length).set(v.weight.subarray(Y * 4, Y1 * 4));
    k.enlargeColumns(midAt, floatRow, dstAt, Y1 - Y, vIndexAt, vWeightAt);
    out.set(bytesAt(k, dstAt, (Y1 - Y) * floatRow), Y * floatRow);
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
  const rows = stripRows(mw, 3);
  const { k, at } = layout([source.data.length, Math.min(rows, mh) * mw * 3, profile.length * 4, Math.min(rows, mh) * 16]);
  const [faceAt, stripAt, profileAt, spansAt] = at as [number, number, number, number];
  bytesAt(k, faceAt, source.data.length).set(source.data);
  new Float32Array(k.memory.buffer, profileAt, profile.length).set(profile);
  const [sa, sb, sc, sd, se, sf] = indexMatrix(req.toSource, x0, y0);
  // The mask is evaluated at pixel centres in face space (no half-pixel shift: the profile takes continuous u).
  const [ma, mb, mc, md, me, mf] = indexMatrix(req.toFace, x0, y0);
  const strip = bytesAt(k, stripAt, Math.min(rows, mh) * mw * 3);
  for (let y = 0; y < mh; y += rows) {
    const y1 = Math.min(mh, y + rows);
    // Copy the strip of the footprint in, composite, copy it back.
    for (let j = y; j < y1; j++) {
      const o = ((y0 + j) * outWidth + x0) * 3;
      strip.set(out.subarray(o, o + mw * 3), (j - y) * mw * 3);
    }
    new Int32Array(k.memory.buffer, spansAt, (y1 - y) * 4).set(spans.subarray(y * 4, y1 * 4));
    k.paste(faceAt, source.width, source.height, stripAt, mw, y, y1, 0, spansAt, profileAt, profile.length,
      sa, sb, sc, sd, se, sf, ma, mb, mc + 0.5, md, me, mf + 0.5);
    for (let j = y; j < y1; j++) {
      const o = ((y0 + j) * outWidth + x0) * 3;
      out.set(strip.subarray((j - y) * mw * 3, (j - y + 1) * mw * 3), o);
    }
  }
}
