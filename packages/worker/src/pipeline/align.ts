// STUB — owned by the image/geometry helper.
import type { Affine, Landmarks5, Point, RgbImage } from './types.js';

/** facexlib's FFHQ-512 five-point template. */
export const FFHQ_512_TEMPLATE: Landmarks5 = [
  [192.98138, 239.94708],
  [318.90277, 240.1936],
  [256.63416, 314.01935],
  [201.26117, 371.41043],
  [313.08905, 371.15118],
];
/** facexlib fills the outside of the photo with this colour when it crops a face near an edge. */
export const CROP_BORDER_RGB = [135, 133, 132] as const;

export function estimateSimilarity(_from: readonly Point[], _to: readonly Point[]): Affine {
  throw new Error('not implemented');
}
export function applyAffine(_m: Affine, _p: Point): Point {
  throw new Error('not implemented');
}
export function invertAffine(_m: Affine): Affine {
  throw new Error('not implemented');
}
export interface AlignedFace {
  /** size×size crop. */
  readonly crop: RgbImage;
  /** Maps input-image coordinates to crop coordinates. */
  readonly affine: Affine;
}
/** Stage 3: similarity transform from the landmarks to the template scaled to `size`, then the warp. */
export function alignFace(_image: RgbImage, _landmarks: Landmarks5, _size: number): AlignedFace {
  throw new Error('not implemented');
}
