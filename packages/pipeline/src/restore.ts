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

/** Byte → GFPGAN's `normalize(img / 255, (0.5,)*3, (0.5,)*3)`, the same float32 as the arithmetic gives: a load per value. */
const BYTE_TO_UNIT = Float32Array.from({ length: 256 }, (_, v) => (v / 255 - 0.5) / 0.5);

/**
 * RGB uint8 → planar [1,3,S,S] float32 in [-1,1], GFPGAN's `normalize(img, (0.5,)*3, (0.5,)*3)`. Exported for the
 * batched path, where a pipeline thread converts its own crops so the restorer's thread only runs the model.
 * `into` (3·S·S values) is written instead of a new buffer: a fresh 3 MB tensor per face costs more in page faults
 * than the conversion itself (0.5 against 1.8 ms for a 512² crop, measured in the second round of
 * docs/decisions/cpu-side-cost.md).
 */
export function cropToTensor(crop: RgbImage, into?: Float32Array): Float32Array {
  const plane = crop.width * crop.height;
  if (into !== undefined && into.length !== plane * 3) throw new RangeError(`a ${crop.width}×${crop.height} crop needs ${plane * 3} values, not ${into.length}`);
  const out = into ?? new Float32Array(plane * 3);
  const src = crop.data;
  const lut = BYTE_TO_UNIT;
  for (let i = 0, j = 0; i < plane; i++, j += 3) {
    out[i] = lut[src[j]!]!;
    out[plane + i] = lut[src[j + 1]!]!;
    out[2 * plane + i] = lut[src[j + 2]!]!;
  }
  return out;
}

/**
 * `Math.round(x)` for x in [0, 255]: `(x + 0.5) | 0`, except at 0.49999999999999994 (the one double in that range
 * where x + 0.5 rounds up to 1), which a float32 face value never gives: (v + 1) · 127.5 is a multiple of 2⁻²⁵ there.
 * restore.test.ts checks it against Math.round on every float32 in [-1, 1] by the thresholds of both.
 */
const roundUnit = (v: number): number => (((v < -1 ? -1 : v > 1 ? 1 : v) + 1) * 127.5 + 0.5) | 0;

/**
 * Planar [-1,1] → interleaved uint8 like GFPGAN's tensor2img (clamp to [-1,1], rescale to 0..1, ×255, round),
 * blended with the original crop before the single rounding so blend 1 is exactly tensor2img. One pass writing the
 * output in order (the three planes are read in step); blend 1, the default, skips the blend's arithmetic.
 */
export function tensorToCrop(tensor: Float32Array, original: RgbImage, blend: number): RgbImage {
  const plane = original.width * original.height;
  const out = new Uint8Array(plane * 3);
  if (blend === 1) {
    for (let i = 0, j = 0; i < plane; i++, j += 3) {
      out[j] = roundUnit(tensor[i]!);
      out[j + 1] = roundUnit(tensor[plane + i]!);
      out[j + 2] = roundUnit(tensor[2 * plane + i]!);
    }
  } else {
    const keep = 1 - blend;
    const src = original.data;
    for (let i = 0, j = 0; i < plane; i++) {
      for (let c = 0; c < 3; c++, j++) {
        const v = tensor[c * plane + i]!;
        const restored = ((v < -1 ? -1 : v > 1 ? 1 : v) + 1) * 0.5 * 255;
        out[j] = Math.round(restored * blend + src[j]! * keep);
      }
    }
  }
  return { width: original.width, height: original.height, data: out };
}

/** The blend a job asked for, clamped to 0..1. */
export function restoreBlend(options: FaceRestoreOptions | undefined): number {
  return Math.min(1, Math.max(0, options?.blend ?? DEFAULT_RESTORE_BLEND));
}

/**
 * Runs one of the restore stage's conversions around the model (a crop to its tensor, a tensor back to a crop) and
 * returns its result: the pipeline times them apart from the model's run (`ProcessResult.cpuMs.restoreConvert`), as
 * they are CPU work a GPU task's vCPUs do for every face.
 */
