import { affineScale, applyAffine, invertAffine } from './align.js';
import { warpSourceRegion } from './image.js';
import { ENLARGE_SKIP_RUNS, pasteBicubic } from './resample.js';
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
}

/** facexlib's blend width: the soft edge is 1/20 of the side of the (eroded) face square. */
const EDGE_FRACTION = 20;
/** Mask profiles kept for reuse (a batch's faces mostly share a size and a handful of scales). */
const MASK_CACHE_ENTRIES = 16;
/** Mask parameters in face pixels are rounded to this fraction of a pixel, so that near-equal faces share a mask. */
const MASK_QUANTUM_PX = 1 / 8;

const maskCache = new Map<string, Float64Array>();

/**
 * 1-D profile of the mask across the face square: a box of ones over [inset, size − inset) (pixel coverage at
 * each face pixel), blurred with a sampled Gaussian of `sigma` truncated at `radius`, borders at zero.
 */
function maskProfile(size: number, inset: number, sigma: number, radius: number): Float64Array {
  const box = new Float64Array(size);
  for (let i = 0; i < size; i++) box[i] = Math.max(0, Math.min(i + 1, size - inset) - Math.max(i, inset));
  const r = Math.floor(radius);
  if (sigma <= 0 || r < 1) return box;
  const kernel = new Float64Array(2 * r + 1);
  let sum = 0;
  for (let k = -r; k <= r; k++) sum += kernel[k + r] = Math.exp(-(k * k) / (2 * sigma * sigma));
  const out = new Float64Array(size);
  for (let i = 0; i < size; i++) {
    let acc = 0;
    for (let k = -r; k <= r; k++) acc += i + k >= 0 && i + k < size ? kernel[k + r]! * box[i + k]! : 0;
    out[i] = acc / sum;
  }
  return out;
}

/**
 * facexlib's soft square mask, in face space: a product P(u)·P(v) of one 1-D profile (values 0..1 at the face's
 * pixel centres), evaluated in the output by the paste kernel (resample.ts pasteBicubic).
 *
 * facexlib builds it in the output: the square of ones warped there, eroded by 2·upscale, then eroded by 2·w_edge
 * and blurred with a (2·w_edge+1) Gaussian (OpenCV's sigma for that size), w_edge = floor(sqrt(area) / 20). Here
 * the same erosions and blur, converted to face pixels with the face's scale, act on the square in face space,
 * where the square is axis-aligned: erosion just moves its sides in and the blur is separable, so the mask is the
 * product of two 1-D profiles. It differs from facexlib's in that the blur follows the face's axes rather than
 * the photo's, the area counts the whole square even where it leaves the photo, and the erosion anchor's
 * half-pixel asymmetry is dropped (see the README).
 *
 * @param facePxPerOutputPx the face affine's scale divided by the upscale.
 */
function faceSpaceMaskProfile(size: number, upscale: number, facePxPerOutputPx: number): Float64Array {
  const side = size / facePxPerOutputPx; // the square's side in output pixels
  const firstErosion = Math.round(2 * upscale);
  const eroded = Math.max(0, side - (firstErosion - 1));
  const wEdge = Math.floor(Math.floor(eroded) / EDGE_FRACTION);
  // OpenCV reads an empty kernel as its default 3×3.
  const secondErosion = wEdge === 0 ? 3 : 2 * wEdge;
  const q = (v: number): number => Math.round(v / MASK_QUANTUM_PX) * MASK_QUANTUM_PX;
  const inset = q(((firstErosion - 1) / 2 + (secondErosion - 1) / 2) * facePxPerOutputPx);
  const blurSize = 2 * wEdge + 1;
  const sigma = q(blurSize > 1 ? (0.3 * ((blurSize - 1) * 0.5 - 1) + 0.8) * facePxPerOutputPx : 0);
  const radius = q(wEdge * facePxPerOutputPx);
  const key = `${size}:${inset}:${sigma}:${radius}`;
  const cached = maskCache.get(key);
  if (cached !== undefined) return cached;
  const p = maskProfile(size, inset, sigma, radius);
  if (maskCache.size >= MASK_CACHE_ENTRIES) maskCache.delete(maskCache.keys().next().value!);
  maskCache.set(key, p);
  return p;
}

