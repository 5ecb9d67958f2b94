import { readImage } from './image.js';
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
  return readImage(input, { maxPixels: options?.maxPixels ?? DEFAULT_MAX_PIXELS });
}
