import type { Affine, Landmarks5, Point, RgbImage } from './types.js';

/**
 * facexlib's FFHQ-512 five-point template, as facexlib writes it: in OpenCV's convention, where pixel i's centre
 * is at i. `templateForSize` moves it into Revive's convention (centre at i+0.5) before fitting.
 */
export const FFHQ_512_TEMPLATE: Landmarks5 = [
  [192.98138, 239.94708],
  [318.90277, 240.1936],
  [256.63416, 314.01935],
  [201.26117, 371.41043],
  [313.08905, 371.15118],
];

/**
 * The colour facexlib fills the outside of the photo with when it crops a face near an edge. facexlib reads
 * photos with cv2 (BGR) and passes borderValue=(135, 133, 132), so blue is 135 and red 132: in RGB that is
 * (132, 133, 135), not the tuple as written.
 */
export const CROP_BORDER_RGB = [132, 133, 135] as const;

/** The crop size the FFHQ template is written for. */
const TEMPLATE_SIZE = 512;

/**
 * The FFHQ template for a `size`×`size` crop, in Revive's pixel-centre convention. Adding 0.5 converts from
 * OpenCV's convention; scaling after the shift keeps the points where a resize of the 512 crop would put them.
 */
export function templateForSize(size: number): Landmarks5 {
  const k = size / TEMPLATE_SIZE;
  const t = FFHQ_512_TEMPLATE.map(([x, y]): Point => [(x + 0.5) * k, (y + 0.5) * k]);
  return t as unknown as Landmarks5;
}

export type SimilarityMethod = 'least-squares' | 'lmeds';
/** Least squares is exact for clean landmarks; LMEDS (facexlib's choice) ignores one badly placed point. */
export const DEFAULT_SIMILARITY_METHOD: SimilarityMethod = 'least-squares';

export interface SimilarityOptions {
  /** @default DEFAULT_SIMILARITY_METHOD */
  readonly method?: SimilarityMethod;
}

/** Closed-form least-squares similarity (Umeyama in 2-D: rotation, uniform scale, translation) over `indices`. */
function fitLeastSquares(from: readonly Point[], to: readonly Point[], indices: readonly number[]): Affine {
  let fx = 0, fy = 0, tx = 0, ty = 0;
  for (const i of indices) {
    fx += from[i]![0]; fy += from[i]![1];
    tx += to[i]![0]; ty += to[i]![1];
  }
  const n = indices.length;
  fx /= n; fy /= n; tx /= n; ty /= n;
  let num1 = 0, num2 = 0, den = 0;
  for (const i of indices) {
    const px = from[i]![0] - fx, py = from[i]![1] - fy;
    const qx = to[i]![0] - tx, qy = to[i]![1] - ty;
    num1 += px * qx + py * qy;
    num2 += px * qy - py * qx;
    den += px * px + py * py;
  }
  if (!(den > 0)) throw new RangeError('estimateSimilarity: the source points coincide.');
  const a = num1 / den, b = num2 / den;
  return [a, -b, tx - (a * fx - b * fy), b, a, ty - (b * fx + a * fy)];
}

function squaredResiduals(m: Affine, from: readonly Point[], to: readonly Point[]): number[] {
  return from.map((p, i) => {
    const [x, y] = applyAffine(m, p);
    const q = to[i]!;
    return (x - q[0]) ** 2 + (y - q[1]) ** 2;
  });
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Least median of squares: with five landmarks every two-point minimal model can be tried (10 of them), so
 * unlike OpenCV's random sampling it is deterministic. The winner is refitted by least squares on its inliers
 * (residual within 2.5 robust standard deviations, Rousseeuw's rule).
 */
function fitLmeds(from: readonly Point[], to: readonly Point[]): Affine {
  const n = from.length;
  let best: Affine | undefined;
  let bestMedian = Infinity;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const dx = from[j]![0] - from[i]![0], dy = from[j]![1] - from[i]![1];
      if (dx * dx + dy * dy < 1e-12) continue;
      const m = fitLeastSquares(from, to, [i, j]);
      const med = median(squaredResiduals(m, from, to));
      if (med < bestMedian) {
        bestMedian = med;
        best = m;
      }
    }
  }
  if (best === undefined) throw new RangeError('estimateSimilarity: the source points coincide.');
  const sigma = 1.4826 * (1 + 5 / Math.max(n - 2, 1)) * Math.sqrt(bestMedian);
  const limit = Math.max((2.5 * sigma) ** 2, 1e-12);
  const inliers = squaredResiduals(best, from, to).flatMap((r, i) => (r <= limit ? [i] : []));
  return inliers.length >= 2 ? fitLeastSquares(from, to, inliers) : best;
}

