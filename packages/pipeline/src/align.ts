import { warpRaw } from './image.js';
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
// Resampling runs in the WebAssembly kernels (image.ts `warpRaw`, resample.ts): the source region under the crop
// is copied, reduced first when the warp shrinks (antialiasing, which OpenCV's warpAffine lacks), and warped with
// Catmull-Rom bicubic and exact pixel centres (figures in the README's speed section).

export interface WarpOptions {
  /** Colour for crop pixels whose pre-image lies outside the photo. @default CROP_BORDER_RGB */
  readonly borderRgb?: readonly [number, number, number];
}

/**
 * Warps `image` by `affine` (image → output coordinates) into a `width`×`height` RGB image. Output pixels whose
 * pre-image falls outside the photo get `borderRgb`; those inside sample with edge-replicated taps, so the border
 * colour never mixes into pixels of the photo.
 */
export async function warpAffine(
  image: RgbImage,
  affine: Affine,
  width: number,
  height: number,
  options?: WarpOptions,
): Promise<RgbImage> {
  const border = options?.borderRgb ?? CROP_BORDER_RGB;
  const inverse = invertAffine(affine);
  const W = image.width, H = image.height;
  const data = await warpRaw({
    data: image.data,
    width: W,
    height: H,
    channels: 3,
    inverse,
    x0: 0,
    y0: 0,
    outWidth: width,
    outHeight: height,
  });
  const inside = (p: Point): boolean => p[0] >= 0 && p[1] >= 0 && p[0] <= W && p[1] <= H;
  const corners: Point[] = [[0, 0], [width, 0], [0, height], [width, height]];
  if (corners.every((p) => inside(applyAffine(inverse, p)))) return { width, height, data };
  // Part of the crop lies outside the photo: those pixels take the border colour (one multiply-add per pixel).
  const [a, b, c, d, e, f] = inverse;
  for (let Y = 0; Y < height; Y++) {
    for (let X = 0; X < width; X++) {
      const x = a * (X + 0.5) + b * (Y + 0.5) + c;
      const y = d * (X + 0.5) + e * (Y + 0.5) + f;
      if (x >= 0 && y >= 0 && x <= W && y <= H) continue;
      const o = (Y * width + X) * 3;
      data[o] = border[0];
      data[o + 1] = border[1];
      data[o + 2] = border[2];
    }
  }
  return { width, height, data };
}

export interface AlignedFace {
  /** size×size crop. */
  readonly crop: RgbImage;
  /** Maps input-image coordinates to crop coordinates. */
  readonly affine: Affine;
}

export interface AlignOptions extends SimilarityOptions, WarpOptions {}

/** Stage 3: similarity transform from the landmarks to the template scaled to `size`, then the warp. */
export async function alignFace(image: RgbImage, landmarks: Landmarks5, size: number, options?: AlignOptions): Promise<AlignedFace> {
  const affine = estimateSimilarity(landmarks, templateForSize(size), options);
  return { crop: await warpAffine(image, affine, size, size, options), affine };
}
