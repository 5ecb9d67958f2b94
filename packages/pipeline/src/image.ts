// The only module that imports sharp: every codec and resampling call in the worker goes through here, so the
// libvips options that matter for safety (pixel limits, failOn) are set in one place.
import { availableParallelism } from 'node:os';
import sharp, { type Metadata, type OutputInfo, type Sharp } from 'sharp';
import { PermanentError } from './errors.js';
import { enlargeCubic, warpBicubic, type WarpSource } from './resample.js';
import type { Affine, DecodedImage, EncodedFormat, ImageFormat, RgbImage } from './types.js';

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
  /** EXIF orientation (1–8; 1 when absent): 5 to 8 turn the image by 90°, so its displayed width is `height`. */
  readonly orientation: number;
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
    orientation: meta.orientation ?? 1,
  };
}

/**
 * Decodes any format sharp reads into 8-bit sRGB with EXIF orientation applied and alpha split off (none when every
 * pixel is opaque).
 * The pixel limit is checked against the header first, so a decompression bomb fails before any allocation; a
 * caller that has read and checked the header already passes it as `header`, and it is neither parsed nor
 * checked again (libvips still refuses more than `maxPixels`).
 */
export async function readImage(input: Uint8Array, options: { readonly maxPixels: number; readonly header?: ImageHeader }): Promise<DecodedImage> {
  if (options.header !== undefined) return decodePixels(input, options.header, options.maxPixels);
  const header = await readImageHeader(input);
  const pixels = header.width * header.height;
  if (pixels > options.maxPixels) {
    throw new PermanentError(
      'IMAGE_TOO_LARGE',
      `The image is ${header.width}×${header.height} (${(pixels / 1e6).toFixed(1)} MP); the limit is ${(options.maxPixels / 1e6).toFixed(1)} MP.`,
    );
  }
  return decodePixels(input, header, options.maxPixels);
}

async function decodePixels(input: Uint8Array, header: ImageHeader, maxPixels: number): Promise<DecodedImage> {
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    // toColourspace('srgb') turns grey, 16-bit and CMYK inputs (and embedded ICC profiles) into 8-bit sRGB;
    // the raw output then has 3 channels, or 4 with alpha.
    let pipeline = sharp(input, { failOn: DECODE_FAIL_ON, limitInputPixels: maxPixels, autoOrient: true }).toColourspace('srgb');
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
  // All alpha bytes ANDed: 255 when every pixel is opaque.
  let opaque = 255;
  for (let i = 0, s = 0, d = 0; i < n; i++, s += 4, d += 3) {
    rgb[d] = src[s]!;
    rgb[d + 1] = src[s + 1]!;
    rgb[d + 2] = src[s + 2]!;
    opaque &= alpha[i] = src[s + 3]!;
  }
  // An alpha channel that is opaque everywhere (many PNG exports carry one) holds nothing: kept, it would be upscaled
  // and encoded beside the photo and would force PNG output where JPEG or WebP was asked.
  return { rgb: { width, height, data: rgb }, alpha: opaque === 255 ? undefined : alpha, format: header.format, isGrayscale: header.isGrayscale };
}

