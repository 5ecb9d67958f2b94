// The demo restorer: a generated identity model at GFPGAN's I/O contract, which `pnpm start` runs when no real
// restorer's weights are on disk or can be downloaded (offline machines, CI). It restores nothing, but every stage
// around it (detect, align, paste, encode) runs for real. Also the ONNX graph writer that tests build their other
// contract-shaped models with (`@revive/pipeline/testing`).
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

// onnx-proto is CommonJS: its namespace comes through the default import at run time.
const { onnx } = onnxProto;
export type Dim = number | string;
export const FLOAT = onnx.TensorProto.DataType.FLOAT;
export const DOUBLE = onnx.TensorProto.DataType.DOUBLE;

/** 512: GFPGAN's and CodeFormer's input size. */
export const DEFAULT_GENERATED_MODEL_SIZE = 512;
/**
 * GFPGAN's ONNX exports name their output after a graph node number; using such a name keeps callers honest about
 * "take the first output" instead of looking for `output`.
 */
export const GENERATED_OUTPUT_NAME = '1288';

/** Options every generated model takes. */
export interface GeneratedModelOptions {
  /** Square input size. @default DEFAULT_GENERATED_MODEL_SIZE */
  readonly size?: number;
}

/** @internal Used by the generated test models. */
export function valueInfo(name: string, elemType: number, dims: readonly Dim[]): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** @internal Used by the generated test models. */
export function floatConstant(name: string, dims: readonly number[], values: readonly number[]): OnnxTypes.ITensorProto {
  return { name, dataType: FLOAT, dims: [...dims], floatData: [...values] };
}

/** @internal Used by the generated test models. */
export interface GraphSpec {
  readonly name: string;
  readonly inputs: readonly OnnxTypes.IValueInfoProto[];
  readonly outputs: readonly OnnxTypes.IValueInfoProto[];
  readonly nodes: readonly OnnxTypes.INodeProto[];
  readonly initializers?: readonly OnnxTypes.ITensorProto[];
}

/** @internal Used by the generated test models. */
export async function writeModel(dir: string, fileName: string, spec: GraphSpec): Promise<string> {
  const model = onnx.ModelProto.create({
    // IR 8 / opset 13: old enough for any onnxruntime since 1.10, new enough for Resize with `scales` only.
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'revive',
    graph: {
      name: spec.name,
      input: [...spec.inputs],
      output: [...spec.outputs],
      node: [...spec.nodes],
      initializer: [...(spec.initializers ?? [])],
    },
  });
  const bytes = onnx.ModelProto.encode(model).finish();
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, fileName);
  await writeFile(file, bytes);
  return file;
}

/** @internal Used by the generated test models. */
export function restorerShape(options: GeneratedModelOptions | undefined): [number, number, number, number] {
  const size = options?.size ?? DEFAULT_GENERATED_MODEL_SIZE;
  return [1, 3, size, size];
}

/** input [1,3,S,S] float32 in [-1,1] → same tensor: restoring with it must give the input back. Returns the file path. */
export async function writeIdentityRestorer(dir: string, options?: GeneratedModelOptions): Promise<string> {
  const shape = restorerShape(options);
  return writeModel(dir, `identity_restorer_${shape[3]}.onnx`, {
    name: 'identity_restorer',
    inputs: [valueInfo('input', FLOAT, shape)],
    outputs: [valueInfo(GENERATED_OUTPUT_NAME, FLOAT, shape)],
    nodes: [{ opType: 'Identity', input: ['input'], output: [GENERATED_OUTPUT_NAME], name: 'identity' }],
  });
}

