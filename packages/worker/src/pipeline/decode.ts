import { PermanentError } from '../errors.js';
import { readImage, readImageHeader } from './image.js';
import type { DecodedImage } from './types.js';

/** 64 megapixels: a 8000×8000 photo; at upscale 4 its output is already 1 GiB of RGB. */
export const DEFAULT_MAX_PIXELS = 64_000_000;

export interface DecodeOptions {
  /** Inputs with more pixels fail with IMAGE_TOO_LARGE before any pixel is decoded. @default DEFAULT_MAX_PIXELS */
  readonly maxPixels?: number;
}

/**
 * Stage 1: bytes → 8-bit RGB with EXIF orientation applied, grey and 16-bit inputs converted, alpha split off.
 * Fails with PermanentError INVALID_IMAGE (not an image, truncated, corrupt) or IMAGE_TOO_LARGE (checked from
 * the header, so a decompression bomb costs nothing).
 */
export async function decode(input: Uint8Array, options?: DecodeOptions): Promise<DecodedImage> {
  const maxPixels = options?.maxPixels ?? DEFAULT_MAX_PIXELS;
  const { width, height } = await readImageHeader(input);
  if (width * height > maxPixels) throw new PermanentError('IMAGE_TOO_LARGE', tooLargeMessage(width, height, maxPixels));
  return readImage(input, { maxPixels });
}

/**
 * "8001×8000 is 64,008,000 pixels; the limit is 64,000,000 pixels (64.0 MP)": exact counts, since a photo a few
 * pixels over the limit rounds to the same megapixels as the limit.
 */
export function tooLargeMessage(width: number, height: number, maxPixels: number): string {
  const n = (v: number) => v.toLocaleString('en-US');
  return `The image is ${width}×${height} = ${n(width * height)} pixels (${(width * height / 1e6).toFixed(1)} MP); the limit is ${n(maxPixels)} pixels (${(maxPixels / 1e6).toFixed(1)} MP).`;
}