async function resizeRaw(
  data: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3 | 4,
  toWidth: number,
  toHeight: number,
  kernel: ResizeKernel,
  reuse: ResizeReuse = {},
): Promise<Uint8Array> {
  if (data.length !== width * height * channels) {
    throw new RangeError(`Resize: ${data.length} bytes is not ${width}×${height}×${channels}.`);
  }
  if (!(Number.isInteger(toWidth) && Number.isInteger(toHeight) && toWidth > 0 && toHeight > 0)) {
    throw new RangeError(`Resize: bad target size ${toWidth}×${toHeight}.`);
  }
  if (toWidth === width && toHeight === height) return data.slice();
  if (toWidth >= width && toHeight >= height && kernel !== 'nearest') {
    // Cubic: Catmull-Rom (libvips' bicubic) with exact pixel centres and replicated edges, separable (resample.ts).
    return kernel === 'cubic' ? enlargeCubic({ data, width, height, channels }, toWidth, toHeight, reuse.skip, reuse.into) : upsize(data, width, height, channels, toWidth, toHeight, kernel);
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
 * Enlargement (Lanczos-3 or linear; cubic runs in the WebAssembly kernels, see resizeRaw) with pixel centres aligned exactly (source x = (X + 0.5)·w/W − 0.5), edges replicated.
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

/** What a caller of resizeImage lets the `cubic` enlargement save (the other kernels ignore both). */
export interface ResizeReuse {
  /**
   * Output pixels the caller overwrites whole (enlargeCubic's runs, e.g. paste.ts opaqueRuns): left out, as zeros.
   * @default none
   */
  readonly skip?: Int32Array;
  /** A buffer of exactly the output's size to write the result into (see enlargeCubic). @default a new one */
  readonly into?: Uint8Array;
}

/** Resizes 8-bit RGB to exactly `width`×`height` (the aspect ratio is the caller's business). */
export async function resizeImage(image: RgbImage, width: number, height: number, kernel: ResizeKernel, reuse: ResizeReuse = {}): Promise<RgbImage> {
  const data = await resizeRaw(image.data, image.width, image.height, 3, width, height, kernel, reuse);
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

/** How `writeImage` and `writeImageFile` encode. */
export interface WriteImageOptions {
  readonly quality?: number;
  /** EXIF orientation tag (1–8) to record; tests use it to make rotated inputs. @default none */
  readonly exifOrientation?: number;
  /** Encoder effort, passed through to sharp (encode.ts holds Revive's measured defaults). @default sharp's */
  readonly png?: { readonly compressionLevel: number; readonly adaptiveFiltering: boolean };
  readonly jpeg?: { readonly optimiseCoding: boolean };
  readonly webp?: { readonly effort: number };
}

/** The libvips pipeline from raw planes to an encoder, shared by the in-memory and the file output. */
function encoderFor(image: RgbImage, alpha: Uint8Array | undefined, format: EncodedFormat, options: WriteImageOptions | undefined): Sharp {
  const { width, height } = image;
  const n = width * height;
  if (image.data.length !== n * 3) throw new RangeError(`Encode: ${image.data.length} bytes is not ${width}×${height}×3.`);
  if (alpha !== undefined) {
    if (alpha.length !== n) throw new RangeError(`Encode: alpha has ${alpha.length} bytes, not ${n}.`);
    if (format === 'jpeg') throw new RangeError('Encode: JPEG cannot carry alpha.');
  }
  // The alpha plane is joined inside libvips, which streams both planes into the encoder: an interleaved RGBA copy
  // made here cost 4 bytes per output pixel (4 GiB for a 1,024 MP output) on top of the planes themselves.
  const rgb = sharp(image.data, { raw: { width, height, channels: 3 }, limitInputPixels: false });
  const plain = alpha === undefined ? rgb : rgb.joinChannel(Buffer.from(alpha.buffer, alpha.byteOffset, alpha.byteLength), { raw: { width, height, channels: 1 }, limitInputPixels: false });
  const base = options?.exifOrientation === undefined ? plain : plain.withMetadata({ orientation: options.exifOrientation });
  const quality = options?.quality;
  return format === 'jpeg' ? base.jpeg({ ...options?.jpeg, ...(quality !== undefined && { quality }) })
    : format === 'webp' ? base.webp({ ...options?.webp, ...(quality !== undefined && { quality }) })
    : base.png({ ...options?.png });
}

/**
 * Callers check each format's largest side first (planOutput in the contract); should libvips still refuse a size,
 * the job fails for what it is, a permanent OUTPUT_TOO_LARGE, not an INTERNAL bug to be retried.
 */
function encodeError(error: unknown, image: RgbImage, format: EncodedFormat): unknown {
  const reason = error instanceof Error ? error.message.trim() : String(error);
  if (/too large for the|maximum supported image dimension/i.test(reason)) {
    return new PermanentError('OUTPUT_TOO_LARGE', `The ${image.width}×${image.height} output cannot be written as ${format}: ${reason}`, { cause: error });
  }
  return error;
}

/** Encodes RGB, plus alpha when given (the caller picks a format that keeps it: PNG or WebP). */
export async function writeImage(image: RgbImage, alpha: Uint8Array | undefined, format: EncodedFormat, options?: WriteImageOptions): Promise<Uint8Array> {
  const encoder = encoderFor(image, alpha, format, options);
  let out: Buffer;
  try {
    out = await encoder.toBuffer();
  } catch (error) {
    throw encodeError(error, image, format);
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * As `writeImage`, into a file: libvips writes the encoded bytes as it makes them, so they are never held in memory
 * (a 13200×13200 PNG of noise is 541 MB). The format is `format`, whatever the file's name. Resolves with the size.
 */
export async function writeImageFile(image: RgbImage, alpha: Uint8Array | undefined, format: EncodedFormat, file: string, options?: WriteImageOptions): Promise<number> {
  const encoder = encoderFor(image, alpha, format, options);
  try {
    return (await encoder.toFile(file)).size;
  } catch (error) {
    throw encodeError(error, image, format);
  }
}

/**
 * Encodes a flat image of any size without holding its pixels: libvips generates and encodes it in strips. Tests
 * and benches make decompression bombs with it (an 8000×8000 RGBA PNG of one colour is 265 KB). Besides the
 * formats the worker writes, it writes the other formats it reads (GIF, TIFF, AVIF), small ones at least.
 */
export async function writeSolidImage(
  width: number,
  height: number,
  channels: 1 | 3 | 4,
  format: EncodedFormat | 'gif' | 'tiff' | 'avif',
  options?: { readonly compressionLevel?: number },
): Promise<Uint8Array> {
  const background = { r: 120, g: 90, b: 60, alpha: 0.5 };
  const created = sharp({ create: { width, height, channels: channels === 1 ? 3 : channels, background }, limitInputPixels: false });
  const coloured = channels === 1 ? created.toColourspace('b-w') : created;
  const encoder =
    format === 'gif' || format === 'tiff' || format === 'avif' ? coloured.toFormat(format)
    : format === 'jpeg' ? coloured.jpeg()
    : format === 'webp' ? coloured.webp()
    : coloured.png({ compressionLevel: options?.compressionLevel ?? 9 });
  const out = await encoder.toBuffer();
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** What `warpRaw` samples: destination pixel (X, Y) of the rectangle takes the source at `inverse`(X+0.5, Y+0.5). */
export interface WarpRawRequest {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3 | 4;
  /** Destination (continuous, pixel centres at i+0.5) → source (same convention). */
  readonly inverse: Affine;
  readonly x0: number;
  readonly y0: number;
  readonly outWidth: number;
  readonly outHeight: number;
}

/** The part of a warp's source that its destination rectangle needs, ready for a resampling kernel. */
export interface WarpSourceRegion extends WarpSource {
  /** Destination continuous → region continuous. */
  readonly toRegion: Affine;
}

/**
 * Source pixels kept around the pre-image of the destination rectangle: bicubic reaches 2 pixels; the rest of the
 * margin absorbs rounding of the bounding box.
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
 * Copies the source rectangle [x0, x1)×[y0, y1), which may reach past the source, with the source's edge pixels
 * replicated outside it (what libvips' `extend: copy` does, without a second libvips round trip).
 */
export function replicatedRect(src: Uint8Array, W: number, H: number, channels: number, x0: number, y0: number, x1: number, y1: number): Uint8Array {
  const w = x1 - x0, h = y1 - y0, row = w * channels;
  const out = new Uint8Array(w * h * channels);
  // The columns of the source inside the rectangle (empty when it lies wholly left or right of the source).
  const inX0 = Math.max(x0, 0), inX1 = Math.min(x1, W);
  const left = inX0 - x0, right = x1 - inX1;
  const outside = inX1 <= inX0 ? (x1 <= 0 ? 0 : W - 1) : -1;
  /** `count` copies of the pixel at `from`, written from `to` on, in O(log count) copies. */
  const repeat = (from: number, to: number, count: number): void => {
    if (count <= 0) return;
    out.copyWithin(to, from, from + channels);
    for (let done = 1; done < count; done *= 2) out.copyWithin(to + done * channels, to, to + Math.min(done, count - done) * channels);
  };
  let previousSy = -1;
  for (let j = 0; j < h; j++) {
    const sy = Math.min(Math.max(y0 + j, 0), H - 1);
    const d = j * row;
    // Rows above and below the source repeat its first and last row.
    if (sy === previousSy) {
      out.copyWithin(d, d - row, d);
      continue;
    }
    previousSy = sy;
    const s = sy * W * channels;
    if (outside >= 0) {
      out.set(src.subarray(s + outside * channels, s + (outside + 1) * channels), d);
      repeat(d, d + channels, w - 1);
      continue;
    }
    out.set(src.subarray(s + inX0 * channels, s + inX1 * channels), d + left * channels);
    repeat(d + left * channels, d, left);
    repeat(d + (w - right - 1) * channels, d + (w - right) * channels, right);
  }
  return out;
}

/**
 * The source region under a warp's destination rectangle: only the pixels its taps reach, and, when the warp
 * shrinks by more than WARP_MAX_SHRINK, that region (edges replicated) reduced first with libvips' Lanczos-3
 * (antialiasing, which OpenCV's warpAffine lacks), so the bicubic taps never alias. Without a shrink no libvips
 * call is made: the region is the clipped rectangle, and the kernels replicate the edges themselves.
 */
export async function warpSourceRegion(req: WarpRawRequest): Promise<WarpSourceRegion> {
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
  // The region of the source the rectangle needs, in whole pixels.
  const rx0 = Math.floor(Math.min(...corners.map((p) => p[0]))) - margin;
  const ry0 = Math.floor(Math.min(...corners.map((p) => p[1]))) - margin;
  const rx1 = Math.ceil(Math.max(...corners.map((p) => p[0]))) + margin;
  const ry1 = Math.ceil(Math.max(...corners.map((p) => p[1]))) + margin;
  if (prefilter === 1) {
    // Clamped to the source (at least 1 pixel): taps beyond it are the kernels' replicated edge.
    const ix0 = Math.min(Math.max(rx0, 0), W - 1), iy0 = Math.min(Math.max(ry0, 0), H - 1);
    const ix1 = Math.max(Math.min(rx1, W), ix0 + 1), iy1 = Math.max(Math.min(ry1, H), iy0 + 1);
    const whole = ix0 === 0 && iy0 === 0 && ix1 === W && iy1 === H;
    return {
      data: whole ? req.data : copyRect(req.data, W, channels, ix0, iy0, ix1 - ix0, iy1 - iy0),
      width: ix1 - ix0,
      height: iy1 - iy0,
      channels,
      toRegion: [a, b, c - ix0, d, e, f - iy0],
    };
  }
  // Reduced as a whole rectangle, edges replicated first, so the reduce near the photo's edge sees what the
  // kernels would have replicated.
  const regionWidth = rx1 - rx0, regionHeight = ry1 - ry0;
  const rw = Math.max(1, Math.round(regionWidth / prefilter));
  const rh = Math.max(1, Math.round(regionHeight / prefilter));
  const kx = rw / regionWidth, ky = rh / regionHeight;
  const padded = replicatedRect(req.data, W, H, channels, rx0, ry0, rx1, ry1);
  const reduced = sharp(padded, { raw: { width: regionWidth, height: regionHeight, channels }, limitInputPixels: false }).resize(rw, rh, {
    kernel: 'lanczos3',
    fit: 'fill',
  });
  // Without it sharp writes a one-channel input back out as three-channel sRGB.
  const data = await (channels === 1 ? reduced.toColourspace('b-w') : reduced).raw({ depth: 'uchar' }).toBuffer();
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    width: rw,
    height: rh,
    channels,
    toRegion: [kx * a, kx * b, kx * (c - rx0), ky * d, ky * e, ky * (f - ry0)],
  };
}

/**
 * Affine resampling with Revive's exact pixel-centre convention: the source region under the destination
 * rectangle (warpSourceRegion: prefiltered when the warp shrinks), warped by the bicubic kernel (resample.ts,
 * WebAssembly with SIMD) straight into the rectangle.
 */
export async function warpRaw(req: WarpRawRequest): Promise<Uint8Array> {
  const region = await warpSourceRegion(req);
  return warpBicubic(region, region.toRegion, req.x0, req.y0, req.outWidth, req.outHeight);
}
