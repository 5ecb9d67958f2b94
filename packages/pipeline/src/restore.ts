import { PermanentError } from './errors.js';
import { OnnxModel, RESTORER_SPIN_WAIT, describeTensor } from './inference.js';
import type { ModelMetadata, SessionOptions, TensorData, TensorInfo } from './inference.js';
import type { RgbImage } from './types.js';

/** 1: the restored face only, as GFPGAN writes it. */
export const DEFAULT_RESTORE_BLEND = 1;
import { DEFAULT_FIDELITY } from './defaults.js';

export { DEFAULT_FIDELITY };
/** Names CodeFormer-style exports give their fidelity input (facefusion's codeformer.onnx uses `weight`). */
const FIDELITY_INPUT_NAMES: ReadonlySet<string> = new Set(['weight', 'w']);

export interface FaceRestoreOptions {
  /** 0 keeps the original crop, 1 the restored face. @default DEFAULT_RESTORE_BLEND */
  readonly blend?: number;
  /** Value fed to a CodeFormer-style `weight`/`w` input; ignored by models without one. @default DEFAULT_FIDELITY */
  readonly fidelity?: number;
}

/** How a restorer is fed, read from its metadata once at load time. */
interface RestorerContract {
  readonly size: number;
  readonly image: TensorInfo;
  readonly fidelity: TensorInfo | undefined;
  readonly output: TensorInfo;
  /** The image input's batch dimension is symbolic: one run can restore several faces. */
  readonly batchable: boolean;
}

/**
 * Reads the contract shared by GFPGAN, CodeFormer, GPEN and RestoreFormer exports: one image input [N or 1,3,S,S]
 * float32 (square, fixed size, batch symbolic or 1), optionally a scalar `weight`/`w` input, and exactly one output,
 * float32 [N or 1,3,S,S] where the file fixes those dims. The input's name is read, not assumed (exporters differ).
 */
function readContract(model: ModelMetadata): RestorerContract {
  const fidelity = model.inputs.find((i) => FIDELITY_INPUT_NAMES.has(i.name));
  const images = model.inputs.filter((i) => i !== fidelity);
  const image = images[0];
  if (!image || images.length !== 1) {
    throw new Error(`a restorer has one image input (plus an optional 'weight'/'w'); found ${model.inputs.map(describeTensor).join(', ') || 'none'}`);
  }
  const [batch, channels, height, width] = image.shape;
  if (image.shape.length !== 4) throw new Error(`input ${describeTensor(image)} must have rank 4 [1,3,S,S]`);
  if (batch !== null && batch !== 1) throw new Error(`input ${describeTensor(image)} must take a batch of 1 or a symbolic batch`);
  if (channels !== 3) throw new Error(`input ${describeTensor(image)} must have 3 channels (RGB)`);
  if (height === null || height === undefined || width === null || width === undefined || height !== width) {
    throw new Error(`input ${describeTensor(image)} must have a fixed square size`);
  }
  if (image.type !== 'float32') throw new Error(`input ${describeTensor(image)} must be float32`);
  if (fidelity) {
    if (fidelity.type !== 'float32' && fidelity.type !== 'float64') throw new Error(`input ${describeTensor(fidelity)} must be float32 or float64`);
    if (fidelity.shape.length > 1 || (fidelity.shape.length === 1 && fidelity.shape[0] !== 1 && fidelity.shape[0] !== null)) {
      throw new Error(`input ${describeTensor(fidelity)} must be a scalar or [1]`);
    }
  }
  const output = model.outputs[0];
  if (!output) throw new Error('the model has no output');
  // A second output (GFPGAN's intermediate RGBs exported by mistake) would be computed on every face for nothing.
  if (model.outputs.length !== 1) throw new Error(`a restorer has one output (the face); found ${model.outputs.map(describeTensor).join(', ')}`);
  if (output.type !== 'float32') throw new Error(`output ${describeTensor(output)} must be float32`);
  if (output.shape.length !== 4) throw new Error(`output ${describeTensor(output)} must have rank 4 [1,3,S,S]`);
  const [outBatch, outChannels, outHeight, outWidth] = output.shape;
  const fits = (dim: number | null | undefined, want: number) => dim === null || dim === undefined || dim === want;
  // A symbolic input batch needs a symbolic output batch: faces batched together must all come back.
  if (batch === null ? outBatch !== null : !fits(outBatch, 1)) throw new Error(`output ${describeTensor(output)} must have the input's batch (${batch ?? 'symbolic'})`);
  if (!fits(outChannels, 3) || !fits(outHeight, height) || !fits(outWidth, width)) {
    throw new Error(`output ${describeTensor(output)} must be [${batch ?? 'N'},3,${height},${width}], the input's size`);
  }
  // Both batch dimensions symbolic (checked above): faces of several jobs may share one run.
  const batchable = batch === null;
  return { size: width, image, fidelity, output, batchable };
}

