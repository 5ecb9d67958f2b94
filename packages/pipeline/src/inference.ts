// The only module that imports onnxruntime-node: every stage talks to models through OnnxModel, so the runtime's
// quirks (string symbolic dims, provider loading, tensor classes) stay in one place.
import { existsSync, statSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { PermanentError, WorkerError, messageOf } from './errors.js';

import { DEFAULT_DEVICE, DEFAULT_THREADS, type ExecutionDevice } from './defaults.js';

export { DEFAULT_DEVICE, DEFAULT_THREADS, type ExecutionDevice };

/**
 * Whether the pipeline's short sessions (detector, upscaler) let onnxruntime's intra- and inter-op threads spin while
 * they wait for work (its default) instead of sleeping. Off: measured in-process on shared/photos/whole and the small
 * photos at 2 threads (bench/cpu-side.bench.ts, 2026-12-06), the spinning after each detector run cost 6–8 CPU ms per
 * face, charged to the align that follows, and 2–5 in detect itself, for no gain in detect's wall time
 * (docs/decisions/cpu-side-cost.md). The restorer keeps onnxruntime's default (RESTORER_SPIN_WAIT). @default false
 */
export const ORT_SPIN_WAIT = false;
/**
 * Whether the restorer's session spins (onnxruntime's default). Kept on: the CPU restorer is the main cost of a CPU
 * job and every scaling figure (seconds per face) was measured with it; turning it off was not measured apart from
 * the load's noise (docs/decisions/cpu-side-cost.md). @default true
 */
export const RESTORER_SPIN_WAIT = true;

/** @default threads 0 (onnxruntime chooses), device 'cpu' */
export interface SessionOptions {
  /** onnxruntime intra-op threads; 0 lets onnxruntime choose. @default DEFAULT_THREADS */
  readonly threads?: number;
  /** 'cuda' fails with DEVICE_UNAVAILABLE when the CUDA provider can't load: never a silent CPU fallback. @default DEFAULT_DEVICE */
  readonly device?: ExecutionDevice;
}

export type TensorType = 'float32' | 'float64' | 'float16' | 'int64' | 'int32' | 'uint8' | 'bool' | 'string';

/** An input or output as the model file declares it. Symbolic or unknown dimensions are `null`. */
export interface TensorInfo {
  readonly name: string;
  readonly type: TensorType;
  readonly shape: readonly (number | null)[];
}

export interface TensorData {
  readonly type: TensorType;
  readonly data: Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;
  readonly dims: readonly number[];
}

/** What a stage's `validate` callback sees. */
export type ModelMetadata = Pick<OnnxModel, 'inputs' | 'outputs'>;

export interface CreateModelOptions extends SessionOptions {
  /**
   * Checks the metadata against what the stage needs; throw (any Error) to reject the model. The message is
   * wrapped into PermanentError('MODEL_INVALID') naming the file, so it only has to say what is wrong.
   */
  readonly validate?: (model: ModelMetadata) => void;
  /** Whether onnxruntime's threads spin between runs. @default ORT_SPIN_WAIT */
  readonly spinWait?: boolean;
}

const TENSOR_TYPES: ReadonlySet<string> = new Set<TensorType>(['float32', 'float64', 'float16', 'int64', 'int32', 'uint8', 'bool', 'string']);

/** "[1,3,?,?] float32" — for error messages. */
export function describeTensor(info: TensorInfo): string {
  return `'${info.name}' [${info.shape.map((d) => d ?? '?').join(',')}] ${info.type}`;
}

function toTensorInfo(meta: ort.InferenceSession.ValueMetadata): TensorInfo {
  if (!meta.isTensor) return { name: meta.name, type: 'string', shape: [] };
  // onnxruntime reports symbolic dims by name ('batch', '?'); stages only care that they are not fixed.
  const shape = meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : null));
  const type = TENSOR_TYPES.has(meta.type) ? (meta.type as TensorType) : 'string';
  return { name: meta.name, type, shape };
}

function cudaListed(): boolean {
  return ort.listSupportedBackends().some((b) => b.name === 'cuda');
}

