import { PermanentError } from './errors.js';
import { resizeImage } from './image.js';
import { OnnxModel, describeTensor } from './inference.js';
import type { ModelMetadata, SessionOptions } from './inference.js';
import type { RgbImage } from './types.js';

/**
 * 256 px: a 256² tile at x4 is a 1024² float32 output (12 MiB), so memory stays flat whatever the photo size,
 * while tiles stay large enough that the per-run overhead is small.
 */
export const DEFAULT_TILE_SIZE_PX = 256;
/**
 * 16 px of context around each tile (Real-ESRGAN uses 10): enough for small SR networks' receptive field,
 * so seams don't show (the test compares tiled with untiled output).
 */
export const DEFAULT_TILE_PAD_PX = 16;
/** Side of the probe input used to measure the model's scale. */
const PROBE_SIZE_PX = 16;

export interface BackgroundUpsamplerOptions extends SessionOptions {
  /** Tile side in input pixels; 0 runs the whole image at once. @default DEFAULT_TILE_SIZE_PX */
  readonly tileSizePx?: number;
  /** Context added on every side of a tile and cropped from its output. @default DEFAULT_TILE_PAD_PX */
  readonly tilePadPx?: number;
}

function validate(model: ModelMetadata): void {
  const input = model.inputs[0];
  const output = model.outputs[0];
  if (model.inputs.length !== 1 || !input) throw new Error(`an upsampler has one image input, found ${model.inputs.length}`);
  if (input.type !== 'float32' || input.shape.length !== 4 || input.shape[1] !== 3) {
    throw new Error(`upsampler input ${describeTensor(input)} must be float32 [b,3,h,w]`);
  }
  // Tiles at the right and bottom edges are smaller than the others: the model must take any size.
  if (input.shape[2] !== null || input.shape[3] !== null) throw new Error(`upsampler input ${describeTensor(input)} must have dynamic height and width`);
  if (!output || output.type !== 'float32' || output.shape.length !== 4) throw new Error('upsampler output must be float32 [b,3,H,W]');
}

/** ONNX super-resolution for the background, run in tiles so memory stays bounded. */
export class BackgroundUpsampler {
  /** The model's own scale factor (read from its output shape or a test run). */
  readonly modelScale: number = 2;
  readonly #model: OnnxModel;
  readonly #tileSizePx: number;
  readonly #tilePadPx: number;

  private constructor(model: OnnxModel, modelScale: number, tileSizePx: number, tilePadPx: number) {
    this.#model = model;
    this.modelScale = modelScale;
    this.#tileSizePx = tileSizePx;
    this.#tilePadPx = tilePadPx;
  }

  /**
   * Loads an upsampler with efrlfn's / Real-ESRGAN's contract (`[b,3,h,w]` RGB 0..1 → `[b,3,h·s,w·s]`). The scale
   * is measured with a small probe run because exports often declare their output dims with the input's names.
   */
  static async create(modelPath: string, options: BackgroundUpsamplerOptions): Promise<BackgroundUpsampler> {
    const tileSizePx = options.tileSizePx ?? DEFAULT_TILE_SIZE_PX;
    const tilePadPx = options.tilePadPx ?? DEFAULT_TILE_PAD_PX;
    if (!Number.isInteger(tileSizePx) || tileSizePx < 0 || !Number.isInteger(tilePadPx) || tilePadPx < 0) {
      throw new PermanentError('CONFIG', `upsampler tileSizePx and tilePadPx must be non-negative integers, got ${tileSizePx} and ${tilePadPx}`);
    }
    const model = await OnnxModel.create(modelPath, { ...options, validate });
    try {
      const probe = await model.run({
        [model.inputs[0]!.name]: { type: 'float32', data: new Float32Array(3 * PROBE_SIZE_PX * PROBE_SIZE_PX), dims: [1, 3, PROBE_SIZE_PX, PROBE_SIZE_PX] },
      });
      const dims = probe[model.outputs[0]!.name]?.dims ?? [];
      const scale = (dims[3] ?? 0) / PROBE_SIZE_PX;
      if (!Number.isInteger(scale) || scale < 1 || dims[2] !== dims[3] || dims[1] !== 3) {
        throw new PermanentError('MODEL_INVALID', `Model ${modelPath} does not fit: a ${PROBE_SIZE_PX}² input gave [${dims.join(',')}], not an integer upscale`);
      }
      return new BackgroundUpsampler(model, scale, tileSizePx, tilePadPx);
    } catch (error) {
      await model.dispose();
      throw error;
    }
  }

