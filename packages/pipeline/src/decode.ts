import { DEFAULT_MAX_INPUT_PIXELS, planOutput, tooLargeMessage, type ImageLimits, type OutputPlan, type OutputPlanOptions } from '@revive/contract';
import { PermanentError } from './errors.js';
import { readImage, readImageHeader, type ImageHeader } from './image.js';
import type { DecodedImage } from './types.js';

export { tooLargeMessage } from '@revive/contract';

/** 64 megapixels: a 8000×8000 photo (the contract's DEFAULT_MAX_INPUT_PIXELS). */
export const DEFAULT_MAX_PIXELS = DEFAULT_MAX_INPUT_PIXELS;

export interface DecodeOptions {
  /** Inputs with more pixels fail with IMAGE_TOO_LARGE before any pixel is decoded. @default DEFAULT_MAX_PIXELS */
  readonly maxPixels?: number;
}

/** `decode`'s options when the caller has read the header already (`checkHeader` checked it): not read again. */
export interface DecodeWithHeaderOptions extends DecodeOptions {
  /** The input's header, already checked against `maxPixels`: decode neither parses nor checks it again. */
  readonly header?: ImageHeader;
}

/** The limits a job's output is checked against (see the contract's `planOutput`). */
export interface SizeCheckOptions extends DecodeOptions {
  /** @default the contract's DEFAULT_MAX_OUTPUT_PIXELS */
  readonly maxOutputPixels?: number;
  /** @default the contract's defaultJobMemoryMiB(1) */
  readonly jobMemoryMiB?: number;
}

/** Width and height as displayed: EXIF orientations 5 to 8 turn the image by 90°. */
export function displayedSize(header: ImageHeader): { readonly width: number; readonly height: number } {
  return header.orientation >= 5 ? { width: header.height, height: header.width } : { width: header.width, height: header.height };
}

/**
 * Checks a job against the size limits from the header alone, before any pixel is decoded (a decompression bomb
 * costs nothing): input pixels, output pixels (input × upscale²), the format's largest side and the working memory.
 * Resolves with the output's size and format (`ext: auto` falls back to PNG where the input's format cannot hold
 * the output); fails with PermanentError INVALID_IMAGE, IMAGE_TOO_LARGE or OUTPUT_TOO_LARGE.
 */
export async function checkSize(input: Uint8Array, job: OutputPlanOptions, options?: SizeCheckOptions): Promise<OutputPlan> {
  return checkHeader(await readImageHeader(input), job, options);
}

/** `checkSize` on a header already read (`readImageHeader`): the one place a job's size limits are checked. */
export function checkHeader(header: ImageHeader, job: OutputPlanOptions, options?: SizeCheckOptions): OutputPlan {
  const limits: ImageLimits = {
    ...(options?.maxPixels !== undefined && { maxInputPixels: options.maxPixels }),
    ...(options?.maxOutputPixels !== undefined && { maxOutputPixels: options.maxOutputPixels }),
    ...(options?.jobMemoryMiB !== undefined && { jobMemoryMiB: options.jobMemoryMiB }),
  };
  const plan = planOutput({ ...displayedSize(header), hasAlpha: header.hasAlpha, format: header.format }, job, limits);
  if (!plan.ok) throw new PermanentError(plan.code, plan.message);
  return plan;
}

/**
 * Stage 1: bytes → 8-bit RGB with EXIF orientation applied, grey and 16-bit inputs converted, alpha split off.
 * Fails with PermanentError INVALID_IMAGE (not an image, truncated, corrupt) or IMAGE_TOO_LARGE (checked from
 * the header, so a decompression bomb costs nothing).
 */
export async function decode(input: Uint8Array, options?: DecodeWithHeaderOptions): Promise<DecodedImage> {
  const maxPixels = options?.maxPixels ?? DEFAULT_MAX_PIXELS;
  let header = options?.header;
  if (header === undefined) {
    header = await readImageHeader(input);
    const { width, height } = header;
    if (width * height > maxPixels) throw new PermanentError('IMAGE_TOO_LARGE', tooLargeMessage(width, height, maxPixels));
  }
  return readImage(input, { maxPixels, header });
}
