import type { OutputExt } from '@revive/contract';
import { resizePlane, writeImage } from './image.js';
import type { EncodedFormat, ImageFormat, RgbImage } from './types.js';

/** GFPGAN writes with OpenCV's JPEG quality 95; so does Revive. */
export const DEFAULT_QUALITY = 95;

/** `auto` keeps the input's format (formats Revive does not write become PNG); alpha always forces PNG. */
export function resolveOutputFormat(ext: OutputExt, input: ImageFormat, hasAlpha: boolean): EncodedFormat {
  if (hasAlpha) return 'png';
  switch (ext) {
    case 'jpg':
      return 'jpeg';
    case 'png':
      return 'png';
    case 'webp':
      return 'webp';
    case 'auto':
      return input === 'other' ? 'png' : input;
  }
}

/** File extension for a format: jpeg → 'jpg'. */
export function extensionOf(format: EncodedFormat): string {
  return format === 'jpeg' ? 'jpg' : format;
}

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

/** Stage 6: pixels → bytes. An alpha plane must already be the image's size (see `upscaleAlpha`). */
export async function encode(
  image: RgbImage,
  alpha: Uint8Array | undefined,
  format: EncodedFormat,
  options?: EncodeOptions,
): Promise<Uint8Array> {
  if (alpha !== undefined && format === 'jpeg') {
    throw new RangeError('encode: JPEG cannot carry alpha; resolveOutputFormat picks PNG for images with alpha.');
  }
  return writeImage(image, alpha, format, { quality: options?.quality ?? DEFAULT_QUALITY });
}
