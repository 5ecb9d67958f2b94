// STUB — owned by the ONNX helper.
import type { SessionOptions } from './inference.js';
import type { DetectedFace, RgbImage } from './types.js';

export type DetectorKind = 'yunet' | 'scrfd' | 'retinaface';

export interface DetectOptions {
  /** @default 0.5 */
  readonly scoreThreshold?: number;
  /** @default 0.4 */
  readonly nmsIouThreshold?: number;
  /** Faces whose eyes are closer than this (in input pixels) are dropped. @default 5 */
  readonly minEyeDistancePx?: number;
}

/** Stage 2: finds faces with 5 landmarks. Letterboxes the photo to the model's input, keeping the aspect ratio. */
export class FaceDetector {
  readonly kind: DetectorKind = 'yunet';
  static async create(_modelPath: string, _options: SessionOptions & { readonly kind: DetectorKind }): Promise<FaceDetector> {
    throw new Error('not implemented');
  }
  /** Faces sorted by score, highest first, in `image`'s coordinates. */
  async detect(_image: RgbImage, _options?: DetectOptions): Promise<DetectedFace[]> {
    throw new Error('not implemented');
  }
  async dispose(): Promise<void> {}
}
