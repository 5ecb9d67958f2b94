// STUB — owned by the image/geometry helper.
import type { Affine, RgbImage } from './types.js';

export interface FaceToPaste {
  /** The restored face, square. */
  readonly face: RgbImage;
  /** Maps input-image coordinates to `face` coordinates (the affine alignFace returned, for a face of this size). */
  readonly affine: Affine;
}

/**
 * Stage 5: composites restored faces, one after another, over `background` (the input upscaled by `upscale`),
 * with facexlib's soft square mask. `sourceWidth/Height` are the input's size: parts of a face square that fall
 * outside the input photo are masked out so the crop's border colour never bleeds in.
 */
export function pasteFaces(
  _background: RgbImage,
  _faces: readonly FaceToPaste[],
  _options: { readonly upscale: number; readonly sourceWidth: number; readonly sourceHeight: number },
): RgbImage {
  throw new Error('not implemented');
}