/**
 * RGB uint8 → planar [1,3,S,S] float32 in [-1,1], GFPGAN's `normalize(img, (0.5,)*3, (0.5,)*3)`. Exported for the
 * batched path, where a pipeline thread converts its own crops so the restorer's thread only runs the model.
 */
export function cropToTensor(crop: RgbImage): Float32Array {
  const plane = crop.width * crop.height;
  const out = new Float32Array(plane * 3);
  const src = crop.data;
  for (let i = 0; i < plane; i++) {
    out[i] = (src[3 * i]! / 255 - 0.5) / 0.5;
    out[plane + i] = (src[3 * i + 1]! / 255 - 0.5) / 0.5;
    out[2 * plane + i] = (src[3 * i + 2]! / 255 - 0.5) / 0.5;
  }
  return out;
}

/**
 * Planar [-1,1] → interleaved uint8 like GFPGAN's tensor2img (clamp to [-1,1], rescale to 0..1, ×255, round),
 * blended with the original crop before the single rounding so blend 1 is exactly tensor2img.
 */
export function tensorToCrop(tensor: Float32Array, original: RgbImage, blend: number): RgbImage {
  const plane = original.width * original.height;
  const out = new Uint8Array(plane * 3);
  const keep = 1 - blend;
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < plane; i++) {
      const v = tensor[c * plane + i]!;
      const restored = ((v < -1 ? -1 : v > 1 ? 1 : v) + 1) * 0.5 * 255;
      out[3 * i + c] = Math.round(restored * blend + original.data[3 * i + c]! * keep);
    }
  }
  return { width: original.width, height: original.height, data: out };
}

/** The blend a job asked for, clamped to 0..1. */
export function restoreBlend(options: FaceRestoreOptions | undefined): number {
  return Math.min(1, Math.max(0, options?.blend ?? DEFAULT_RESTORE_BLEND));
}

/**
 * What the pipeline needs of the restore stage: a session of its own (`FaceRestorer`) or a share of a batching
 * restorer on another thread (`RemoteRestorer`, restorer-thread.ts).
 */
export interface RestoreStage {
  /** Square input size read from the model's metadata (512 for GFPGAN). */
  readonly inputSize: number;
  /** True when the model has a CodeFormer-style fidelity input. */
  readonly hasFidelityInput: boolean;
  /**
   * Faces of one job worth having in the stage at once: 1 for a session of its own, which already uses every intra-op
   * thread; the batch size for a batching restorer, so one job's faces can fill a batch.
   */
  readonly facesInFlight: number;
  /** Restores one aligned `inputSize`×`inputSize` crop. Safe to call concurrently. */
  restore(crop: RgbImage, options?: FaceRestoreOptions): Promise<RgbImage>;
  dispose(): Promise<void>;
}

/** Stage 4: one ONNX session per model, reused across faces and photos. */
export class FaceRestorer implements RestoreStage {
  /** Square input size read from the model's metadata (512 for GFPGAN). */
  readonly inputSize: number = 512;
  /** True when the model has a CodeFormer-style fidelity input. */
  readonly hasFidelityInput: boolean = false;
  /** The model takes a batch of any size (`restoreBatch`). */
  readonly batchable: boolean = false;
  readonly facesInFlight = 1;
  readonly #model: OnnxModel;
  readonly #contract: RestorerContract;

