// Generates small ONNX models with the I/O contracts of the real ones (GFPGAN, CodeFormer, a x2 upsampler), so
// tests exercise the same code paths without the 325 MB weights, which cannot be downloaded here.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

// onnx-proto is CommonJS: its namespace comes through the default import at run time.
const { onnx } = onnxProto;
type Dim = number | string;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const DOUBLE = onnx.TensorProto.DataType.DOUBLE;

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

function valueInfo(name: string, elemType: number, dims: readonly Dim[]): OnnxTypes.IValueInfoProto {
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

function floatConstant(name: string, dims: readonly number[], values: readonly number[]): OnnxTypes.ITensorProto {
  return { name, dataType: FLOAT, dims: [...dims], floatData: [...values] };
}

interface GraphSpec {
  readonly name: string;
  readonly inputs: readonly OnnxTypes.IValueInfoProto[];
  readonly outputs: readonly OnnxTypes.IValueInfoProto[];
  readonly nodes: readonly OnnxTypes.INodeProto[];
  readonly initializers?: readonly OnnxTypes.ITensorProto[];
}

async function writeModel(dir: string, fileName: string, spec: GraphSpec): Promise<string> {
  const model = onnx.ModelProto.create({
    // IR 8 / opset 13: old enough for any onnxruntime since 1.10, new enough for Resize with `scales` only.
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'revive-testing',
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

function restorerShape(options: GeneratedModelOptions | undefined): [number, number, number, number] {
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

/**
 * Per-channel gains applied by the channel probe, in RGB order: R kept, G inverted, B flattened to 0 (mid grey).
 * In 8-bit terms the restored face is (R, 255 − G, 127.5), so a BGR/RGB swap anywhere in the stage shows.
 */
export const CHANNEL_PROBE_GAINS = [1, -1, 0] as const;

/** Treats channels differently (R unchanged, G inverted, B zeroed) so a BGR/RGB swap shows. */
export async function writeChannelProbeRestorer(dir: string, options?: GeneratedModelOptions): Promise<string> {
  const shape = restorerShape(options);
  return writeModel(dir, `channel_probe_restorer_${shape[3]}.onnx`, {
    name: 'channel_probe_restorer',
    inputs: [valueInfo('input', FLOAT, shape)],
    outputs: [valueInfo(GENERATED_OUTPUT_NAME, FLOAT, shape)],
    initializers: [floatConstant('gains', [1, 3, 1, 1], CHANNEL_PROBE_GAINS)],
    nodes: [{ opType: 'Mul', input: ['input', 'gains'], output: [GENERATED_OUTPUT_NAME], name: 'per_channel_gain' }],
  });
}

/**
 * CodeFormer-style: inputs `input` [1,3,S,S] float32 and `weight` float64 [1] (as facefusion feeds CodeFormer);
 * output = input × weight, so weight 1 is the identity and any other weight changes the output.
 */
export async function writeCodeFormerLikeRestorer(dir: string, options?: GeneratedModelOptions): Promise<string> {
  const shape = restorerShape(options);
  return writeModel(dir, `codeformer_like_restorer_${shape[3]}.onnx`, {
    name: 'codeformer_like_restorer',
    inputs: [valueInfo('input', FLOAT, shape), valueInfo('weight', DOUBLE, [1])],
    outputs: [valueInfo(GENERATED_OUTPUT_NAME, FLOAT, shape)],
    nodes: [
      { opType: 'Cast', input: ['weight'], output: ['weight_f32'], name: 'cast', attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: FLOAT }] },
      { opType: 'Mul', input: ['input', 'weight_f32'], output: [GENERATED_OUTPUT_NAME], name: 'mix' },
    ],
  });
}

/** A model whose input has the wrong rank ([3,S,S]): loading it as a restorer must fail with MODEL_INVALID. */
export async function writeWrongRankRestorer(dir: string, options?: GeneratedModelOptions): Promise<string> {
  const [, c, h, w] = restorerShape(options);
  return writeModel(dir, `wrong_rank_restorer_${w}.onnx`, {
    name: 'wrong_rank_restorer',
    inputs: [valueInfo('input', FLOAT, [c, h, w])],
    outputs: [valueInfo(GENERATED_OUTPUT_NAME, FLOAT, [c, h, w])],
    nodes: [{ opType: 'Identity', input: ['input'], output: [GENERATED_OUTPUT_NAME], name: 'identity' }],
  });
}

export interface GeneratedUpsamplerOptions {
  /** Integer scale factor. @default 2 */
  readonly scale?: number;
  /** Resize interpolation; 'nearest' makes tiled and untiled outputs identical. @default 'nearest' */
  readonly mode?: 'nearest' | 'linear';
}

/**
 * A background upsampler with efrlfn's contract: `input` [b,3,h,w] float32 RGB 0..1 → [b,3,h·s,w·s], dynamic size.
 * It is a plain Resize, so its output is predictable (and checkable) in tests.
 */
export async function writeTinyUpsampler(dir: string, options?: GeneratedUpsamplerOptions): Promise<string> {
  const scale = options?.scale ?? 2;
  const mode = options?.mode ?? 'nearest';
  return writeModel(dir, `tiny_upsampler_x${scale}_${mode}.onnx`, {
    name: 'tiny_upsampler',
    inputs: [valueInfo('input', FLOAT, ['b', 3, 'h', 'w'])],
    outputs: [valueInfo('output', FLOAT, ['b', 3, 'oh', 'ow'])],
    initializers: [floatConstant('scales', [4], [1, 1, scale, scale])],
    nodes: [
      {
        opType: 'Resize',
        input: ['input', '', 'scales'],
        output: ['output'],
        name: 'resize',
        attribute: [
          { name: 'mode', type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(mode) },
          // `asymmetric` + `floor` makes nearest a clean pixel repeat; `half_pixel` is right for linear.
          {
            name: 'coordinate_transformation_mode',
            type: onnx.AttributeProto.AttributeType.STRING,
            s: new TextEncoder().encode(mode === 'nearest' ? 'asymmetric' : 'half_pixel'),
          },
          ...(mode === 'nearest'
            ? [{ name: 'nearest_mode', type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode('floor') }]
            : []),
        ],
      },
    ],
  });
}