async function loadsOnCpu(path: string): Promise<boolean> {
  try {
    const session = await ort.InferenceSession.create(path, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
    await session.release();
    return true;
  } catch {
    return false;
  }
}

/** A loaded ONNX model. Created once, reused across faces and photos, released with `dispose()`. */
export class OnnxModel {
  readonly inputs: readonly TensorInfo[] = [];
  readonly outputs: readonly TensorInfo[] = [];
  /** The file it was loaded from, for messages. */
  readonly path: string = '';
  /** The device it actually runs on (always the one asked for: there is no fallback). */
  readonly device: ExecutionDevice = DEFAULT_DEVICE;
  #session: ort.InferenceSession | undefined;

  private constructor(path: string, device: ExecutionDevice, session: ort.InferenceSession) {
    this.path = path;
    this.device = device;
    this.#session = session;
    this.inputs = session.inputMetadata.map(toTensorInfo);
    this.outputs = session.outputMetadata.map(toTensorInfo);
  }

  /**
   * Loads the model and hands its metadata to `validate`, which throws when the model does not fit the stage
   * (wrong rank, wrong type, missing input); that becomes PermanentError('MODEL_INVALID') naming the file.
   * A missing file is MODEL_UNAVAILABLE; a file onnxruntime can't parse is MODEL_INVALID.
   */
  static async create(path: string, options: CreateModelOptions): Promise<OnnxModel> {
    const device = options.device ?? DEFAULT_DEVICE;
    if (!existsSync(path) || !statSync(path).isFile()) {
      throw new PermanentError('MODEL_UNAVAILABLE', `Model file not found: ${path}`);
    }
    if (device === 'cuda' && !cudaListed()) {
      throw new PermanentError('DEVICE_UNAVAILABLE', `--device cuda: this onnxruntime-node build has no CUDA execution provider; not loading ${path}`);
    }
    const spin = options.spinWait ?? ORT_SPIN_WAIT;
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: options.threads ?? DEFAULT_THREADS,
      // Only the provider asked for: listing 'cpu' after 'cuda' would silently run on CPU when CUDA fails.
      executionProviders: [device],
      graphOptimizationLevel: 'all',
      // onnxruntime's pool threads otherwise spin for a while after each run, waiting for more work: that CPU time
      // lands on whatever the process does next (align, beside the detector) and is taken from other pipeline threads.
      extra: { session: { intra_op: { allow_spinning: spin ? '1' : '0' }, inter_op: { allow_spinning: spin ? '1' : '0' } } },
    };
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(path, sessionOptions);
    } catch (error) {
      const reason = messageOf(error);
      // A CUDA failure is either the provider (libraries not installed: onnxruntime-node lists 'cuda' even when
      // its binaries were never downloaded) or the model itself; a CPU load tells them apart.
      if (device === 'cuda' && (await loadsOnCpu(path))) {
        throw new PermanentError(
          'DEVICE_UNAVAILABLE',
          `--device cuda: the CUDA execution provider could not start for ${path} (install onnxruntime-node's CUDA binaries and the CUDA 12 / cuDNN 9 libraries, or use --device cpu): ${reason}`,
          { cause: error },
        );
      }
      throw new PermanentError('MODEL_INVALID', `Model ${path} could not be loaded (not an ONNX model, truncated or unsupported): ${reason}`, {
        cause: error,
      });
    }
    const model = new OnnxModel(path, device, session);
    try {
      options.validate?.(model);
    } catch (error) {
      await model.dispose();
      const reason = messageOf(error);
      throw new PermanentError('MODEL_INVALID', `Model ${path} does not fit: ${reason}`, { cause: error });
    }
    return model;
  }

  /** Runs the model; feeds are keyed by input name, outputs come back keyed by output name. */
  async run(feeds: Readonly<Record<string, TensorData>>): Promise<Record<string, TensorData>> {
    const session = this.#session;
    if (!session) throw new PermanentError('INTERNAL', `Model ${this.path} was used after dispose()`);
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) {
      ortFeeds[name] = new ort.Tensor(t.type as 'float32', t.data as Float32Array, [...t.dims]);
    }
    let results: ort.InferenceSession.ReturnType;
    try {
      results = await session.run(ortFeeds);
    } catch (error) {
      if (error instanceof WorkerError) throw error;
      const reason = messageOf(error);
      throw new PermanentError('MODEL_INVALID', `Model ${this.path} failed to run: ${reason}`, { cause: error });
    }
    const out: Record<string, TensorData> = {};
    for (const [name, tensor] of Object.entries(results)) {
      out[name] = { type: tensor.type as TensorType, data: tensor.data as TensorData['data'], dims: tensor.dims };
    }
    return out;
  }

  /** Releases the native session; the model can't run afterwards. Safe to call twice. */
  async dispose(): Promise<void> {
    const session = this.#session;
    this.#session = undefined;
    await session?.release();
  }
}
