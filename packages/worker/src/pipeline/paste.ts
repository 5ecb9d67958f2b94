import { affineScale, applyAffine, DEFAULT_WARP_INTERPOLATOR, invertAffine, toByte } from './align.js';
import { warpRaw, type WarpInterpolator } from './image.js';
import type { Affine, Point, RgbImage } from './types.js';

export interface FaceToPaste {
  /** The restored face, square. */
  readonly face: RgbImage;
  /** Maps input-image coordinates to `face` coordinates (the affine alignFace returned, for a face of this size). */
  readonly affine: Affine;
}

export interface PasteOptions {
  readonly upscale: number;
  readonly sourceWidth: number;
  readonly sourceHeight: number;
  /**
   * Composite into `background`'s own buffer instead of a copy: the caller's background is then the result
   * (saves a copy of the whole output, 120 MB for a 20 MP result). @default false
   */
  readonly inPlace?: boolean;
  /** Interpolator for the inverse warp. @default DEFAULT_WARP_INTERPOLATOR */
  readonly interpolator?: WarpInterpolator;
}

/** facexlib's blend width: the soft edge is 1/20 of the side of the (eroded) face square. */
const EDGE_FRACTION = 20;

/**
 * A float mask over a rectangle of the output. Out-of-rectangle values are 0 and the rectangle always has a
 * margin of zeros where it does not touch the image edge, so filters may treat its border as the image's border.
 */
interface MaskRect {
  readonly x0: number;
  readonly y0: number;
  readonly width: number;
  readonly height: number;
  readonly data: Float32Array;
}

/**
 * 1-D running minimum over windows [i - before, i + after] (van Herk / Gil-Werman: O(1) per sample). Samples
 * beyond the ends are ignored, as OpenCV's erode treats the image border.
 */
function runningMin(src: Float32Array, dst: Float32Array, n: number, before: number, after: number, g: Float32Array, h: Float32Array): void {
  const k = before + after + 1;
  for (let s = 0; s < n; s += k) {
    const e = Math.min(s + k, n);
    g[s] = src[s]!;
    for (let i = s + 1; i < e; i++) g[i] = Math.min(g[i - 1]!, src[i]!);
    h[e - 1] = src[e - 1]!;
    for (let i = e - 2; i >= s; i--) h[i] = Math.min(h[i + 1]!, src[i]!);
  }
  for (let i = 0; i < n; i++) {
    const lo = Math.max(0, i - before);
    const hi = Math.min(n - 1, i + after);
    // [lo, hi] spans at most two blocks: the suffix minimum of the first and the prefix minimum of the second.
    dst[i] = Math.floor(lo / k) === Math.floor(hi / k) ? minRange(src, lo, hi) : Math.min(h[lo]!, g[hi]!);
  }
}

function minRange(src: Float32Array, lo: number, hi: number): number {
  let m = src[lo]!;
  for (let i = lo + 1; i <= hi; i++) m = Math.min(m, src[i]!);
  return m;
}

/** In-place erosion with a `size`×`size` box anchored as OpenCV anchors it (centre at size/2, rounded down). */
function erode(mask: MaskRect, size: number): void {
  // OpenCV reads an empty kernel as its default 3×3.
  const k = size <= 0 ? 3 : size;
  const before = Math.floor(k / 2), after = k - 1 - before;
  const { width, height, data } = mask;
  const n = Math.max(width, height);
  const line = new Float32Array(n), out = new Float32Array(n), g = new Float32Array(n), h = new Float32Array(n);
  for (let y = 0; y < height; y++) {
    const row = data.subarray(y * width, (y + 1) * width);
    runningMin(row, out, width, before, after, g, h);
    row.set(out.subarray(0, width));
  }
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) line[y] = data[y * width + x]!;
    runningMin(line, out, height, before, after, g, h);
    for (let y = 0; y < height; y++) data[y * width + x] = out[y]!;
  }
}

/** OpenCV's Gaussian kernel for an odd size with sigma 0: sigma = 0.3·((size − 1)/2 − 1) + 0.8. */
function gaussianKernel(size: number): Float64Array {
  const sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8;
  const r = (size - 1) / 2;
  const k = new Float64Array(size);
  let sum = 0;
  for (let i = 0; i < size; i++) {
    k[i] = Math.exp(-((i - r) ** 2) / (2 * sigma * sigma));
    sum += k[i]!;
  }
  for (let i = 0; i < size; i++) k[i]! /= sum;
  return k;
}