export type ConversionTimer = <T>(convert: () => T) => T;

const untimed: ConversionTimer = (convert) => convert();

/**
 * Input tensors a restorer keeps for the next faces (3 MB each at 512²): as many as a pipeline thread usually has in
 * flight at once; a face beyond them allocates its own.
 * @default 2
 */
export const POOLED_RESTORER_INPUTS = 2;

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
  /**
   * Restores one aligned `inputSize`×`inputSize` crop. Safe to call concurrently. `timeConversion` wraps the CPU work
   * around the model (the crop to a tensor and back), so the caller can count it apart from the model's run.
   */
  restore(crop: RgbImage, options?: FaceRestoreOptions, timeConversion?: ConversionTimer): Promise<RgbImage>;
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
  /** Input tensors free for the next face (`POOLED_RESTORER_INPUTS` at most). */
  readonly #freeInputs: Float32Array[] = [];
  /** The last batch's input buffer (two faces or more), free for the next batch of the same size. */
  #freeBatch: Float32Array | undefined;

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
  async restore(crop: RgbImage, options?: FaceRestoreOptions, timeConversion: ConversionTimer = untimed): Promise<RgbImage> {
    const size = this.inputSize;
    if (crop.width !== size || crop.height !== size) {
      throw new PermanentError('INTERNAL', `restorer ${this.#model.path} takes ${size}×${size} crops, got ${crop.width}×${crop.height}`);
    }
    const input = timeConversion(() => cropToTensor(crop, this.#freeInputs.pop()));
    try {
      const [restored] = await this.restoreBatch([input], options?.fidelity ?? DEFAULT_FIDELITY);
      return timeConversion(() => tensorToCrop(restored!, crop, restoreBlend(options)));
    } finally {
      // The run has ended: onnxruntime holds no reference to its input.
      if (this.#freeInputs.length < POOLED_RESTORER_INPUTS) this.#freeInputs.push(input);
    }
  }

  /**
   * Runs the model once on `tensors` (each `cropToTensor`'s planar [3,S,S]) as one batch, all at one fidelity;
   * returns each face's planar output in its own buffer, in the same order. More than one face needs `batchable`.
   * With two faces or more, each face's output is copied out of the batch's into `into[i]` when it is there and of a
   * face's length (a buffer the caller is done with; no page faults on a fresh 3 MB), else into a new buffer.
   */
  async restoreBatch(tensors: readonly Float32Array[], fidelity: number, into: readonly Float32Array[] = []): Promise<Float32Array[]> {
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
      // The batcher runs one batch at a time: the last one's buffer is reused (no page faults on 3 MB a face).
      const free = this.#freeBatch;
      const pooled = free !== undefined && free.length === faceLength * count;
      batch = pooled ? free : new Float32Array(faceLength * count);
      if (pooled) this.#freeBatch = undefined;
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
    let results: Record<string, TensorData>;
    try {
      results = await this.#model.run(feeds);
    } finally {
      if (count > 1) this.#freeBatch = batch;
    }
    const result = results[output.name];
    if (!result || result.type !== 'float32' || result.data.length !== faceLength * count) {
      throw new PermanentError(
        'MODEL_INVALID',
        `restorer ${this.#model.path} returned ${result ? `[${result.dims.join(',')}] ${result.type}` : 'nothing'} for '${output.name}', expected [${count},3,${size},${size}] float32`,
      );
    }
    const data = result.data as Float32Array;
    // A copy per face: each goes back to its own job (another thread's, in the batched path) in a buffer of its own.
    if (count === 1) return [data];
    return Array.from({ length: count }, (_, i) => {
      const face = data.subarray(i * faceLength, (i + 1) * faceLength);
      const target = into[i];
      if (target === undefined || target.length !== faceLength) return face.slice();
      target.set(face);
      return target;
    });
  }

  async dispose(): Promise<void> {
    await this.#model.dispose();
  }
}
