// STUB — owned by the ONNX helper.
import type { SessionOptions } from './inference.js';
import type { RgbImage } from './types.js';

export interface RestoreOptions {
  /** 0 keeps the original crop, 1 the restored face. @default 1 */
  readonly blend?: number;
  /** Value fed to a CodeFormer-style `weight`/`w` input. @default 0.5 */
  readonly fidelity?: number;
}

/** Stage 4: one ONNX session per model, reused across faces and photos. */
export class FaceRestorer {
  /** Square input size read from the model's metadata (512 for GFPGAN). */
  readonly inputSize: number = 512;
  static async create(_modelPath: string, _options: SessionOptions): Promise<FaceRestorer> {
    throw new Error('not implemented');
  }
  async restore(_crop: RgbImage, _options?: RestoreOptions): Promise<RgbImage> {
    throw new Error('not implemented');
  }
  async dispose(): Promise<void> {}
}
