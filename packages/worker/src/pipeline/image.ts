// The only module that imports sharp: every codec and resampling call in the worker goes through here, so the
// libvips options that matter for safety (pixel limits, failOn) are set in one place.
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { PermanentError } from '../errors.js';
import type { DecodedImage, EncodedFormat, ImageFormat, RgbImage } from './types.js';

export type ResizeKernel = 'lanczos3' | 'cubic' | 'linear' | 'nearest';

/**
 * How strict the decoder is with damaged pixel data. `error` rejects truncated files and corrupt entropy-coded
 * data, but not the harmless libjpeg warnings ("extraneous bytes") that many camera JPEGs carry and that
 * `warning` would reject.
 */
const DECODE_FAIL_ON = 'error' as const;

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
 * Enlargement (Lanczos-3, cubic or linear) with pixel centres aligned exactly (source x = (X + 0.5)·w/W − 0.5), edges replicated.
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
  for (let y = 0; y < height; y++) {
    const srcRow = y * width * channels;
    const dstRow = y * toWidth * channels;
    for (let X = 0; X < toWidth; X++) {
      for (let c = 0; c < channels; c++) {
        let acc = 0;
        for (let k = 0; k < T; k++) acc += h.weights[X * T + k]! * data[srcRow + h.index[X * T + k]! * channels + c]!;
        mid[dstRow + X * channels + c] = acc;
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
    format === 'jpeg' ? base.jpeg(quality === undefined ? {} : { quality })
    : format === 'webp' ? base.webp(quality === undefined ? {} : { quality })
    : base.png();
  const out = await encoder.toBuffer();
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