/** The similarity transform (4 degrees of freedom) that best maps `from` onto `to`. */
export function estimateSimilarity(from: readonly Point[], to: readonly Point[], options?: SimilarityOptions): Affine {
  if (from.length !== to.length || from.length < 2) {
    throw new RangeError(`estimateSimilarity: need two or more point pairs, got ${from.length} and ${to.length}.`);
  }
  const method = options?.method ?? DEFAULT_SIMILARITY_METHOD;
  if (method === 'lmeds' && from.length > 2) return fitLmeds(from, to);
  return fitLeastSquares(from, to, from.map((_, i) => i));
}

export function applyAffine(m: Affine, p: Point): Point {
  return [m[0] * p[0] + m[1] * p[1] + m[2], m[3] * p[0] + m[4] * p[1] + m[5]];
}

export function invertAffine(m: Affine): Affine {
  const [a, b, c, d, e, f] = m;
  const det = a * e - b * d;
  if (!(Math.abs(det) > 1e-300)) throw new RangeError('invertAffine: the matrix is singular.');
  const ia = e / det, ib = -b / det, id = -d / det, ie = a / det;
  return [ia, ib, -(ia * c + ib * f), id, ie, -(id * c + ie * f)];
}

/** The factor by which a similarity transform scales lengths. */
export function affineScale(m: Affine): number {
  return Math.sqrt(Math.abs(m[0] * m[4] - m[1] * m[3]));
}

// ---------------------------------------------------------------------------------------------------------------
// Resampling. Both the forward warp (photo → crop) and the inverse one (crop → upscaled photo) sample with a
// separable kernel centred on the exact pre-image of each pixel centre. When the warp shrinks, the kernel is
// stretched by 1/scale (antialiasing); OpenCV's warpAffine does not do this, which is much of facexlib's round-trip loss.

export type WarpKernel = 'lanczos3' | 'cubic' | 'linear';
/** Lanczos-3 matches sharp's background upscale, so a round trip through the crop and back lands on it. */
export const DEFAULT_WARP_KERNEL: WarpKernel = 'lanczos3';

/** A sampled kernel: `lut[round(|t| * LUT_RESOLUTION)]` is its value at t, for |t| < radius. */
interface KernelTable {
  readonly radius: number;
  readonly lut: Float64Array;
}
const LUT_RESOLUTION = 1024;
const kernelTables = new Map<WarpKernel, KernelTable>();

function kernelFunction(kernel: WarpKernel): { radius: number; fn: (t: number) => number } {
  switch (kernel) {
    case 'linear':
      return { radius: 1, fn: (t) => Math.max(0, 1 - t) };
    case 'cubic':
      // Keys' cubic convolution with a = -0.5 (the interpolating cubic; OpenCV uses -0.75).
      return {
        radius: 2,
        fn: (t) => (t < 1 ? 1.5 * t ** 3 - 2.5 * t ** 2 + 1 : t < 2 ? -0.5 * t ** 3 + 2.5 * t ** 2 - 4 * t + 2 : 0),
      };
    case 'lanczos3':
      return {
        radius: 3,
        fn: (t) => {
          if (t < 1e-9) return 1;
          if (t >= 3) return 0;
          const pt = Math.PI * t;
          return (3 * Math.sin(pt) * Math.sin(pt / 3)) / (pt * pt);
        },
      };
  }
}

function kernelTable(kernel: WarpKernel): KernelTable {
  let table = kernelTables.get(kernel);
  if (table === undefined) {
    const { radius, fn } = kernelFunction(kernel);
    const lut = new Float64Array(radius * LUT_RESOLUTION + 2);
    for (let i = 0; i < lut.length; i++) lut[i] = fn(i / LUT_RESOLUTION);
    table = { radius, lut };
    kernelTables.set(kernel, table);
  }
  return table;
}