  /** Returns the image scaled by `outScale` (the model's scale, then Lanczos to the exact size if they differ). */
  async upscale(image: RgbImage, outScale: number): Promise<RgbImage> {
    const s = this.modelScale;
    const { width, height } = image;
    const out = new Uint8Array(width * s * height * s * 3);
    const tile = this.#tileSizePx > 0 ? this.#tileSizePx : Math.max(width, height);
    const pad = this.#tileSizePx > 0 ? this.#tilePadPx : 0;
    // Real-ESRGAN's tile_process: run each tile with `pad` pixels of context (clamped at the photo's edges),
    // then keep only the output of the tile itself, so neighbouring tiles meet without seams.
    for (let ty = 0; ty < height; ty += tile) {
      for (let tx = 0; tx < width; tx += tile) {
        const x0 = Math.max(0, tx - pad);
        const y0 = Math.max(0, ty - pad);
        const x1 = Math.min(width, tx + tile + pad);
        const y1 = Math.min(height, ty + tile + pad);
        const tw = x1 - x0;
        const th = y1 - y0;
        const plane = tw * th;
        const input = new Float32Array(plane * 3);
        for (let y = 0; y < th; y++) {
          let src = ((y0 + y) * width + x0) * 3;
          for (let x = 0; x < tw; x++, src += 3) {
            const i = y * tw + x;
            input[i] = image.data[src]! / 255;
            input[plane + i] = image.data[src + 1]! / 255;
            input[2 * plane + i] = image.data[src + 2]! / 255;
          }
        }
        const result = await this.#model.run({ [this.#model.inputs[0]!.name]: { type: 'float32', data: input, dims: [1, 3, th, tw] } });
        const tensor = result[this.#model.outputs[0]!.name];
        const ow = tw * s;
        const oplane = ow * th * s;
        if (!tensor || !(tensor.data instanceof Float32Array) || tensor.data.length !== oplane * 3) {
          throw new PermanentError('MODEL_INVALID', `upsampler ${this.#model.path} returned [${tensor?.dims.join(',') ?? ''}] for a ${tw}×${th} tile`);
        }
        const data = tensor.data;
        // Copy the tile's own area (without the context) into place, RGB interleaved, clamped like tensor2img.
        const keepX0 = (tx - x0) * s;
        const keepY0 = (ty - y0) * s;
        const keepW = (Math.min(width, tx + tile) - tx) * s;
        const keepH = (Math.min(height, ty + tile) - ty) * s;
        for (let y = 0; y < keepH; y++) {
          let dst = ((ty * s + y) * width * s + tx * s) * 3;
          let srcIndex = (keepY0 + y) * ow + keepX0;
          for (let x = 0; x < keepW; x++, dst += 3, srcIndex++) {
            for (let c = 0; c < 3; c++) {
              const v = data[c * oplane + srcIndex]!;
              out[dst + c] = Math.round((v < 0 ? 0 : v > 1 ? 1 : v) * 255);
            }
          }
        }
      }
    }
    const upscaled: RgbImage = { width: width * s, height: height * s, data: out };
    const targetWidth = Math.round(width * outScale);
    const targetHeight = Math.round(height * outScale);
    if (targetWidth === upscaled.width && targetHeight === upscaled.height) return upscaled;
    return resizeImage(upscaled, targetWidth, targetHeight, 'lanczos3');
  }

  async dispose(): Promise<void> {
    await this.#model.dispose();
  }
}