/** The output rectangle (clipped to the output) that the face square covers, or undefined when it covers none. */
function footprint(toFace: Affine, faceSize: number, outWidth: number, outHeight: number) {
  const toOutput = invertAffine(toFace);
  const corners = [[0, 0], [faceSize, 0], [0, faceSize], [faceSize, faceSize]].map((p) => applyAffine(toOutput, p as unknown as Point));
  const x0 = Math.max(0, Math.floor(Math.min(...corners.map((p) => p[0]))));
  const y0 = Math.max(0, Math.floor(Math.min(...corners.map((p) => p[1]))));
  const x1 = Math.min(outWidth, Math.ceil(Math.max(...corners.map((p) => p[0]))));
  const y1 = Math.min(outHeight, Math.ceil(Math.max(...corners.map((p) => p[1]))));
  return x1 <= x0 || y1 <= y0 ? undefined : { x0, y0, width: x1 - x0, height: y1 - y0 };
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
  const [fa, fb, fc, fd, fe, ff] = affine;
  // Clamp far enough inside that the face pixel found there is itself inside (half a face pixel, in photo pixels).
  const inset = Math.min(0.5 + 0.5 / affineScale(affine), sourceWidth / 2, sourceHeight / 2);
  for (let j = 0; j < faceSize; j++) {
    // The pixels of the row surely inside (a run, as the map is affine; one pixel in from each end of the run the
    // algebra gives, against rounding) are skipped without a test.
    const [inFrom, inTo] = insideRun(a, b * (j + 0.5) + c, sourceWidth, d, e * (j + 0.5) + f, sourceHeight, faceSize);
    for (let i = 0; i < faceSize; i++) {
      if (i === inFrom) i = inTo;
      if (i >= faceSize) break;
      const x = a * (i + 0.5) + b * (j + 0.5) + c;
      const y = d * (i + 0.5) + e * (j + 0.5) + f;
      if (x >= 0 && y >= 0 && x <= sourceWidth && y <= sourceHeight) continue;
      // applyAffine's arithmetic, written out: a pair allocated per pixel outside was most of this loop's time.
      const cx = Math.min(Math.max(x, inset), sourceWidth - inset), cy = Math.min(Math.max(y, inset), sourceHeight - inset);
      const u = fa * cx + fb * cy + fc, v = fd * cx + fe * cy + ff;
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

/**
 * The pixels i of a face row, [from, to) within [0, n), whose centres map into the photo with room to spare:
 * x = ax·(i + 0.5) + x0 in [0, width] and y = ay·(i + 0.5) + y0 in [0, height], narrowed by one pixel at each end.
 */
function insideRun(ax: number, x0: number, width: number, ay: number, y0: number, height: number, n: number): [number, number] {
  let lo = 0, hi = n;
  for (const [slope, at0, max] of [[ax, x0, width], [ay, y0, height]] as const) {
    if (slope === 0) {
      if (!(at0 >= 0 && at0 <= max)) return [0, 0];
      continue;
    }
    const p = (0 - at0) / slope - 0.5, q = (max - at0) / slope - 0.5;
    lo = Math.max(lo, Math.ceil(Math.min(p, q)) + 1);
    hi = Math.min(hi, Math.floor(Math.max(p, q)));
  }
  return lo < hi ? [lo, hi] : [0, 0];
}

/** Where a 1-D mask profile is 0 and where it is 1, as face-space coordinate ranges (pixel centres at i + 0.5). */
interface ProfileSpan {
  /** P(u) > 0 only for u in (nonZeroFrom, nonZeroTo). */
  readonly nonZeroFrom: number;
  readonly nonZeroTo: number;
  /** P(u) = 1 for u in [opaqueFrom, opaqueTo] (empty when opaqueFrom > opaqueTo). */
  readonly opaqueFrom: number;
  readonly opaqueTo: number;
}

function profileSpan(p: Float64Array): ProfileSpan {
  let first = -1, last = -1, firstOne = -1, lastOne = -1;
  for (let i = 0; i < p.length; i++) {
    if (p[i]! > 0) {
      if (first < 0) first = i;
      last = i;
    }
    // 255·P² rounds to 255 from here on.
    if (p[i]! >= 1 - 1e-9) {
      if (firstOne < 0) firstOne = i;
      lastOne = i;
    }
  }
  // Linear interpolation between centres: non-zero strictly between the centres around the first and last non-zero
  // samples; one only between the centres of the first and last ones (a run of ones, as the profile is a blurred box).
  return first < 0
    ? { nonZeroFrom: 0, nonZeroTo: 0, opaqueFrom: 1, opaqueTo: 0 }
    : { nonZeroFrom: first - 0.5, nonZeroTo: last + 1.5, opaqueFrom: firstOne < 0 ? 1 : firstOne + 0.5, opaqueTo: firstOne < 0 ? 0 : lastOne + 0.5 };
}

/** The whole pixels X in [from, to) (at most [0, width)) whose centre X + 0.5 maps into [lo, hi] under u = slope·X' + at0. */
function rowSpan(slope: number, at0: number, lo: number, hi: number, width: number, inclusive: boolean): [number, number] {
  if (lo > hi) return [0, 0];
  if (slope === 0) return (inclusive ? at0 >= lo && at0 <= hi : at0 > lo && at0 < hi) ? [0, width] : [0, 0];
  const a = (lo - at0) / slope, b = (hi - at0) / slope;
  // Centres X + 0.5 in [min(a, b), max(a, b)].
  return [Math.max(0, Math.ceil(Math.min(a, b) - 0.5)), Math.min(width, Math.floor(Math.max(a, b) - 0.5) + 1)];
}

/**
 * Per footprint row, where the mask α = round(255·P(u)·P(v)) can be non-zero and where it is surely 255, as the
 * 4 values pasteBicubic takes (from, to, opaqueFrom, opaqueTo; footprint x indices). The mask is the product of
 * the two linearly interpolated profiles at each output pixel's face-space position (u, v), which is exactly a
 * bilinear warp of the face-space mask P(i)·P(j) (facexlib warps its mask bilinearly too); u and v are linear
 * along a row, so both stretches follow from the profile's own, and the opaque inside of a face is copied whole.
 */
function maskSpans(
  rect: { readonly x0: number; readonly y0: number; readonly width: number; readonly height: number },
  toFace: Affine,
  profile: Float64Array,
): Int32Array {
  const { x0, y0, width: mw, height: mh } = rect;
  const [a, b, c, d, e, f] = toFace;
  const span = profileSpan(profile);
  const spans = new Int32Array(mh * 4);
  for (let y = 0; y < mh; y++) {
    const Y = y0 + y + 0.5;
    // u, v at the centre of row pixel x: slope·x + at0, with x the index inside the footprint.
    const u0 = a * (x0 + 0.5) + b * Y + c, v0 = d * (x0 + 0.5) + e * Y + f;
    const [nu0, nu1] = rowSpan(a, u0 - a * 0.5, span.nonZeroFrom, span.nonZeroTo, mw, false);
    const [nv0, nv1] = rowSpan(d, v0 - d * 0.5, span.nonZeroFrom, span.nonZeroTo, mw, false);
    const from = Math.max(nu0, nv0), to = Math.min(nu1, nv1);
    if (from >= to) continue;
    const [ou0, ou1] = rowSpan(a, u0 - a * 0.5, span.opaqueFrom, span.opaqueTo, mw, true);
    const [ov0, ov1] = rowSpan(d, v0 - d * 0.5, span.opaqueFrom, span.opaqueTo, mw, true);
    // One pixel in from each end: the run copied whole is surely opaque whatever the rounding of its ends.
    let opaqueFrom = Math.max(ou0, ov0, from) + 1, opaqueTo = Math.min(ou1, ov1, to) - 1;
    if (opaqueFrom >= opaqueTo) opaqueFrom = opaqueTo = to;
    spans.set([from, to, opaqueFrom, opaqueTo], y * 4);
  }
  return spans;
}

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
  const outWidth = background.width, outHeight = background.height;
  if (background.data.length !== outWidth * outHeight * 3) throw new RangeError('pasteFaces: background size mismatch.');
  const out = options.inPlace === true ? background.data : background.data.slice();
  for (const { face, affine } of faces) {
    if (face.width !== face.height) throw new RangeError(`pasteFaces: the face is ${face.width}×${face.height}, not square.`);
    const plan = planFor(face, affine, upscale, outWidth, outHeight);
    if (plan === undefined) continue;
    const { toFace, rect, profile, spans } = plan;
    const rgb = replicatePhotoEdge(face.data, affine, face.width, sourceWidth, sourceHeight);
    // The face is sampled only where the mask is non-zero, straight into the output: no warped copy of the
    // footprint, and nothing computed in its corners outside the (rotated) square.
    const region = await warpSourceRegion({ data: rgb, width: face.width, height: face.height, channels: 3, inverse: toFace, x0: rect.x0, y0: rect.y0, outWidth: rect.width, outHeight: rect.height });
    pasteBicubic(out, outWidth, { source: region, toSource: region.toRegion, toFace, profile, rect, spans });
  }
  return { width: outWidth, height: outHeight, data: out };
}

interface FacePlan {
  readonly toFace: Affine;
  readonly rect: { readonly x0: number; readonly y0: number; readonly width: number; readonly height: number };
  readonly profile: Float64Array;
  readonly spans: Int32Array;
}

/** The last plan made for a face, so that opaqueRuns and pasteFaces work out the spans of a face once. */
const plans = new WeakMap<RgbImage, { readonly key: string; readonly plan: FacePlan | undefined }>();

/** planFace, once per face image and placement. */
function planFor(face: RgbImage, affine: Affine, upscale: number, outWidth: number, outHeight: number): FacePlan | undefined {
  const key = `${affine.join(',')}:${upscale}:${outWidth}:${outHeight}`;
  const known = plans.get(face);
  if (known?.key === key) return known.plan;
  const plan = planFace(face.width, affine, upscale, outWidth, outHeight);
  plans.set(face, { key, plan });
  return plan;
}

/** Where and how a face of side `size` lands in an output `outWidth`×`outHeight`; undefined when it lands outside. */
function planFace(size: number, affine: Affine, upscale: number, outWidth: number, outHeight: number): FacePlan | undefined {
  const [a, b, c, d, e, f] = affine;
  const toFace: Affine = [a / upscale, b / upscale, c, d / upscale, e / upscale, f];
  const rect = footprint(toFace, size, outWidth, outHeight);
  if (rect === undefined) return undefined;
  const profile = faceSpaceMaskProfile(size, upscale, affineScale(toFace));
  return { toFace, rect, profile, spans: maskSpans(rect, toFace, profile) };
}

/**
 * The output pixels that pasteFaces, given the same faces and options, overwrites whatever the background holds
 * there: the opaque inside of each face (its paste copies the face there without a blend, and a blend reads the
 * background only at its own pixel, so neither an earlier nor a later face reads the background under it). As
 * enlargeCubic's `skip` takes them: per output row ENLARGE_SKIP_RUNS runs [from, to) (the longest, merged where
 * faces overlap or touch), sorted, empty runs as from = to; undefined when there are none.
 */
export function opaqueRuns(faces: readonly FaceToPaste[], options: { readonly upscale: number; readonly outWidth: number; readonly outHeight: number }): Int32Array | undefined {
  const { upscale, outWidth, outHeight } = options;
  const perRow = ENLARGE_SKIP_RUNS * 2;
  let skip: Int32Array | undefined;
  for (const { face, affine } of faces) {
    // pasteFaces refuses such a face: the job fails, and nothing here matters.
    if (face.width !== face.height) continue;
    const plan = planFor(face, affine, upscale, outWidth, outHeight);
    if (plan === undefined) continue;
    const { rect, spans } = plan;
    for (let y = 0; y < rect.height; y++) {
      const from = spans[y * 4 + 2]!, to = spans[y * 4 + 3]!;
      if (from < to) addRun((skip ??= new Int32Array(outHeight * perRow)), (rect.y0 + y) * perRow, rect.x0 + from, rect.x0 + to);
    }
  }
  return skip;
}

/**
 * Adds the run [from, to) to the ENLARGE_SKIP_RUNS runs of a row at `at` (sorted, empty ones last): merged with the
 * runs it overlaps or touches; when the row is full, the shortest run is dropped (its pixels are then computed).
 */
function addRun(skip: Int32Array, at: number, from: number, to: number): void {
  if (skip[at] === skip[at + 1]) {
    // The row's first run (most rows cross one face).
    skip[at] = from;
    skip[at + 1] = to;
    return;
  }
  const runs: [number, number][] = [[from, to]];
  for (let k = at; k < at + ENLARGE_SKIP_RUNS * 2; k += 2) if (skip[k]! < skip[k + 1]!) runs.push([skip[k]!, skip[k + 1]!]);
  runs.sort((p, q) => p[0] - q[0]);
  const merged: [number, number][] = [];
  for (const run of runs) {
    const last = merged[merged.length - 1];
    if (last !== undefined && run[0] <= last[1]) last[1] = Math.max(last[1], run[1]);
    else merged.push(run);
  }
  if (merged.length > ENLARGE_SKIP_RUNS) merged.sort((p, q) => q[1] - q[0] - (p[1] - p[0])).length = ENLARGE_SKIP_RUNS;
  merged.sort((p, q) => p[0] - q[0]);
  skip.fill(0, at, at + ENLARGE_SKIP_RUNS * 2);
  merged.forEach(([f, t], i) => skip.set([f, t], at + i * 2));
}
