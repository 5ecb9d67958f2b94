import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { compileKernels, kernelsModuleText, KERNELS_MODULE } from '../build-kernels.mjs';
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { ENLARGE_SKIP_RUNS, enlargeCubic, kernelStats, PARALLEL_MIN_BYTES, pasteBicubic, STRIP_BYTES, warpBicubic, type WarpSource } from './resample.js';
import type { Affine } from './types.js';

/** Catmull-Rom (Keys, a = −0.5), the kernels' interpolator, written the plain way as the reference. */
function keys(t: number): number {
  const x = Math.abs(t);
  return x < 1 ? 1.5 * x ** 3 - 2.5 * x ** 2 + 1 : x < 2 ? -0.5 * x ** 3 + 2.5 * x ** 2 - 4 * x + 2 : 0;
}

/** Reference bicubic sample at continuous (x, y) (centres at i + 0.5), edges replicated, unrounded. */
function referenceSample(src: WarpSource, x: number, y: number, c: number): number {
  const sx = x - 0.5, sy = y - 0.5;
  const ix = Math.floor(sx), iy = Math.floor(sy);
  let acc = 0;
  for (let j = iy - 1; j <= iy + 2; j++) {
    for (let i = ix - 1; i <= ix + 2; i++) {
      const ci = Math.min(src.width - 1, Math.max(0, i)), cj = Math.min(src.height - 1, Math.max(0, j));
      acc += keys(sx - i) * keys(sy - j) * src.data[(cj * src.width + ci) * src.channels + c]!;
    }
  }
  return acc;
}

const byte = (v: number): number => Math.min(255, Math.max(0, Math.round(v)));

/** A smooth pattern with detail in every channel (no flat areas that would hide a wrong tap). */
function pattern(width: number, height: number, channels: 1 | 3 | 4): WarpSource {
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        data[(y * width + x) * channels + c] = byte(128 + 100 * Math.sin(0.31 * x + 1.7 * c) * Math.cos(0.23 * y - c));
      }
    }
  }
  return { data, width, height, channels };
}

const similarity = (s: number, t: number, tx: number, ty: number): Affine => [s * Math.cos(t), -s * Math.sin(t), tx, s * Math.sin(t), s * Math.cos(t), ty];

describe('the committed WebAssembly module', () => {
  it('is what build-kernels.mjs compiles from kernels/resample.ts today', async () => {
    const fresh = kernelsModuleText(await compileKernels());
    // Stale after an edit of the kernels: run `node packages/pipeline/build-kernels.mjs`.
    expect(await readFile(KERNELS_MODULE, 'utf8')).toBe(fresh);
  }, 120_000);
});

