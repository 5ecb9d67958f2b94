import { requestedOutputFormat, type OutputExt } from '@revive/contract';
import { resizePlane, writeImage, writeImageFile, type WriteImageOptions } from './image.js';
import type { EncodedFormat, ImageFormat, RgbImage } from './types.js';

/** GFPGAN writes with OpenCV's JPEG quality 95; so does Revive. */
export const DEFAULT_QUALITY = 95;

/** `auto` keeps the input's format (formats Revive does not write become PNG); alpha always forces PNG. */
export function resolveOutputFormat(ext: OutputExt, input: ImageFormat, hasAlpha: boolean): EncodedFormat {
  return requestedOutputFormat(ext, input, hasAlpha);
}

/** File extension for a format: jpeg → 'jpg'. */
export function extensionOf(format: EncodedFormat): string {
  return format === 'jpeg' ? 'jpg' : format;
}

// Encoder settings, measured on a 3132×4584 photo (14 MP, the size of a 2× result) against OpenCV's imencode on
// the same pixels, same run, 2 loaded cores (bench/encode.bench.ts prints the full table):
//   PNG  sharp level 6 (its default) 2160 ms 18.7 MB; level 1 1613 ms 24.4 MB; level 1 + adaptive filtering
//        1287 ms 14.0 MB; level 6 + adaptive 6322 ms 7.4 MB;      OpenCV (level 1) 1657 ms 12.0 MB
//   JPEG q95 with Huffman optimisation (sharp's default) 1881 ms 1.94 MB; without 202 ms 1.96 MB;  OpenCV 158 ms 1.96 MB
//   WebP q95 effort 4 (default) 7174 ms 1.02 MB; effort 0 1902 ms 1.01 MB;                       OpenCV 4738 ms 1.02 MB

/** zlib level 1 with adaptive row filters: faster than sharp's level 6 and 25% smaller. @default 1 */
export const DEFAULT_PNG_COMPRESSION_LEVEL = 1;
/** @default true */
export const DEFAULT_PNG_ADAPTIVE_FILTERING = true;
/** Huffman optimisation makes JPEGs 1% smaller for 9× the encode time: off, as in OpenCV. @default false */
export const DEFAULT_JPEG_OPTIMISE_CODING = false;
/** WebP effort 0: 3.7× faster than effort 4 at the same size and quality setting. @default 0 */
export const DEFAULT_WEBP_EFFORT = 0;

export interface EncodeOptions {
  /** JPEG/WebP quality. @default 95 */
  readonly quality?: number;
}

/**
 * Brings a decoded alpha plane to the output's size (Lanczos, as the background), so an RGBA input keeps its
 * transparency in the restored PNG.
 */
export async function upscaleAlpha(
  alpha: Uint8Array,
  width: number,
  height: number,
  toWidth: number,
  toHeight: number,
): Promise<Uint8Array> {
  return resizePlane(alpha, width, height, toWidth, toHeight, 'lanczos3');
}

function writeOptions(options: EncodeOptions | undefined): WriteImageOptions {
  return {
    quality: options?.quality ?? DEFAULT_QUALITY,
    png: { compressionLevel: DEFAULT_PNG_COMPRESSION_LEVEL, adaptiveFiltering: DEFAULT_PNG_ADAPTIVE_FILTERING },
    jpeg: { optimiseCoding: DEFAULT_JPEG_OPTIMISE_CODING },
    webp: { effort: DEFAULT_WEBP_EFFORT },
  };
}

function assertAlphaFits(alpha: Uint8Array | undefined, format: EncodedFormat): void {
  if (alpha !== undefined && format === 'jpeg') {
    throw new RangeError('encode: JPEG cannot carry alpha; resolveOutputFormat picks PNG for images with alpha.');
  }
}

/** Stage 6: pixels → bytes. An alpha plane must already be the image's size (see `upscaleAlpha`). */
export async function encode(
  image: RgbImage,
  alpha: Uint8Array | undefined,
  format: EncodedFormat,
  options?: EncodeOptions,
): Promise<Uint8Array> {
  assertAlphaFits(alpha, format);
  return writeImage(image, alpha, format, writeOptions(options));
}

/**
 * Stage 6 into a file: the same bytes as `encode`, written as the encoder makes them, so a large result is never
 * held in memory whole. Resolves with the file's size.
 */
export async function encodeToFile(
  image: RgbImage,
  alpha: Uint8Array | undefined,
  format: EncodedFormat,
  file: string,
  options?: EncodeOptions,
): Promise<number> {
  assertAlphaFits(alpha, format);
  return writeImageFile(image, alpha, format, file, writeOptions(options));
}
