// STUB — owned by the ONNX helper. The only module that imports onnxruntime-node.
/** Where a model runs. */
export type ExecutionDevice = 'cpu' | 'cuda';

/** @default threads 0 (onnxruntime chooses), device 'cpu' */
export interface SessionOptions {
  /** onnxruntime intra-op threads; 0 lets onnxruntime choose. @default 0 */
  readonly threads?: number;
  /** @default 'cpu' */
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

/** A loaded ONNX model. Created once, reused across faces and photos, released with `dispose()`. */
export class OnnxModel {
  readonly inputs: readonly TensorInfo[] = [];
  readonly outputs: readonly TensorInfo[] = [];
  /**
   * Loads the model and hands its metadata to `validate`, which throws a PermanentError('MODEL_INVALID')
   * when the model does not fit the stage (wrong rank, wrong type, missing input).
   */
  static async create(
    _path: string,
    _options: SessionOptions & { readonly validate?: (model: Pick<OnnxModel, 'inputs' | 'outputs'>) => void },
  ): Promise<OnnxModel> {
    throw new Error('not implemented');
  }
  async run(_feeds: Readonly<Record<string, TensorData>>): Promise<Record<string, TensorData>> {
    throw new Error('not implemented');
  }
  async dispose(): Promise<void> {}
}