/** Reflect-101 index (OpenCV's default blur border): -1 → 1, n → n-2. */
function reflect101(i: number, n: number): number {
  if (n === 1) return 0;
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * n - 2 - i;
  return i;
}

/**
 * From this kernel size up (sigma ≥ 9.8 px: faces over about 400 px in the output) the blur is recursive. The
 * step-based blur below costs as many taps per sample as the window holds steps, and after the first pass a
 * rotated face's mask has a step at nearly every sample: a face filling a 7 MP close-up took a minute.
 */
const RECURSIVE_BLUR_MIN_SIZE = 61;

/**
 * Young and van Vliet's recursive Gaussian (third order, forward then backward over each line): a few operations
 * per sample whatever sigma is. Against the exact kernel, a white face pasted over black at 1138 px differs by
 * 0.38 grey levels on average and 4 at most (at the soft edge), invisible in a blend weight. Lines start from
 * their edge value, as a replicated border.
 */
function recursiveGaussianBlur(mask: MaskRect, sigma: number): void {
  const q = 0.98711 * sigma - 0.9633;
  const b0 = 1.57825 + 2.44413 * q + 1.4281 * q * q + 0.422205 * q * q * q;
  const b1 = (2.44413 * q + 2.85619 * q * q + 1.26661 * q * q * q) / b0;
  const b2 = -(1.4281 * q * q + 1.26661 * q * q * q) / b0;
  const b3 = (0.422205 * q * q * q) / b0;
  const B = 1 - (b1 + b2 + b3);
  const { width, height, data } = mask;
  const line = new Float64Array(Math.max(width, height));
  const blurLine = (len: number): void => {
    let w1 = line[0]!, w2 = w1, w3 = w1;
    for (let i = 0; i < len; i++) {
      const w = B * line[i]! + b1 * w1 + b2 * w2 + b3 * w3;
      line[i] = w;
      w3 = w2;
      w2 = w1;
      w1 = w;
    }
    w1 = line[len - 1]!;
    w2 = w1;
    w3 = w1;
    for (let i = len - 1; i >= 0; i--) {
      const w = B * line[i]! + b1 * w1 + b2 * w2 + b3 * w3;
      line[i] = w;
      w3 = w2;
      w2 = w1;
      w1 = w;
    }
  };
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) line[x] = data[row + x]!;
    blurLine(width);
    for (let x = 0; x < width; x++) data[row + x] = line[x]!;
  }
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) line[y] = data[y * width + x]!;
    blurLine(height);
    for (let y = 0; y < height; y++) data[y * width + x] = line[y]!;
  }
}

/**
 * Separable Gaussian blur of odd `size`, borders reflected as OpenCV does. The mask is piecewise constant with
 * short ramps, so each line is written as its first value plus steps: a window's sum is then the first value
 * plus each step inside it times the kernel's tail mass beyond the step. The cost follows the number of steps
 * in a window (a handful) instead of the kernel size (hundreds of taps for a large face).
 */
function gaussianBlur(mask: MaskRect, size: number): void {
  if (size <= 1) return;
  if (size >= RECURSIVE_BLUR_MIN_SIZE) {
    recursiveGaussianBlur(mask, 0.3 * ((size - 1) * 0.5 - 1) + 0.8);
    return;
  }
  const kernel = gaussianKernel(size);
  const r = (size - 1) / 2;
  // tail[m] = kernel mass of taps m..size-1.
  const tail = new Float64Array(size + 1);
  for (let t = size - 1; t >= 0; t--) tail[t] = tail[t + 1]! + kernel[t]!;
  const { width, height, data } = mask;
  const n = Math.max(width, height);
  const padded = new Float32Array(n + 2 * r);
  const stepAt = new Int32Array(n + 2 * r);
  const stepBy = new Float32Array(n + 2 * r);
  const line = new Float32Array(n);
  const blurLine = (src: Float32Array, len: number): void => {
    for (let p = 0; p < len + 2 * r; p++) padded[p] = src[reflect101(p - r, len)]!;
    let steps = 0;
    for (let p = 1; p < len + 2 * r; p++) {
      const d = padded[p]! - padded[p - 1]!;
      if (d !== 0) {
        stepAt[steps] = p;
        stepBy[steps++] = d;
      }
    }
    let first = 0;
    for (let i = 0; i < len; i++) {
      // Window over padded [i, i + 2r]; steps strictly after i and up to i + 2r change its values.
      while (first < steps && stepAt[first]! <= i) first++;
      let acc = padded[i]!;
      for (let s = first; s < steps && stepAt[s]! <= i + 2 * r; s++) acc += stepBy[s]! * tail[stepAt[s]! - i]!;
      src[i] = acc;
    }
  };
  for (let y = 0; y < height; y++) blurLine(data.subarray(y * width, (y + 1) * width), width);
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) line[y] = data[y * width + x]!;
    blurLine(line, height);
    for (let y = 0; y < height; y++) data[y * width + x] = line[y]!;
  }
}