/** An 8-bit interleaved raster with `channels` samples per pixel. */
interface Raster {
  readonly width: number;
  readonly height: number;
  readonly channels: number;
  readonly data: Uint8Array;
}

/**
 * Computes normalised 1-D weights for a kernel centred at index-space position `centre` with stretch `stretch`,
 * into `weights`; returns the first tap index (the count is `tapCount`, kept out of the return value so the hot
 * loop allocates nothing). Taps are not clamped here.
 */
let tapCount = 0;
function taps(table: KernelTable, centre: number, stretch: number, weights: Float64Array): number {
  const support = table.radius * stretch;
  const first = Math.ceil(centre - support);
  const last = Math.floor(centre + support);
  const step = LUT_RESOLUTION / stretch;
  const lut = table.lut;
  let count = 0;
  let sum = 0;
  for (let i = first; i <= last; i++) {
    const t = (i - centre) * step;
    const w = lut[(t < 0 ? -t : t) + 0.5 | 0] ?? 0;
    weights[count++] = w;
    sum += w;
  }
  if (sum !== 0) for (let k = 0; k < count; k++) weights[k]! /= sum;
  tapCount = count;
  return first;
}

/** Decides whether destination pixel (X, Y), whose source point in continuous coordinates is (x, y), is sampled. */
export type SampleFilter = (x: number, y: number, X: number, Y: number) => boolean;

/**
 * Samples `src` at the pre-images of destination pixel centres. For destination pixel (X, Y) of the rectangle
 * [x0, x0+w) × [y0, y0+h), the source point is `inverse` applied to (X+0.5, Y+0.5); the kernel is centred on
 * it in index space (minus 0.5) and stretched by `stretch`. Taps outside `src` are clamped to its edge
 * (replicate), and taps rejected by `tapValid` (index-space tap coordinates) are dropped with the weights
 * renormalised. `write` receives each sampled colour.
 */
export interface SampleRequest {
  readonly src: Raster;
  readonly inverse: Affine;
  readonly x0: number;
  readonly y0: number;
  readonly width: number;
  readonly height: number;
  readonly kernel: WarpKernel;
  /** ≥ 1: widens the kernel when the destination is smaller than the source. */
  readonly stretch: number;
  /** Skips destination pixels (no write) for which it returns false. */
  readonly include?: SampleFilter;
  /**
   * One byte per source pixel, non-zero where the pixel may be used. Must describe a convex region: a pixel
   * whose tap window has four valid corners takes the fast path.
   */
  readonly tapValid?: Uint8Array;
  /** Receives the colour of destination pixel (X, Y) as channel values 0..255 (not rounded, may overshoot). */
  readonly write: (X: number, Y: number, c0: number, c1: number, c2: number) => void;
}

