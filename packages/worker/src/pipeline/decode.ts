// STUB — owned by the image helper.
import type { DecodedImage } from './types.js';

/** 64 megapixels: a 8000×8000 photo; at upscale 4 its output is already 1 GiB of RGB. */
export const DEFAULT_MAX_PIXELS = 64_000_000;

export interface DecodeOptions {
  /** Inputs with more pixels fail with IMAGE_TOO_LARGE before any pixel is decoded. @default DEFAULT_MAX_PIXELS */
  readonly maxPixels?: number;
}

/** Stage 1: bytes → 8-bit RGB with EXIF orientation applied; fails with INVALID_IMAGE or IMAGE_TOO_LARGE. */
export async function decode(_input: Uint8Array, _options?: DecodeOptions): Promise<DecodedImage> {
  throw new Error('not implemented');
}
