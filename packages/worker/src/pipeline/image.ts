// The only module that imports sharp: every codec and resampling call in the worker goes through here, so the
// libvips options that matter for safety (pixel limits, failOn) are set in one place.
import { availableParallelism } from 'node:os';
import sharp, { type Metadata, type OutputInfo, type Sharp } from 'sharp';
import { PermanentError } from '../errors.js';
import type { DecodedImage, EncodedFormat, ImageFormat, RgbImage } from './types.js';

export type ResizeKernel = 'lanczos3' | 'cubic' | 'linear' | 'nearest';

/**
 * How strict the decoder is with damaged pixel data. `error` rejects truncated files and corrupt entropy-coded
 * data, but not the harmless libjpeg warnings ("extraneous bytes") that many camera JPEGs carry and that
 * `warning` would reject.
 */
const DECODE_FAIL_ON = 'error' as const;

/**
 * libvips threads per operation. sharp defaults to 1 on glibc Linux without jemalloc (to limit heap
 * fragmentation), which left one of a task's two cores idle during every warp, upscale and encode: on the 6.4 MP
 * close-up, paste and upscale took 1.6–2× as long (see the README's speed section). The batch's peak RSS, the
 * cost sharp's default guards against, is measured by `pnpm bench`. @default os.availableParallelism()
 */
export const DEFAULT_VIPS_THREADS = availableParallelism();
sharp.concurrency(DEFAULT_VIPS_THREADS);

/** What the decoder reads from a file's header, before any pixel is decoded. */
export interface ImageHeader {
  readonly format: ImageFormat;
  /** Stored size, before EXIF orientation. */
  readonly width: number;
  readonly height: number;
  readonly hasAlpha: boolean;
  readonly isGrayscale: boolean;
}

function formatOf(name: string | undefined): ImageFormat {
  if (name === 'jpeg' || name === 'png' || name === 'webp') return name;
  return 'other';
}

function invalidImage(cause: unknown): PermanentError {
  const reason = cause instanceof Error ? cause.message.trim() : String(cause);
  return new PermanentError('INVALID_IMAGE', `Not a readable image: ${reason}`, { cause });
}

/** Reads the header only (no pixel decoding); fails with INVALID_IMAGE when sharp does not recognise the bytes. */
export async function readImageHeader(input: Uint8Array): Promise<ImageHeader> {
  let meta: Metadata;
  try {
    meta = await sharp(input, { failOn: DECODE_FAIL_ON, limitInputPixels: false }).metadata();
  } catch (error) {
    throw invalidImage(error);
  }
  if (!(meta.width > 0 && meta.height > 0)) throw invalidImage(new Error('the header declares no size'));
  // Multi-page inputs (GIF, TIFF) decode their first page only.
  const height = meta.pageHeight !== undefined && meta.pageHeight > 0 ? meta.pageHeight : meta.height;
  return {
    format: formatOf(meta.format),
    width: meta.width,
    height,
    hasAlpha: meta.hasAlpha,
    isGrayscale: meta.space === 'b-w' || meta.space === 'grey16' || meta.channels <= 2,
  };
}

/**
 * Decodes any format sharp reads into 8-bit sRGB with EXIF orientation applied and alpha split off.
 * The pixel limit is checked against the header first, so a decompression bomb fails before any allocation.
 */
export async function readImage(input: Uint8Array, options: { readonly maxPixels: number }): Promise<DecodedImage> {
  const header = await readImageHeader(input);
  const pixels = header.width * header.height;
  if (pixels > options.maxPixels) {
    throw new PermanentError(
      'IMAGE_TOO_LARGE',
      `The image is ${header.width}×${header.height} (${(pixels / 1e6).toFixed(1)} MP); the limit is ${(options.maxPixels / 1e6).toFixed(1)} MP.`,
    );
  }
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    // toColourspace('srgb') turns grey, 16-bit and CMYK inputs (and embedded ICC profiles) into 8-bit sRGB;
    // the raw output then has 3 channels, or 4 with alpha.
    let pipeline = sharp(input, { failOn: DECODE_FAIL_ON, limitInputPixels: options.maxPixels, autoOrient: true }).toColourspace('srgb');
    pipeline = header.hasAlpha ? pipeline.ensureAlpha() : pipeline.removeAlpha();
    decoded = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw invalidImage(error);
  }
  const { width, height, channels } = decoded.info;
  const src = decoded.data;
  if (channels === 3) {
    return {
      rgb: { width, height, data: new Uint8Array(src.buffer, src.byteOffset, src.byteLength) },
      alpha: undefined,
      format: header.format,
      isGrayscale: header.isGrayscale,
    };
  }
  if (channels !== 4) throw invalidImage(new Error(`unexpected channel count ${channels} after conversion to sRGB`));
  const n = width * height;
  const rgb = new Uint8Array(n * 3);
  const alpha = new Uint8Array(n);
  for (let i = 0, s = 0, d = 0; i < n; i++, s += 4, d += 3) {
    rgb[d] = src[s]!;
    rgb[d + 1] = src[s + 1]!;
    rgb[d + 2] = src[s + 2]!;
    alpha[i] = src[s + 3]!;
  }
  return { rgb: { width, height, data: rgb }, alpha, format: header.format, isGrayscale: header.isGrayscale };
}

