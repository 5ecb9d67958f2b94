// Restorers that onnxruntime loads but that break the restorer contract in one way each, for the check at load.
import onnxProto from 'onnx-proto';
import { DEFAULT_GENERATED_MODEL_SIZE, FLOAT, GENERATED_OUTPUT_NAME, floatConstant, valueInfo, writeModel } from '../demo-restorer.js';

// onnx-proto is CommonJS: its namespace comes through the default import at run time.
const { onnx } = onnxProto;
const FLOAT16 = onnx.TensorProto.DataType.FLOAT16;

/** How a generated restorer breaks the contract (input `input` [N or 1,3,S,S] float32, one output of the same shape). */
export type ContractBreak =
  /** A second output beside the face. */
  | 'two-outputs'
  /** The output is half the input's size. */
  | 'smaller-output'
  /** The batch dimension is fixed at 4: a single face can't be fed. */
  | 'fixed-batch-4'
  /** float16 input. */
  | 'float16-input'
  /** Input height and width symbolic: the crop size can't be read. */
  | 'symbolic-size';

/** Writes `broken_restorer_<break>.onnx` into `dir` and returns its path. */
export async function writeContractBreakingRestorer(dir: string, kind: ContractBreak): Promise<string> {
  const s = DEFAULT_GENERATED_MODEL_SIZE;
  const file = `broken_restorer_${kind}.onnx`;
  const name = `broken_restorer_${kind.replaceAll('-', '_')}`;
  const identity = (inputDims: (number | string)[]) =>
    writeModel(dir, file, {
      name,
      inputs: [valueInfo('input', FLOAT, inputDims)],
      outputs: [valueInfo(GENERATED_OUTPUT_NAME, FLOAT, inputDims)],
      nodes: [{ opType: 'Identity', input: ['input'], output: [GENERATED_OUTPUT_NAME], name: 'identity' }],
    });
  switch (kind) {
    case 'two-outputs':
      return writeModel(dir, file, {
        name,
        inputs: [valueInfo('input', FLOAT, ['N', 3, s, s])],
        outputs: [valueInfo(GENERATED_OUTPUT_NAME, FLOAT, ['N', 3, s, s]), valueInfo('rgb_64', FLOAT, ['N', 3, s, s])],
        nodes: [
          { opType: 'Identity', input: ['input'], output: [GENERATED_OUTPUT_NAME], name: 'face' },
          { opType: 'Identity', input: ['input'], output: ['rgb_64'], name: 'extra' },
        ],
      });
    case 'smaller-output':
      return writeModel(dir, file, {
        name,
        inputs: [valueInfo('input', FLOAT, [1, 3, s, s])],
        outputs: [valueInfo(GENERATED_OUTPUT_NAME, FLOAT, [1, 3, s / 2, s / 2])],
        initializers: [floatConstant('scales', [4], [1, 1, 0.5, 0.5])],
        nodes: [{ opType: 'Resize', input: ['input', '', 'scales'], output: [GENERATED_OUTPUT_NAME], name: 'half' }],
      });
    case 'fixed-batch-4':
      return identity([4, 3, s, s]);
    case 'symbolic-size':
      return identity(['N', 3, 'H', 'W']);
    case 'float16-input':
      return writeModel(dir, file, {
        name,
        inputs: [valueInfo('input', FLOAT16, [1, 3, s, s])],
        outputs: [valueInfo(GENERATED_OUTPUT_NAME, FLOAT, [1, 3, s, s])],
        nodes: [{ opType: 'Cast', input: ['input'], output: [GENERATED_OUTPUT_NAME], name: 'to_float', attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: FLOAT }] }],
      });
  }
}
