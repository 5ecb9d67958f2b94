// STUB — owned by the ONNX helper.
import type { SessionOptions } from './inference.js';
import type { RgbImage } from './types.js';

/** ONNX super-resolution for the background, run in tiles so memory stays bounded. */
export class BackgroundUpsampler {
  /** The model's own scale factor (read from its output shape or a test run). */
  readonly modelScale: number = 2;
  static async create(_modelPath: string, _options: SessionOptions & { readonly tileSizePx?: number; readonly tilePadPx?: number }): Promise<BackgroundUpsampler> {
    throw new Error('not implemented');
  }
  /** Returns the image scaled by `outScale` (the model's scale, then Lanczos to the exact size if they differ). */
  async upscale(_image: RgbImage, _outScale: number): Promise<RgbImage> {
    throw new Error('not implemented');
  }
  async dispose(): Promise<void> {}
}
