// Generates small ONNX models with the I/O contracts of the real ones (GFPGAN, CodeFormer, a x2 upsampler), so
// tests exercise the same code paths without the 325 MB weights, which cannot be downloaded here.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import {
  DEFAULT_GENERATED_MODEL_SIZE,
  DOUBLE,
  FLOAT,
  GENERATED_OUTPUT_NAME,
  floatConstant,
  restorerShape,
  valueInfo,
  writeModel,
  type GeneratedModelOptions,
} from '../demo-restorer.js';

// onnx-proto is CommonJS: its namespace comes through the default import at run time.
const { onnx } = onnxProto;

export { DEFAULT_GENERATED_MODEL_SIZE, GENERATED_OUTPUT_NAME, writeIdentityRestorer, type GeneratedModelOptions } from '../demo-restorer.js';

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

/**
 * Test-only restorer that is slow on purpose, so a test can kill or stop a worker in the middle of a job without
 * a sleep in production code: `convs` 3×3 convolutions with 16 channels on the 512² crop, multiplied by zero
 * and added to the input, so the output is the identity restorer's. Each convolution is 0.6 G multiply-adds: about
 * 90 ms of one core here (2026-12-06: 120 took 11 s a face), all of it CPU that the tests beside it lose, so a test
 * asks for the fewest that make its point.
 */
export async function writeSlowRestorer(dir: string, convs: number): Promise<string> {
  const channels = 16;
  const shape = [1, 3, 512, 512];
  const info = (name: string) => ({ name, type: { tensorType: { elemType: FLOAT, shape: { dim: shape.map((d) => ({ dimValue: d })) } } } });
  const initializer: { name: string; dataType: number; dims: number[]; floatData: number[] }[] = [];
  const nodes: { opType: string; input: string[]; output: string[]; name: string; attribute?: { name: string; type: number; ints: number[] }[] }[] = [];
  const pads = [{ name: 'pads', type: onnx.AttributeProto.AttributeType.INTS, ints: [1, 1, 1, 1] }];
  let previous = 'input';
  let inChannels = 3;
  for (let i = 0; i <= convs; i++) {
    const outChannels = i === convs ? 3 : channels;
    initializer.push({ name: `w${i}`, dataType: FLOAT, dims: [outChannels, inChannels, 3, 3], floatData: new Array(outChannels * inChannels * 9).fill(0.001) });
    nodes.push({ opType: 'Conv', input: [previous, `w${i}`], output: [`c${i}`], name: `conv${i}`, attribute: pads });
    previous = `c${i}`;
    inChannels = outChannels;
  }
  initializer.push({ name: 'zero', dataType: FLOAT, dims: [1], floatData: [0] });
  nodes.push({ opType: 'Mul', input: [previous, 'zero'], output: ['nothing'], name: 'mute' });
  nodes.push({ opType: 'Add', input: ['input', 'nothing'], output: ['1288'], name: 'identity_plus_nothing' });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'revive-tests',
    graph: { name: 'slow_restorer', input: [info('input')], output: [info('1288')], node: nodes, initializer },
  });
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `slow_restorer_${convs}.onnx`);
  await writeFile(file, onnx.ModelProto.encode(model).finish());
  return file;
}

/**
 * A restorer with a symbolic batch dimension (`batch`,3,S,S) that mirrors each face left to right and inverts it:
 * out[n,c,y,x] = −in[n,c,y,S−1−x]. Every face comes out visibly changed, and changed by where each pixel is, so a
 * face handed back to the wrong job, the wrong face of a job, or a batch split at the wrong offset shows in the
 * pasted photo; restored one face per run (batch 1) it gives the same faces as in a batch.
 */
export async function writeBatchMirrorRestorer(dir: string, options?: GeneratedModelOptions): Promise<string> {
  const [, c, h, w] = restorerShape(options);
  const shape = ['batch', c, h, w] as const;
  const int64 = (name: string, values: readonly number[]) => ({ name, dataType: onnx.TensorProto.DataType.INT64, dims: [values.length], int64Data: [...values] });
  return writeModel(dir, `batch_mirror_restorer_${w}.onnx`, {
    name: 'batch_mirror_restorer',
    inputs: [valueInfo('input', FLOAT, shape)],
    outputs: [valueInfo(GENERATED_OUTPUT_NAME, FLOAT, shape)],
    // Slice from the last column back past the first (ends −(w+1) is −1 after adding w: before column 0).
    initializers: [int64('starts', [-1]), int64('ends', [-(w + 1)]), int64('axes', [3]), int64('steps', [-1])],
    nodes: [
      { opType: 'Slice', input: ['input', 'starts', 'ends', 'axes', 'steps'], output: ['mirrored'], name: 'mirror' },
      { opType: 'Neg', input: ['mirrored'], output: [GENERATED_OUTPUT_NAME], name: 'invert' },
    ],
  });
}

/**
 * A restorer with a symbolic batch dimension whose cost per face is real, for the batching bench when the
 * GFPGAN-sized stand-in is not at hand: `convs` 3×3 convolutions of `channels` channels at S/4 (after two stride-2
 * convolutions), then back up to S with a learned-free nearest Resize, added to the input. Weights are small
 * constants: its pixels mean nothing, only its cost.
 */
export async function writeBatchConvRestorer(dir: string, options: { readonly convs: number; readonly channels: number; readonly size?: number }): Promise<string> {
  const size = options.size ?? DEFAULT_GENERATED_MODEL_SIZE;
  const { convs, channels } = options;
  const shape = ['batch', 3, size, size] as const;
  const initializers: ReturnType<typeof floatConstant>[] = [];
  const nodes: { opType: string; input: string[]; output: string[]; name: string; attribute?: { name: string; type: number; ints: number[] }[] }[] = [];
  const ints = (name: string, values: number[]) => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: values });
  let previous = 'input';
  let inChannels = 3;
  const layers = [
    { out: channels, stride: 2 },
    { out: channels, stride: 2 },
    ...Array.from({ length: convs }, () => ({ out: channels, stride: 1 })),
    { out: 3, stride: 1 },
  ];
  for (const [i, { out, stride }] of layers.entries()) {
    const count = out * inChannels * 9;
    initializers.push(floatConstant(`w${i}`, [out, inChannels, 3, 3], new Array<number>(count).fill(1 / (inChannels * 9))));
    nodes.push({ opType: 'Conv', input: [previous, `w${i}`], output: [`c${i}`], name: `conv${i}`, attribute: [ints('pads', [1, 1, 1, 1]), ints('strides', [stride, stride])] });
    nodes.push({ opType: 'Relu', input: [`c${i}`], output: [`r${i}`], name: `relu${i}` });
    previous = `r${i}`;
    inChannels = out;
  }
  initializers.push(floatConstant('scales', [4], [1, 1, 4, 4]));
  nodes.push({ opType: 'Resize', input: [previous, '', 'scales'], output: ['up'], name: 'up' });
  nodes.push({ opType: 'Add', input: ['input', 'up'], output: [GENERATED_OUTPUT_NAME], name: 'residual' });
  return writeModel(dir, `batch_conv_restorer_${convs}x${channels}_${size}.onnx`, {
    name: 'batch_conv_restorer',
    inputs: [valueInfo('input', FLOAT, shape)],
    outputs: [valueInfo(GENERATED_OUTPUT_NAME, FLOAT, shape)],
    initializers,
    nodes,
  });
}