  private constructor(model: OnnxModel, contract: RestorerContract) {
    this.#model = model;
    this.#contract = contract;
    this.inputSize = contract.size;
    this.hasFidelityInput = contract.fidelity !== undefined;
    this.batchable = contract.batchable;
  }

  /** Loads the model; one that does not fit the restorer contract fails here with MODEL_INVALID. */
  static async create(modelPath: string, options: SessionOptions): Promise<FaceRestorer> {
    let contract: RestorerContract | undefined;
    const model = await OnnxModel.create(modelPath, {
      ...options,
      spinWait: RESTORER_SPIN_WAIT,
      validate: (m) => {
        contract = readContract(m);
      },
    });
    if (!contract) throw new PermanentError('INTERNAL', `restorer contract not read for ${modelPath}`);
    return new FaceRestorer(model, contract);
  }

  /** Restores one aligned `inputSize`×`inputSize` crop. Safe to call concurrently. */
  async restore(crop: RgbImage, options?: FaceRestoreOptions): Promise<RgbImage> {
    const size = this.inputSize;
    if (crop.width !== size || crop.height !== size) {
      throw new PermanentError('INTERNAL', `restorer ${this.#model.path} takes ${size}×${size} crops, got ${crop.width}×${crop.height}`);
    }
    const [restored] = await this.restoreBatch([cropToTensor(crop)], options?.fidelity ?? DEFAULT_FIDELITY);
    return tensorToCrop(restored!, crop, restoreBlend(options));
  }

  /**
   * Runs the model once on `tensors` (each `cropToTensor`'s planar [3,S,S]) as one batch, all at one fidelity;
   * returns each face's planar output in its own buffer, in the same order. More than one face needs `batchable`.
   */
  async restoreBatch(tensors: readonly Float32Array[], fidelity: number): Promise<Float32Array[]> {
    const size = this.inputSize;
    const faceLength = 3 * size * size;
    const count = tensors.length;
    if (count === 0) return [];
    if (count > 1 && !this.batchable) throw new PermanentError('INTERNAL', `restorer ${this.#model.path} takes one face per run, got ${count}`);
    const wrong = tensors.find((t) => t.length !== faceLength);
    if (wrong) throw new PermanentError('INTERNAL', `restorer ${this.#model.path} takes [3,${size},${size}] faces, got ${wrong.length} values`);
    const { image, fidelity: fidelityInput, output } = this.#contract;
    let batch: Float32Array;
    if (count === 1) batch = tensors[0]!;
    else {
      batch = new Float32Array(faceLength * count);
      tensors.forEach((t, i) => batch.set(t, i * faceLength));
    }
    const feeds: Record<string, TensorData> = { [image.name]: { type: 'float32', data: batch, dims: [count, 3, size, size] } };
    if (fidelityInput) {
      const dims = fidelityInput.shape.length === 0 ? [] : [1];
      feeds[fidelityInput.name] =
        fidelityInput.type === 'float64'
          ? { type: 'float64', data: Float64Array.of(fidelity), dims }
          : { type: 'float32', data: Float32Array.of(fidelity), dims };
    }
    const results = await this.#model.run(feeds);
    const result = results[output.name];
    if (!result || result.type !== 'float32' || result.data.length !== faceLength * count) {
      throw new PermanentError(
        'MODEL_INVALID',
        `restorer ${this.#model.path} returned ${result ? `[${result.dims.join(',')}] ${result.type}` : 'nothing'} for '${output.name}', expected [${count},3,${size},${size}] float32`,
      );
    }
    const data = result.data as Float32Array;
    // A copy per face: each goes back to its own job (another thread's, in the batched path) in a buffer of its own.
    return count === 1 ? [data] : Array.from({ length: count }, (_, i) => data.slice(i * faceLength, (i + 1) * faceLength));
  }

  async dispose(): Promise<void> {
    await this.#model.dispose();
  }
}