async function resizeRaw(
  data: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3 | 4,
  toWidth: number,
  toHeight: number,
  kernel: ResizeKernel,
): Promise<Uint8Array> {
  if (data.length !== width * height * channels) {
    throw new RangeError(`Resize: ${data.length} bytes is not ${width}×${height}×${channels}.`);
  }
  if (!(Number.isInteger(toWidth) && Number.isInteger(toHeight) && toWidth > 0 && toHeight > 0)) {
    throw new RangeError(`Resize: bad target size ${toWidth}×${toHeight}.`);
  }
  if (toWidth === width && toHeight === height) return data.slice();
  if (toWidth >= width && toHeight >= height && kernel === 'cubic' && (channels === 1 || channels === 3 || channels === 4)) {
    // libvips' bicubic is the same Catmull-Rom kernel; warpRaw gives it exact pixel centres and replicated edges.
    return warpRaw({
      data, width, height, channels, inverse: [width / toWidth, 0, 0, 0, height / toHeight, 0],
      x0: 0, y0: 0, outWidth: toWidth, outHeight: toHeight, interpolator: 'bicubic',
    });
  }
  if (toWidth >= width && toHeight >= height && kernel !== 'nearest') {
    return upsize(data, width, height, channels, toWidth, toHeight, kernel);
  }
  // Internal buffers are already bounded by decode's limit; sharp's own default limit would reject 16 MP × upscale.
  const resized = sharp(data, { raw: { width, height, channels }, limitInputPixels: false }).resize(toWidth, toHeight, {
    kernel,
    fit: 'fill',
  });
  // Without it sharp writes a one-channel input back out as three-channel sRGB.
  const { data: out } = await (channels === 1 ? resized.toColourspace('b-w') : resized)
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Separable interpolation kernels for enlarging: radius in source pixels and the weight at distance t. */
const UPSIZE_KERNELS = {
  linear: { radius: 1, weight: (t: number) => Math.max(0, 1 - t) },
  // Keys' cubic with a = -0.5 (Catmull-Rom), what libvips calls bicubic.
  cubic: {
    radius: 2,
    weight: (t: number) => (t < 1 ? 1.5 * t ** 3 - 2.5 * t ** 2 + 1 : t < 2 ? -0.5 * t ** 3 + 2.5 * t ** 2 - 4 * t + 2 : 0),
  },
  lanczos3: {
    radius: 3,
    weight: (t: number) => {
      if (t < 1e-9) return 1;
      if (t >= 3) return 0;
      const pt = Math.PI * t;
      return (3 * Math.sin(pt) * Math.sin(pt / 3)) / (pt * pt);
    },
  },
} as const;

/**
 * Enlargement (Lanczos-3 or linear; cubic runs in libvips, see resizeRaw) with pixel centres aligned exactly (source x = (X + 0.5)·w/W − 0.5), edges replicated.
 * Hand-written because sharp (libvips 8.17) enlarges with its bicubic affine interpolator whatever kernel is
 * asked for, and shifts the result by half an output pixel: measured on an impulse, a 2× enlargement puts the
 * centre of source pixel 20 at output 41 instead of 40.5, which cost 8 dB on the face round trip
 * (Blake_Lively.jpg: 32.6 dB between sharp's 2× and an exact one). Reductions stay with sharp, whose reduce is
 * centre-aligned and antialiased. The same shift would move detector landmarks, so every kernel but nearest
 * enlarges here.
 */
function upsize(
  data: Uint8Array,
  width: number,
  height: number,
  channels: number,
  toWidth: number,
  toHeight: number,
  kernel: keyof typeof UPSIZE_KERNELS,
): Uint8Array {
  const { radius, weight } = UPSIZE_KERNELS[kernel];
  const T = 2 * radius;
  const tapsFor = (n: number, toN: number) => {
    const weights = new Float32Array(toN * T);
    const index = new Int32Array(toN * T);
    for (let X = 0; X < toN; X++) {
      const centre = ((X + 0.5) * n) / toN - 0.5;
      const start = Math.floor(centre) - radius + 1;
      let sum = 0;
      for (let k = 0; k < T; k++) {
        const w = weight(Math.abs(start + k - centre));
        weights[X * T + k] = w;
        index[X * T + k] = Math.min(n - 1, Math.max(0, start + k));
        sum += w;
      }
      for (let k = 0; k < T; k++) weights[X * T + k]! /= sum;
    }
    return { weights, index };
  };
  const h = tapsFor(width, toWidth);
  const v = tapsFor(height, toHeight);
  // Horizontal pass into floats (rows of the source height), then vertical pass to bytes.
  const mid = new Float32Array(toWidth * height * channels);
  const hw = h.weights, hOffset = h.index.map((i) => i * channels);
  for (let y = 0; y < height; y++) {
    const srcRow = y * width * channels;
    let d = y * toWidth * channels;
    if (channels === 3) {
      // The common case, with the three channels of a tap read together.
      for (let X = 0, t = 0; X < toWidth; X++, d += 3) {
        let r = 0, g = 0, b = 0;
        for (let k = 0; k < T; k++, t++) {
          const w = hw[t]!, o = srcRow + hOffset[t]!;
          r += w * data[o]!;
          g += w * data[o + 1]!;
          b += w * data[o + 2]!;
        }
        mid[d] = r;
        mid[d + 1] = g;
        mid[d + 2] = b;
      }
      continue;
    }
    for (let X = 0; X < toWidth; X++) {
      for (let c = 0; c < channels; c++, d++) {
        let acc = 0;
        for (let k = 0; k < T; k++) acc += hw[X * T + k]! * data[srcRow + hOffset[X * T + k]! + c]!;
        mid[d] = acc;
      }
    }
  }
  const out = new Uint8Array(toWidth * toHeight * channels);
  const rowLen = toWidth * channels;
  const acc = new Float32Array(rowLen);
  for (let Y = 0; Y < toHeight; Y++) {
    acc.fill(0);
    for (let k = 0; k < T; k++) {
      const w = v.weights[Y * T + k]!;
      if (w === 0) continue;
      const src = v.index[Y * T + k]! * rowLen;
      for (let i = 0; i < rowLen; i++) acc[i]! += w * mid[src + i]!;
    }
    const dst = Y * rowLen;
    for (let i = 0; i < rowLen; i++) {
      const val = acc[i]!;
      out[dst + i] = val <= 0 ? 0 : val >= 255 ? 255 : Math.round(val);
    }
  }
  return out;
}

/** Resizes 8-bit RGB to exactly `width`×`height` (the aspect ratio is the caller's business). */
export async function resizeImage(image: RgbImage, width: number, height: number, kernel: ResizeKernel): Promise<RgbImage> {
  const data = await resizeRaw(image.data, image.width, image.height, 3, width, height, kernel);
  return { width, height, data };
}

/** Resizes a single 8-bit plane (alpha, a mask) of `width`×`height` to `toWidth`×`toHeight`. */
export async function resizePlane(
  plane: Uint8Array,
  width: number,
  height: number,
  toWidth: number,
  toHeight: number,
  kernel: ResizeKernel,
): Promise<Uint8Array> {
  return resizeRaw(plane, width, height, 1, toWidth, toHeight, kernel);
}

/** Encodes RGB, plus alpha when given (the caller picks a format that keeps it: PNG or WebP). */
export async function writeImage(
  image: RgbImage,
  alpha: Uint8Array | undefined,
  format: EncodedFormat,
  options?: {
    readonly quality?: number;
    /** EXIF orientation tag (1–8) to record; tests use it to make rotated inputs. @default none */
    readonly exifOrientation?: number;
    /** Encoder effort, passed through to sharp (encode.ts holds Revive's measured defaults). @default sharp's */
    readonly png?: { readonly compressionLevel: number; readonly adaptiveFiltering: boolean };
    readonly jpeg?: { readonly optimiseCoding: boolean };
    readonly webp?: { readonly effort: number };
  },
): Promise<Uint8Array> {
  const { width, height } = image;
  const n = width * height;
  if (image.data.length !== n * 3) throw new RangeError(`Encode: ${image.data.length} bytes is not ${width}×${height}×3.`);
  let raw: Uint8Array = image.data;
  let channels: 3 | 4 = 3;
  if (alpha !== undefined) {
    if (alpha.length !== n) throw new RangeError(`Encode: alpha has ${alpha.length} bytes, not ${n}.`);
    if (format === 'jpeg') throw new RangeError('Encode: JPEG cannot carry alpha.');
    raw = new Uint8Array(n * 4);
    const src = image.data;
    for (let i = 0, s = 0, d = 0; i < n; i++, s += 3, d += 4) {
      raw[d] = src[s]!;
      raw[d + 1] = src[s + 1]!;
      raw[d + 2] = src[s + 2]!;
      raw[d + 3] = alpha[i]!;
    }
    channels = 4;
  }
  const plain = sharp(raw, { raw: { width, height, channels }, limitInputPixels: false });
  const base = options?.exifOrientation === undefined ? plain : plain.withMetadata({ orientation: options.exifOrientation });
  const quality = options?.quality;
  const encoder =
    format === 'jpeg' ? base.jpeg({ ...options?.jpeg, ...(quality !== undefined && { quality }) })
    : format === 'webp' ? base.webp({ ...options?.webp, ...(quality !== undefined && { quality }) })
    : base.png({ ...options?.png });
  const out = await encoder.toBuffer();
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** libvips interpolators sharp's `affine` offers that Revive uses for warps. */
export type WarpInterpolator = 'bicubic' | 'bilinear' | 'nohalo' | 'lbb';

/** 2×3 affine [a, b, c, d, e, f]: (x, y) → (a·x + b·y + c, d·x + e·y + f). */
type Matrix = readonly [number, number, number, number, number, number];

/** What `warpRaw` samples: destination pixel (X, Y) of the rectangle takes the source at `inverse`(X+0.5, Y+0.5). */
export interface WarpRawRequest {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3 | 4;
  /** Destination (continuous, pixel centres at i+0.5) → source (same convention). */
  readonly inverse: Matrix;
  readonly x0: number;
  readonly y0: number;
  readonly outWidth: number;
  readonly outHeight: number;
  readonly interpolator: WarpInterpolator;
}

/**
 * Source pixels kept around the pre-image of the destination rectangle: bicubic reaches 2 pixels, nohalo and lbb
 * a little more; the rest of the margin absorbs rounding of the bounding box.
 */
const WARP_MARGIN_PX = 4;
/**
 * A warp that shrinks by more than this is prefiltered: the source region is first reduced (libvips reduce,
 * Lanczos-3, centre-aligned) so that the interpolator, which has a fixed support, never aliases.
 */
const WARP_MAX_SHRINK = 1.25;

function copyRect(src: Uint8Array, srcWidth: number, channels: number, x: number, y: number, w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h * channels);
  const row = w * channels;
  for (let j = 0; j < h; j++) {
    const s = ((y + j) * srcWidth + x) * channels;
    out.set(src.subarray(s, s + row), j * row);
  }
  return out;
}

/**
 * Affine resampling in libvips (sharp's `affine`, SIMD and threaded) with Revive's exact pixel-centre convention:
 * only the source region under the destination rectangle is extracted (edges replicated beyond the source), shrunk
 * first when the warp shrinks (antialiasing), and warped straight into the rectangle.
 *
 * libvips' convention, measured on ramps (see image.test.ts): for output index (i, j) the source index sampled is
 * M⁻¹·((i, j) + L − od) − id, where M is the 2×2 matrix and L the rounded top-left of M applied to the input's
 * bounds; `idx/idy` are chosen here so that this is exactly the pre-image of (x0+i+0.5, y0+j+0.5) minus 0.5.
 */
export async function warpRaw(req: WarpRawRequest): Promise<Uint8Array> {
  const { width: W, height: H, channels, inverse, x0, y0, outWidth, outHeight } = req;
  if (req.data.length !== W * H * channels) throw new RangeError(`Warp: ${req.data.length} bytes is not ${W}×${H}×${channels}.`);
  const [a, b, c, d, e, f] = inverse;
  const corners = [
    [x0, y0],
    [x0 + outWidth, y0],
    [x0, y0 + outHeight],
    [x0 + outWidth, y0 + outHeight],
  ].map(([X, Y]) => [a * X! + b * Y! + c, d * X! + e * Y! + f] as const);
  const scale = Math.sqrt(Math.abs(a * e - b * d)); // source pixels per destination pixel
  const prefilter = scale > WARP_MAX_SHRINK ? scale : 1;
  const margin = Math.ceil(WARP_MARGIN_PX * prefilter);
  // The region of the source the rectangle needs, in whole pixels, then clamped to the source (at least 1 pixel).
  const rx0 = Math.floor(Math.min(...corners.map((p) => p[0]))) - margin;
  const ry0 = Math.floor(Math.min(...corners.map((p) => p[1]))) - margin;
  const rx1 = Math.ceil(Math.max(...corners.map((p) => p[0]))) + margin;
  const ry1 = Math.ceil(Math.max(...corners.map((p) => p[1]))) + margin;
  const ix0 = Math.min(Math.max(rx0, 0), W - 1), iy0 = Math.min(Math.max(ry0, 0), H - 1);
  const ix1 = Math.max(Math.min(rx1, W), ix0 + 1), iy1 = Math.max(Math.min(ry1, H), iy0 + 1);
  const left = Math.max(0, ix0 - rx0), top = Math.max(0, iy0 - ry0);
  const right = Math.max(0, rx1 - ix1), bottom = Math.max(0, ry1 - iy1);
  // Region origin in source pixels (continuous coordinates: region point = source point − origin).
  const ox = ix0 - left, oy = iy0 - top;
  const regionWidth = ix1 - ix0 + left + right, regionHeight = iy1 - iy0 + top + bottom;
  // Without it sharp writes a one-channel input back out as three-channel sRGB.
  const keepBands = (image: Sharp): Sharp => (channels === 1 ? image.toColourspace('b-w') : image);
  const raw = { width: W, height: H, channels };
  let region = sharp(req.data, { raw, limitInputPixels: false });
  if (ix0 !== 0 || iy0 !== 0 || ix1 !== W || iy1 !== H) region = region.extract({ left: ix0, top: iy0, width: ix1 - ix0, height: iy1 - iy0 });
  if (left + top + right + bottom > 0) region = region.extend({ left, top, right, bottom, extendWith: 'copy' });
  let kx = 1, ky = 1, rw = regionWidth, rh = regionHeight;
  if (prefilter > 1) {
    rw = Math.max(1, Math.round(regionWidth / prefilter));
    rh = Math.max(1, Math.round(regionHeight / prefilter));
    kx = rw / regionWidth;
    ky = rh / regionHeight;
    region = sharp(await keepBands(region).raw({ depth: 'uchar' }).toBuffer(), { raw: { width: regionWidth, height: regionHeight, channels }, limitInputPixels: false })
      .resize(rw, rh, { kernel: 'lanczos3', fit: 'fill' });
  }
  const regionData: Uint8Array = await keepBands(region).raw({ depth: 'uchar' }).toBuffer();
  // G: destination continuous → region continuous = diag(kx, ky) · (inverse − origin).
  const g = [kx * a, kx * b, kx * (c - ox), ky * d, ky * e, ky * (f - oy)] as const;
  // libvips' forward matrix M = G's linear part inverted.
  const det = g[0] * g[4] - g[1] * g[3];
  const m: [number, number, number, number] = [g[4] / det, -g[1] / det, -g[3] / det, g[0] / det];
  const mapped = [
    [0, 0],
    [rw, 0],
    [0, rh],
    [rw, rh],
  ].map(([x, y]) => [m[0] * x! + m[1] * y!, m[2] * x! + m[3] * y!] as const);
  const minX = Math.min(...mapped.map((p) => p[0])), maxX = Math.max(...mapped.map((p) => p[0]));
  const minY = Math.min(...mapped.map((p) => p[1])), maxY = Math.max(...mapped.map((p) => p[1]));
  const Lx = Math.floor(minX + 0.5), Ly = Math.floor(minY + 0.5);
  // Region index sampled for output index (i, j): G·(i + x0 + 0.5, j + y0 + 0.5) − 0.5, which libvips computes as
  // M⁻¹·((i, j) + L) − id.
  const px = x0 + 0.5 - Lx, py = y0 + 0.5 - Ly;
  const idx = -(g[0] * px + g[1] * py + g[2] - 0.5);
  const idy = -(g[3] * px + g[4] * py + g[5] - 0.5);
  const { data: warped, info } = await keepBands(
    sharp(regionData, { raw: { width: rw, height: rh, channels }, limitInputPixels: false }).affine(m, {
      interpolator: req.interpolator,
      idx,
      idy,
      odx: 0,
      ody: 0,
    }),
  )
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.width !== Math.floor(maxX - minX + 0.5) || info.height !== Math.floor(maxY - minY + 0.5) || info.channels !== channels) {
    throw new Error(`Warp: libvips returned ${info.width}×${info.height}×${info.channels}, not the bounds its affine convention predicts.`);
  }
  if (info.width < outWidth || info.height < outHeight) {
    throw new Error(`Warp: libvips returned ${info.width}×${info.height}, smaller than the ${outWidth}×${outHeight} asked for.`);
  }
  const out = new Uint8Array(warped.buffer, warped.byteOffset, warped.byteLength);
  return info.width === outWidth && info.height === outHeight ? out : copyRect(out, info.width, channels, 0, 0, outWidth, outHeight);
}