/**
 * facexlib's soft square mask for one face, computed only over the face's footprint in the output:
 * the warped square of ones (bilinear coverage), eroded by 2·upscale; then eroded by 2·w_edge and blurred with
 * a (2·w_edge+1) Gaussian, where w_edge = floor(sqrt(area of the first mask) / 20).
 */
function softMask(toFace: Affine, faceSize: number, upscale: number, outWidth: number, outHeight: number): MaskRect | undefined {
  const toOutput = invertAffine(toFace);
  const corners = [[0, 0], [faceSize, 0], [0, faceSize], [faceSize, faceSize]].map((p) => applyAffine(toOutput, p as unknown as Point));
  const side = faceSize / affineScale(toFace);
  // The blur spreads the mask by at most w_edge ≤ side/20; keep that much room, plus the anchor's pixel.
  const margin = Math.ceil(side / EDGE_FRACTION) + 3;
  const x0 = Math.max(0, Math.floor(Math.min(...corners.map((p) => p[0]))) - margin);
  const y0 = Math.max(0, Math.floor(Math.min(...corners.map((p) => p[1]))) - margin);
  const x1 = Math.min(outWidth, Math.ceil(Math.max(...corners.map((p) => p[0]))) + margin);
  const y1 = Math.min(outHeight, Math.ceil(Math.max(...corners.map((p) => p[1]))) + margin);
  if (x1 <= x0 || y1 <= y0) return undefined;
  const width = x1 - x0, height = y1 - y0;
  const data = new Float32Array(width * height);
  const [a, b, c, d, e, f] = toFace;
  // Coverage of a bilinear sample of an all-ones face with a zero border, at each output pixel's pre-image:
  // min(1, max(0, min(t + 0.5, faceSize + 0.5 − t))) along each axis, written out for the hot loop.
  const far = faceSize + 0.5;
  for (let y = 0; y < height; y++) {
    const cy = y0 + y + 0.5;
    let u = a * (x0 + 0.5) + b * cy + c, v = d * (x0 + 0.5) + e * cy + f;
    for (let x = 0, i = y * width; x < width; x++, i++, u += a, v += d) {
      const cu = u + 0.5 < far - u ? u + 0.5 : far - u;
      const cv = v + 0.5 < far - v ? v + 0.5 : far - v;
      data[i] = cu <= 0 || cv <= 0 ? 0 : (cu >= 1 ? 1 : cu) * (cv >= 1 ? 1 : cv);
    }
  }
  const mask: MaskRect = { x0, y0, width, height, data };
  erode(mask, Math.round(2 * upscale));
  let area = 0;
  for (let i = 0; i < data.length; i++) area += data[i]!;
  const wEdge = Math.floor(Math.floor(Math.sqrt(area)) / EDGE_FRACTION);
  erode(mask, 2 * wEdge);
  gaussianBlur(mask, 2 * wEdge + 1);
  return mask;
}

/**
 * Face pixels whose pre-image lies outside the source photo hold the crop's fill colour (or whatever a restorer
 * made of it). They are replaced by the face pixel at the nearest point inside the photo, the way the background's
 * upscale replicates the photo's edge, so the interpolator's taps near the edge never pull the fill colour in.
 * Returns the face unchanged when the whole square lies inside the photo.
 */
