import { requestedOutputFormat, type OutputExt } from '@revive/contract';
import { writeImage, writeImageFile, type WriteImageOptions } from './image.js';
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

// Encoder settings (docs/decisions/encode-settings.md; bench/encode.bench.ts prints the table, CPU ms and size at
// upscale 2 of a 512² crop / Blake_Lively.jpg / 10045.png, 2026-12-06, a loaded 2-core machine):
//   PNG  level 1 adaptive 28/54/125 ms 0.75/2.59/5.62 MB; level 2 adaptive 32/68/149 ms 0.47/1.83/3.66 MB;
//        level 1 unfiltered 13/33/74 ms 1.17/3.41/8.36 MB; level 6 adaptive 74/115/416 ms 0.38/1.74/3.23 MB;
//        OpenCV level 1 (wall) 85/148/436 ms 0.62/2.09/4.33 MB
//   JPEG q95 Huffman optimisation on 10/17/33 ms; off 4/6/12 ms, 0–5 % larger;  OpenCV (wall) 21/13/39 ms
//   WebP q95 effort 4 75/137/332 ms; effort 0 23/49/100 ms, the same size;      OpenCV (wall) 273/415/1018 ms

/**
 * zlib level 2 with adaptive row filters: 35 % smaller than level 1 for 15–25 % more encode time, smaller and faster
 * than OpenCV's PNG. libvips' zlib-ng makes level 1 a much weaker "quick" deflate, so level 2 is where size drops.
 * Palette (quantised) PNG stays off: it would change the restored pixels. @default 2
 */
export const DEFAULT_PNG_COMPRESSION_LEVEL = 2;
/** @default true */
export const DEFAULT_PNG_ADAPTIVE_FILTERING = true;
/** Huffman optimisation makes JPEGs 0–5 % smaller for 2.5–3× the encode time (9× on a 14 MP result): off, as in OpenCV. @default false */
export const DEFAULT_JPEG_OPTIMISE_CODING = false;
/** WebP effort 0: a third of effort 4's encode time at the same size and quality setting. @default 0 */
export const DEFAULT_WEBP_EFFORT = 0;

/**
 * What an encoded file is for: a `result` is kept and downloaded, so its PNG is the smallest at a small cost (level
 * 2, adaptive filters); an `inspection` copy (the CLI's cropped_faces/, restored_faces/, cmp/) is looked at once,
 * so its PNG is the fastest (level 1, unfiltered: half the CPU, about twice the bytes).
 */
export type EncodePurpose = 'result' | 'inspection';
/** @default 'result' */
export const DEFAULT_ENCODE_PURPOSE: EncodePurpose = 'result';
/** zlib level of an `inspection` PNG. @default 1 */
export const INSPECTION_PNG_COMPRESSION_LEVEL = 1;
/** Row filters of an `inspection` PNG. @default false */
export const INSPECTION_PNG_ADAPTIVE_FILTERING = false;

export interface EncodeOptions {
  /** JPEG/WebP quality. @default 95 */
  readonly quality?: number;
  /** @default DEFAULT_ENCODE_PURPOSE */
  readonly purpose?: EncodePurpose;
}

function writeOptions(options: EncodeOptions | undefined): WriteImageOptions {
  return {
    quality: options?.quality ?? DEFAULT_QUALITY,
    png:
      (options?.purpose ?? DEFAULT_ENCODE_PURPOSE) === 'inspection'
        ? { compressionLevel: INSPECTION_PNG_COMPRESSION_LEVEL, adaptiveFiltering: INSPECTION_PNG_ADAPTIVE_FILTERING }
        : { compressionLevel: DEFAULT_PNG_COMPRESSION_LEVEL, adaptiveFiltering: DEFAULT_PNG_ADAPTIVE_FILTERING },
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
