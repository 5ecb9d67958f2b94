// A fixed-size YuNet export (the catalogue's 'yunet', opencv_zoo's face_detection_yunet_2023mar.onnx, the only one
// with a public download) declares input [1,3,640,640], yet its graph holds no size: its Resize nodes scale by 2
// and its Reshape targets are [1,-1,C]. Declaring the height and width free lets onnxruntime run it at any multiple
// of 32, so the default detector takes a photo at its own scale as yunet_s_dynamic.onnx does (same network,
// same detections: detect.test.ts). Only the declared shapes change; weights and nodes are kept as they are.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

// onnx-proto is CommonJS: its namespace comes through the default import at run time.
const { onnx } = onnxProto;

/** A model file with free input height and width, and how to remove it once onnxruntime has read it. */
export interface FreeInputModel {
  readonly path: string;
  readonly remove: () => Promise<void>;
}

const isFixed = (dim: OnnxTypes.TensorShapeProto.IDimension | undefined): boolean => dim?.dimParam == null || dim.dimParam === '';

/** The values of an int64 initializer (Reshape's target shape), or undefined when it is not one. */
function int64Values(tensor: OnnxTypes.ITensorProto | undefined): number[] | undefined {
  if (!tensor) return undefined;
  if (tensor.int64Data && tensor.int64Data.length > 0) return tensor.int64Data.map(Number);
  const raw = tensor.rawData;
  if (!raw || raw.length % 8 !== 0) return undefined;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  return Array.from({ length: raw.length / 8 }, (_, i) => Number(view.getBigInt64(8 * i, true)));
}

/**
 * When `modelPath` is a YuNet export with a fixed input whose graph does not depend on it (every Reshape target a
 * constant with -1 for the cell count; no Reshape computed from shapes), writes a copy with the input's height and
 * width declared free and the outputs' shapes left to onnxruntime, in a temporary folder. Undefined when the model
 * is not such a file or the copy cannot be written.
 */
export async function freeInputSizeCopy(modelPath: string): Promise<FreeInputModel | undefined> {
  let model: OnnxTypes.ModelProto;
  try {
    model = onnx.ModelProto.decode(await readFile(modelPath));
  } catch {
    return undefined; // onnxruntime's own load reports what is wrong with the file.
  }
  const graph = model.graph;
  const input = graph?.input?.[0];
  const dims = input?.type?.tensorType?.shape?.dim;
  if (!graph || !dims || dims.length !== 4 || !isFixed(dims[2]) || !isFixed(dims[3])) return undefined;
  if (!graph.output?.some((o) => o.name === 'cls_8')) return undefined;
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name, t]));
  for (const node of graph.node ?? []) {
    if (node.opType !== 'Reshape') continue;
    const target = int64Values(initializers.get(node.input?.[1] ?? ''));
    if (!target || !target.includes(-1)) return undefined;
  }
  for (const node of graph.node ?? []) {
    // A Resize to a fixed `sizes` (its fourth input) would tie the graph to 640×640.
    if (node.opType === 'Resize' && (node.input?.length ?? 0) > 3 && node.input?.[3]) return undefined;
  }
  dims[2] = { dimParam: 'height' };
  dims[3] = { dimParam: 'width' };
  for (const output of graph.output) {
    const shape = output.type?.tensorType?.shape;
    if (shape?.dim?.[1]) shape.dim[1] = { dimParam: 'cells' };
  }
  // Shapes inferred at export time for the intermediate values hold 640×640's sizes: onnxruntime infers them again.
  graph.valueInfo = [];
  let dir: string | undefined;
  try {
    dir = await mkdtemp(path.join(tmpdir(), 'revive-detector-'));
    const file = path.join(dir, path.basename(modelPath));
    await writeFile(file, onnx.ModelProto.encode(model).finish());
    const written = dir;
    return { path: file, remove: () => rm(written, { recursive: true, force: true }) };
  } catch {
    // No writable temporary folder (a read-only root file system): the model loads as it is, letterboxed.
    if (dir !== undefined) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    return undefined;
  }
}
