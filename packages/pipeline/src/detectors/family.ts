import type { ModelMetadata, TensorData } from '../inference.js';

/**
 * One detection in the letterboxed model input's coordinates, as the upstream decoders produce them
 * (OpenCV/insightface convention: pixel centres at integer positions).
 */
export interface RawDetection {
  /** x1, y1, x2, y2 */
  readonly box: readonly [number, number, number, number];
  readonly score: number;
  /** x0, y0, … x4, y4: left eye, right eye, nose tip, left and right mouth corner (as seen in the image). */
  readonly landmarks: readonly number[];
}

/** How a family wants its pixels: channel order, then (value − mean) · scale per channel. */
export interface PixelNormalisation {
  readonly order: 'rgb' | 'bgr';
  /** Subtracted per channel, in `order`. */
  readonly mean: readonly [number, number, number];
  readonly scale: number;
}

/** A detector family: its input normalisation, a metadata check, and its output decoder. */
export interface DetectorFamily {
  readonly normalisation: PixelNormalisation;
  /** Throws (with what is wrong) when the model's outputs are not this family's. */
  readonly validate: (model: ModelMetadata) => void;
  /** True when the output names look like this family's, to pick a decoder for an unnamed .onnx. */
  readonly recognises: (model: ModelMetadata) => boolean;
  /** Every candidate above `scoreThreshold`, before NMS, for an input of `width`×`height`. */
  readonly decode: (
    outputs: Readonly<Record<string, TensorData>>,
    model: ModelMetadata,
    input: { readonly width: number; readonly height: number },
    scoreThreshold: number,
  ) => RawDetection[];
}

/** The stride-8/16/32 feature maps used by all three families. */
export const STRIDES = [8, 16, 32] as const;

/** The output tensor named `name`, as float32 data, or an error naming what is missing. */
export function floatOutput(outputs: Readonly<Record<string, TensorData>>, name: string): Float32Array {
  const tensor = outputs[name];
  if (!tensor || !(tensor.data instanceof Float32Array)) throw new Error(`detector output '${name}' missing or not float32`);
  return tensor.data;
}