export function sampleWarp(req: SampleRequest): void {
  const { src, inverse, kernel, stretch, include, tapValid, write } = req;
  const table = kernelTable(kernel);
  const maxTaps = Math.ceil(2 * table.radius * stretch) + 2;
  const wx = new Float64Array(maxTaps);
  const wy = new Float64Array(maxTaps);
  const colIndex = new Int32Array(maxTaps);
  const sw = src.width, sh = src.height, ch = src.channels, data = src.data;
  const stride = sw * ch;
  const [a, b, c, d, e, f] = inverse;
  for (let Y = req.y0; Y < req.y0 + req.height; Y++) {
    const cy = Y + 0.5;
    for (let X = req.x0; X < req.x0 + req.width; X++) {
      const cx = X + 0.5;
      const px = a * cx + b * cy + c;
      const py = d * cx + e * cy + f;
      if (include !== undefined && !include(px, py, X, Y)) continue;
      const tx = { first: taps(table, px - 0.5, stretch, wx), count: tapCount };
      const ty = { first: taps(table, py - 0.5, stretch, wy), count: tapCount };
      for (let k = 0; k < tx.count; k++) {
        const i = tx.first + k;
        colIndex[k] = (i < 0 ? 0 : i >= sw ? sw - 1 : i) * ch;
      }
      let r = 0, g = 0, bl = 0;
      let allValid = tapValid === undefined;
      if (tapValid !== undefined) {
        const i0 = tx.first < 0 ? 0 : tx.first >= sw ? sw - 1 : tx.first;
        const i1 = tx.first + tx.count - 1 < 0 ? 0 : tx.first + tx.count - 1 >= sw ? sw - 1 : tx.first + tx.count - 1;
        const j0 = ty.first < 0 ? 0 : ty.first >= sh ? sh - 1 : ty.first;
        const j1 = ty.first + ty.count - 1 < 0 ? 0 : ty.first + ty.count - 1 >= sh ? sh - 1 : ty.first + ty.count - 1;
        allValid =
          tapValid[j0 * sw + i0] !== 0 && tapValid[j0 * sw + i1] !== 0 && tapValid[j1 * sw + i0] !== 0 && tapValid[j1 * sw + i1] !== 0;
      }
      if (allValid) {
        for (let m = 0; m < ty.count; m++) {
          const j = ty.first + m;
          const row = (j < 0 ? 0 : j >= sh ? sh - 1 : j) * stride;
          let rr = 0, gg = 0, bb = 0;
          for (let k = 0; k < tx.count; k++) {
            const o = row + colIndex[k]!;
            const w = wx[k]!;
            rr += w * data[o]!;
            gg += w * data[o + 1]!;
            bb += w * data[o + 2]!;
          }
          const w = wy[m]!;
          r += w * rr;
          g += w * gg;
          bl += w * bb;
        }
      } else {
        let total = 0;
        for (let m = 0; m < ty.count; m++) {
          const j = ty.first + m;
          const jc = j < 0 ? 0 : j >= sh ? sh - 1 : j;
          const row = jc * stride;
          for (let k = 0; k < tx.count; k++) {
            const i = tx.first + k;
            if (tapValid![jc * sw + (i < 0 ? 0 : i >= sw ? sw - 1 : i)] === 0) continue;
            const o = row + colIndex[k]!;
            const w = wx[k]! * wy[m]!;
            total += w;
            r += w * data[o]!;
            g += w * data[o + 1]!;
            bl += w * data[o + 2]!;
          }
        }
        if (total <= 1e-6) continue;
        r /= total;
        g /= total;
        bl /= total;
      }
      write(X, Y, r, g, bl);
    }
  }
}

/** Rounds and clamps a sampled channel value to a byte. */
export function toByte(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
}

/**
 * Shrinks `src` by an integer factor with a box filter (area average), over the source rectangle
 * [rx, rx + rw) × [ry, ry + rh). Shrunk pixel (I, J) covers source pixels [rx + kI, rx + kI + k); blocks cut by
 * the rectangle's edge average what they hold.
 */
function boxShrink(src: Raster, factor: number, rx: number, ry: number, rw: number, rh: number): Raster {
  const width = Math.ceil(rw / factor), height = Math.ceil(rh / factor), ch = src.channels;
  const sums = new Float64Array(width * ch);
  const counts = new Float64Array(width);
  const out = new Uint8Array(width * height * ch);
  for (let J = 0; J < height; J++) {
    sums.fill(0);
    counts.fill(0);
    const yEnd = Math.min(ry + (J + 1) * factor, ry + rh);
    for (let y = ry + J * factor; y < yEnd; y++) {
      let o = (y * src.width + rx) * ch;
      for (let x = 0; x < rw; x++, o += ch) {
        const I = (x / factor) | 0;
        counts[I]! += 1;
        for (let c = 0; c < ch; c++) sums[I * ch + c]! += src.data[o + c]!;
      }
    }
    for (let I = 0; I < width; I++) {
      const n = counts[I]!;
      for (let c = 0; c < ch; c++) out[(J * width + I) * ch + c] = Math.round(sums[I * ch + c]! / n);
    }
  }
  return { width, height, channels: ch, data: out };
}

/** Beyond this stretch the source is first box-shrunk by an integer factor, so a pixel never needs hundreds of taps. */
const MAX_DIRECT_STRETCH = 2;