describe('warpBicubic', () => {
  it.each([
    [1, 90, 0.6],
    [3, 90, 0.6],
    [4, 90, 0.6],
    [3, 300, 1.7],
  ] as const)('samples the pre-image of each pixel centre with Catmull-Rom, edges replicated (%i channels, %i px source at %f source px per pixel)', (channels, side, scale) => {
    // An RGB source no larger than the output is sampled from a float copy of it, a larger one from its bytes.
    const src = pattern(side, Math.round((side * 7) / 9), channels);
    // Rotated, enlarged (or shrunk), with part of the destination beyond the source, so the replicated edge is
    // exercised.
    const inverse = similarity(scale, 0.4, -12, 9);
    const x0 = 3, y0 = 5, w = 170, h = 150;
    const out = warpBicubic(src, inverse, x0, y0, w, h);
    let worst = 0;
    for (let j = 0; j < h; j++) {
      for (let i = 0; i < w; i++) {
        const X = x0 + i + 0.5, Y = y0 + j + 0.5;
        const x = inverse[0] * X + inverse[1] * Y + inverse[2], y = inverse[3] * X + inverse[4] * Y + inverse[5];
        for (let c = 0; c < channels; c++) worst = Math.max(worst, Math.abs(out[(j * w + i) * channels + c]! - byte(referenceSample(src, x, y, c))));
      }
    }
    // f32 arithmetic against f64: at most a rounding step apart.
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('gives the same pixels across strip boundaries as within a strip', () => {
    const src = pattern(64, 64, 3);
    const w = 700;
    const rowsPerStrip = Math.floor(STRIP_BYTES / (w * 3));
    // Three strips: over PARALLEL_MIN_BYTES, so they also run on helper threads once those have loaded.
    const h = 2 * rowsPerStrip + 7;
    expect(w * h * 3).toBeGreaterThanOrEqual(PARALLEL_MIN_BYTES);
    const inverse = similarity(0.09, 0.2, 3, -4);
    const out = warpBicubic(src, inverse, 0, 0, w, h);
    // The rows either side of each boundary against the reference.
    for (const j of [rowsPerStrip - 1, rowsPerStrip, 2 * rowsPerStrip - 1, 2 * rowsPerStrip, h - 1]) {
      for (let i = 0; i < w; i += 37) {
        const X = i + 0.5, Y = j + 0.5;
        const x = inverse[0] * X + inverse[1] * Y + inverse[2], y = inverse[3] * X + inverse[4] * Y + inverse[5];
        expect(Math.abs(out[(j * w + i) * 3]! - byte(referenceSample(src, x, y, 0))), `row ${j}`).toBeLessThanOrEqual(1);
      }
    }
  });

  it('runs a large call\'s strips on helper threads once they have loaded, one per further core', async () => {
    const src = pattern(64, 64, 3);
    const w = 700, h = 3 * Math.floor(STRIP_BYTES / (w * 3));
    const run = () => warpBicubic(src, similarity(0.09, 0.2, 3, -4), 0, 0, w, h);
    const first = run();
    const started = kernelStats().helperThreads;
    expect(started).toBe(Math.min(availableParallelism(), 3) - 1);
    // A helper takes strips once it has loaded (until then the caller runs them): wait for that, bounded.
    let before = kernelStats();
    for (let attempt = 0; attempt < 600 && started > 0; attempt++) {
      before = kernelStats();
      // Whoever ran the strips, the pixels are the same (compared as bytes: a deep equality of 4 MB is slow).
      expect(Buffer.from(run()).equals(Buffer.from(first))).toBe(true);
      if (kernelStats().stripsOnHelpers > before.stripsOnHelpers) break;
      await sleep(50);
    }
    if (started > 0) expect(kernelStats().stripsOnHelpers).toBeGreaterThan(before.stripsOnHelpers);
  });

  it('refuses a matrix that is not finite, and samples the replicated edge for coordinates far outside', () => {
    const src = pattern(16, 16, 4);
    expect(() => warpBicubic(src, [NaN, 0, 0, 0, 1, 0], 0, 0, 4, 4)).toThrow(RangeError);
    expect(() => warpBicubic(src, [1, 0, Infinity, 0, 1, 0], 0, 0, 4, 4)).toThrow(RangeError);
    // x about ±3·10⁹ and ±2³¹: beyond i32, where the tap indices would wrap without the kernel's clamp.
    for (const tx of [3e9, -3e9, 2 ** 31 - 2, -(2 ** 31)]) {
      const out = warpBicubic(src, [1, 0, tx, 0, 1, 0], 0, 0, 4, 4);
      const column = tx > 0 ? 15 : 0;
      for (let j = 0; j < 4; j++) {
        for (let c = 0; c < 4; c++) expect(out[(j * 4) * 4 + c], `tx ${tx}`).toBe(byte(referenceSample(src, column + 0.5, j + 0.5, c)));
      }
    }
  });
});

describe('enlargeCubic', () => {
  it.each([
    [1, 777],
    [3, 777],
    [4, 777],
    [3, 622],
    [4, 622],
  ] as const)('is the exact-centre Catmull-Rom enlargement, strip after strip (%i channels, 311 → %i wide)', (channels, W) => {
    const src = pattern(311, 257, channels);
    // Non-integer factors and the exact 2× (a path of its own across a row), and enough strips to run on helper
    // threads too.
    const H = Math.ceil((1.5 * PARALLEL_MIN_BYTES) / (W * channels));
    const out = enlargeCubic(src, W, H);
    expect(out.length).toBe(W * H * channels);
    let worst = 0;
    for (let Y = 0; Y < H; Y += 7) {
      for (let X = 0; X < W; X += 11) {
        const x = ((X + 0.5) * src.width) / W, y = ((Y + 0.5) * src.height) / H;
        for (let c = 0; c < channels; c++) worst = Math.max(worst, Math.abs(out[(Y * W + X) * channels + c]! - byte(referenceSample(src, x, y, c))));
      }
    }
    expect(worst).toBeLessThanOrEqual(1);
  });

  it.each([
    [1, 777],
    [3, 777],
    [3, 622],
  ] as const)('leaves the skipped runs out as zeros and gives every other pixel as the full enlargement (%i channels, 311 → %i wide)', (channels, W) => {
    const src = pattern(311, 257, channels);
    const H = Math.ceil((1.5 * PARALLEL_MIN_BYTES) / (W * channels));
    const perRow = ENLARGE_SKIP_RUNS * 2;
    // Rows with 0 to 4 runs of varied widths (1 pixel, touching the row's ends, long), changing from row to row,
    // so that a source row's taps see different runs in the rows above and below it.
    const skip = new Int32Array(H * perRow);
    for (let Y = 0; Y < H; Y++) {
      const runs = [[Y % 5, 40 + (Y % 13)], [100, 101], [200 + (Y % 17), 500 - (Y % 23)], [550 + (Y % 3), W]].slice(0, Y % 5);
      runs.forEach(([from, to], k) => skip.set([from!, to!], Y * perRow + k * 2));
    }
    const full = enlargeCubic(src, W, H);
    const holed = enlargeCubic(src, W, H, skip);
    let left = 0, differ = 0, notZero = 0;
    for (let Y = 0; Y < H; Y++) {
      for (let X = 0; X < W; X++) {
        const skipped = Array.from({ length: ENLARGE_SKIP_RUNS }, (_, k) => skip[Y * perRow + 2 * k]! <= X && X < skip[Y * perRow + 2 * k + 1]!).some(Boolean);
        left += skipped ? 1 : 0;
        for (let c = 0; c < channels; c++) {
          const i = (Y * W + X) * channels + c;
          if (skipped) notZero += holed[i] === 0 ? 0 : 1;
          else differ += Math.abs(holed[i]! - full[i]!) > 1 ? 1 : 0;
        }
      }
    }
    expect(left).toBeGreaterThan(W * H * 0.15);
    // A pixel computed from a float the horizontal pass left out would be garbage, far off (the same computation
    // otherwise, so the same bytes).
    expect(differ).toBe(0);
    expect(notZero).toBe(0);
  });

  it('refuses skipped runs that leave the row or overlap', () => {
    const src = pattern(20, 10, 3);
    const perRow = ENLARGE_SKIP_RUNS * 2;
    const runs = (...row: number[]): Int32Array => {
      const skip = new Int32Array(20 * perRow);
      skip.set(row, 5 * perRow);
      return skip;
    };
    expect(() => enlargeCubic(src, 40, 20, runs(30, 41))).toThrow(RangeError);
    expect(() => enlargeCubic(src, 40, 20, runs(10, 5))).toThrow(RangeError);
    expect(() => enlargeCubic(src, 40, 20, runs(10, 20, 15, 25))).toThrow(RangeError);
    expect(() => enlargeCubic(src, 40, 20, runs(10, 20).subarray(1))).toThrow(RangeError);
    expect(enlargeCubic(src, 40, 20, runs(10, 20, 20, 25, 0, 0, 30, 40)).length).toBe(40 * 20 * 3);
  });
});

describe('pasteBicubic', () => {
  it('refuses spans that leave the footprint and a footprint that leaves the output', () => {
    const face = pattern(8, 8, 3);
    const out = new Uint8Array(20 * 10 * 3);
    const base = { source: face, toSource: similarity(0.5, 0, 0, 0), toFace: similarity(0.5, 0, 0, 0), profile: new Float64Array(8).fill(1) };
    const rect = { x0: 2, y0: 1, width: 10, height: 5 };
    const spans = new Int32Array(5 * 4);
    expect(() => pasteBicubic(out, 20, { ...base, rect, spans: spans.map((_, i) => (i === 1 ? 11 : 0)) })).toThrow(RangeError);
    expect(() => pasteBicubic(out, 20, { ...base, rect, spans: spans.subarray(4) })).toThrow(RangeError);
    expect(() => pasteBicubic(out, 20, { ...base, rect: { ...rect, x0: 12 }, spans })).toThrow(RangeError);
    expect(() => pasteBicubic(out, 20, { ...base, rect: { ...rect, y0: 6 }, spans })).toThrow(RangeError);
  });

  it.each([64, 1100])('blends the sampled face over the non-zero spans with α = round(255·P(u)·P(v)), copies the opaque spans, leaves the rest (a %i² face)', (side) => {
    // A face of up to FLOAT_SOURCE_MAX_PIXELS is sampled from a float copy of it, a larger one from its bytes.
    const face = pattern(side, side, 3);
    const k = side / 64;
    const outWidth = 900, outHeight = 2000;
    const out = new Uint8Array(outWidth * outHeight * 3).fill(40);
    const before = out.slice();
    // Output → face: the face (at 64² a side) enlarged about 14× and rotated, covering several strips of the footprint.
    const toFace = similarity(k / 14, 0.3, 20 * k, -10 * k);
    // Taller than PARALLEL_MIN_BYTES: its strips run on helper threads too.
    const rect = { x0: 10, y0: 20, width: 880, height: 1950 };
    expect(rect.width * rect.height * 3).toBeGreaterThanOrEqual(PARALLEL_MIN_BYTES);
    const profile = Float64Array.from({ length: side }, (_, i) => Math.min(1, Math.min(i + 0.5, side - 0.5 - i) / (10 * k)));
    // Every row: a non-zero span and an opaque run inside it, chosen by hand (maskSpans computes real ones).
    const spans = new Int32Array(rect.height * 4);
    for (let y = 0; y < rect.height; y++) spans.set(y % 5 === 0 ? [0, 0, 0, 0] : [100, 700, 300, 400], y * 4);
    pasteBicubic(out, outWidth, { source: face, toSource: toFace, toFace, profile, rect, spans });
    const at = (t: number): number => {
      const ft = t - 0.5, i = Math.floor(ft), w = ft - i;
      const p = (k: number) => (k >= 0 && k < profile.length ? profile[k]! : 0);
      return p(i) + (p(i + 1) - p(i)) * w;
    };
    let worst = 0, blended = 0;
    for (let y = 0; y < rect.height; y += 13) {
      for (let x = 0; x < rect.width; x += 3) {
        const o = ((rect.y0 + y) * outWidth + rect.x0 + x) * 3;
        const X = rect.x0 + x + 0.5, Y = rect.y0 + y + 0.5;
        const u = toFace[0] * X + toFace[1] * Y + toFace[2], v = toFace[3] * X + toFace[4] * Y + toFace[5];
        const [from, to, opaqueFrom, opaqueTo] = spans.subarray(y * 4, y * 4 + 4);
        const inside = x >= from! && x < to!;
        const alpha = !inside ? 0 : x >= opaqueFrom! && x < opaqueTo! ? 255 : Math.round(255 * at(u) * at(v));
        for (let c = 0; c < 3; c++) {
          const sampled = byte(referenceSample(face, u, v, c));
          const expected = alpha <= 0 ? before[o + c]! : byte((alpha / 255) * sampled + (1 - alpha / 255) * before[o + c]!);
          worst = Math.max(worst, Math.abs(out[o + c]! - expected));
        }
        if (alpha > 0 && alpha < 255) blended++;
      }
    }
    expect(blended).toBeGreaterThan(1000);
    expect(worst).toBeLessThanOrEqual(1);
    // Outside the footprint nothing changes.
    expect(out.subarray(0, rect.y0 * outWidth * 3).every((v) => v === 40)).toBe(true);
  });
});