function replicatePhotoEdge(face: Uint8Array, affine: Affine, faceSize: number, sourceWidth: number, sourceHeight: number): Uint8Array {
  const toSource = invertAffine(affine);
  const inside = (p: Point): boolean => p[0] >= 0 && p[1] >= 0 && p[0] <= sourceWidth && p[1] <= sourceHeight;
  const corners: Point[] = [[0, 0], [faceSize, 0], [0, faceSize], [faceSize, faceSize]];
  if (corners.every((p) => inside(applyAffine(toSource, p)))) return face;
  const out = face.slice();
  const [a, b, c, d, e, f] = toSource;
  // Clamp far enough inside that the face pixel found there is itself inside (half a face pixel, in photo pixels).
  const inset = Math.min(0.5 + 0.5 / affineScale(affine), sourceWidth / 2, sourceHeight / 2);
  for (let j = 0; j < faceSize; j++) {
    for (let i = 0; i < faceSize; i++) {
      const x = a * (i + 0.5) + b * (j + 0.5) + c;
      const y = d * (i + 0.5) + e * (j + 0.5) + f;
      if (x >= 0 && y >= 0 && x <= sourceWidth && y <= sourceHeight) continue;
      const [u, v] = applyAffine(affine, [
        Math.min(Math.max(x, inset), sourceWidth - inset),
        Math.min(Math.max(y, inset), sourceHeight - inset),
      ]);
      const si = Math.min(faceSize - 1, Math.max(0, Math.floor(u)));
      const sj = Math.min(faceSize - 1, Math.max(0, Math.floor(v)));
      const s = (sj * faceSize + si) * 3, o = (j * faceSize + i) * 3;
      out[o] = face[s]!;
      out[o + 1] = face[s + 1]!;
      out[o + 2] = face[s + 2]!;
    }
  }
  return out;
}

/** Soft-mask values below this leave the background pixel as it is. */
const MASK_EPSILON = 1 / 512;

/**
 * Stage 5: composites restored faces, one after another, over `background` (the input upscaled by `upscale`),
 * with facexlib's soft square mask. `sourceWidth/Height` are the input's size: parts of a face square that fall
 * outside the input photo are masked out so the crop's border colour never bleeds in.
 *
 * Coordinates: with pixel centres at i+0.5, output point = upscale × input point exactly, so the output → face
 * map is the face affine composed with a division by `upscale` and nothing more. (In OpenCV's integer-centre
 * convention the same map needs an offset of 0.5·upscale − 0.5; facexlib adds 0.5·upscale.)
 */
export async function pasteFaces(background: RgbImage, faces: readonly FaceToPaste[], options: PasteOptions): Promise<RgbImage> {
  const { upscale, sourceWidth, sourceHeight } = options;
  const interpolator = options.interpolator ?? DEFAULT_WARP_INTERPOLATOR;
  const outWidth = background.width, outHeight = background.height;
  if (background.data.length !== outWidth * outHeight * 3) throw new RangeError('pasteFaces: background size mismatch.');
  const out = options.inPlace === true ? background.data : background.data.slice();
  for (const { face, affine } of faces) {
    if (face.width !== face.height) throw new RangeError(`pasteFaces: the face is ${face.width}×${face.height}, not square.`);
    const size = face.width;
    const [a, b, c, d, e, f] = affine;
    const toFace: Affine = [a / upscale, b / upscale, c, d / upscale, e / upscale, f];
    const mask = softMask(toFace, size, upscale, outWidth, outHeight);
    if (mask === undefined) continue;
    const { x0, y0, width: mw, height: mh, data: m } = mask;
    // The face warped (in libvips) onto the mask's rectangle only; the blend is one multiply-add per channel.
    const warped = await warpRaw({
      data: replicatePhotoEdge(face.data, affine, size, sourceWidth, sourceHeight),
      width: size,
      height: size,
      channels: 3,
      inverse: toFace,
      x0,
      y0,
      outWidth: mw,
      outHeight: mh,
      interpolator,
    });
    for (let y = 0; y < mh; y++) {
      let o = ((y0 + y) * outWidth + x0) * 3;
      for (let x = 0, i = y * mw; x < mw; x++, i++, o += 3) {
        const w = m[i]!;
        if (w <= MASK_EPSILON) continue;
        const s = i * 3;
        out[o] = toByte(w * warped[s]! + (1 - w) * out[o]!);
        out[o + 1] = toByte(w * warped[s + 1]! + (1 - w) * out[o + 1]!);
        out[o + 2] = toByte(w * warped[s + 2]! + (1 - w) * out[o + 2]!);
      }
    }
  }
  return { width: outWidth, height: outHeight, data: out };
}