export interface WarpOptions {
  /** @default DEFAULT_WARP_KERNEL */
  readonly kernel?: WarpKernel;
  /** Colour for crop pixels whose pre-image lies outside the photo. @default CROP_BORDER_RGB */
  readonly borderRgb?: readonly [number, number, number];
}

/**
 * Warps `image` by `affine` (image → output coordinates) into a `width`×`height` RGB image. Output pixels whose
 * pre-image falls outside the photo get `borderRgb`; those inside sample with edge-replicated taps, so the border
 * colour never mixes into pixels of the photo.
 */
export function warpAffine(image: RgbImage, affine: Affine, width: number, height: number, options?: WarpOptions): RgbImage {
  const kernel = options?.kernel ?? DEFAULT_WARP_KERNEL;
  const border = options?.borderRgb ?? CROP_BORDER_RGB;
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    out[i * 3] = border[0];
    out[i * 3 + 1] = border[1];
    out[i * 3 + 2] = border[2];
  }
  const scale = affineScale(affine);
  let stretch = Math.max(1, 1 / scale);
  let inverse = invertAffine(affine);
  let src: Raster = { width: image.width, height: image.height, channels: 3, data: image.data };
  const W = image.width, H = image.height;
  const include: SampleFilter = (x, y) => x >= 0 && y >= 0 && x <= W && y <= H;
  if (stretch > MAX_DIRECT_STRETCH) {
    const factor = Math.floor(stretch / (MAX_DIRECT_STRETCH / 2));
    // Only the footprint of the output (plus the kernel's reach) is shrunk.
    const corners = [[0, 0], [width, 0], [0, height], [width, height]].map((p) => applyAffine(inverse, p as unknown as Point));
    const reach = (kernelTable(kernel).radius * stretch + factor) | 0;
    const rx = Math.max(0, Math.floor(Math.min(...corners.map((p) => p[0]))) - reach);
    const ry = Math.max(0, Math.floor(Math.min(...corners.map((p) => p[1]))) - reach);
    const rx1 = Math.min(W, Math.ceil(Math.max(...corners.map((p) => p[0]))) + reach);
    const ry1 = Math.min(H, Math.ceil(Math.max(...corners.map((p) => p[1]))) + reach);
    if (rx1 <= rx || ry1 <= ry) return { width, height, data: out };
    src = boxShrink(src, factor, rx, ry, rx1 - rx, ry1 - ry);
    // Shrunk coordinates are (p - r) / factor; the inclusion test still uses full-resolution coordinates.
    const [a, b, c, d, e, f] = inverse;
    inverse = [a / factor, b / factor, (c - rx) / factor, d / factor, e / factor, (f - ry) / factor];
    stretch /= factor;
    const shrunkInclude: SampleFilter = (x, y, X, Y) => include(x * factor + rx, y * factor + ry, X, Y);
    sampleWarp({ src, inverse, x0: 0, y0: 0, width, height, kernel, stretch, include: shrunkInclude, write: writer(out, width) });
    return { width, height, data: out };
  }
  sampleWarp({ src, inverse, x0: 0, y0: 0, width, height, kernel, stretch, include, write: writer(out, width) });
  return { width, height, data: out };
}

function writer(out: Uint8Array, width: number): SampleRequest['write'] {
  return (X, Y, r, g, b) => {
    const o = (Y * width + X) * 3;
    out[o] = toByte(r);
    out[o + 1] = toByte(g);
    out[o + 2] = toByte(b);
  };
}

export interface AlignedFace {
  /** size×size crop. */
  readonly crop: RgbImage;
  /** Maps input-image coordinates to crop coordinates. */
  readonly affine: Affine;
}

export interface AlignOptions extends SimilarityOptions, WarpOptions {}

/** Stage 3: similarity transform from the landmarks to the template scaled to `size`, then the warp. */
export function alignFace(image: RgbImage, landmarks: Landmarks5, size: number, options?: AlignOptions): AlignedFace {
  const affine = estimateSimilarity(landmarks, templateForSize(size), options);
  return { crop: warpAffine(image, affine, size, size, options), affine };
}
