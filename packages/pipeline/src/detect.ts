import { PermanentError, messageOf } from './errors.js';
import { retinaface } from './detectors/retinaface.js';
import { scrfd } from './detectors/scrfd.js';
import { yunet } from './detectors/yunet.js';
import { nonMaximumSuppression } from './detectors/nms.js';
import type { DetectorFamily, PixelNormalisation } from './detectors/family.js';
import { resizeImage } from './image.js';
import { OnnxModel } from './inference.js';
import type { CreateModelOptions, ModelMetadata, SessionOptions } from './inference.js';
import { freeInputSizeCopy } from './detectors/free-input-size.js';
import type { DetectedFace, Landmarks5, Point, RgbImage } from './types.js';
import { DEFAULT_SCORE_THRESHOLDS, DETECTOR_KINDS, type DetectorKind } from './defaults.js';

export { DEFAULT_SCORE_THRESHOLDS, DETECTOR_KINDS, type DetectorKind };
/** The default detector's (YuNet's) threshold; `detect()` without a threshold uses its own family's. */
export const DEFAULT_SCORE_THRESHOLD = DEFAULT_SCORE_THRESHOLDS.yunet;
/** 0.4: insightface's SCRFD default; OpenCV's YuNet demo uses 0.3, facexlib 0.4. */
export const DEFAULT_NMS_IOU_THRESHOLD = 0.4;
/** 5 px: below that the aligned crop is upscaled more than 50× and restoration only invents a face. */
export const DEFAULT_MIN_EYE_DISTANCE_PX = 5;
/**
 * 640: the size all three detectors were trained and exported at. A fixed-size model is letterboxed to its own
 * input; a model with dynamic input takes a photo at its own scale (rounded up to a multiple of 32) and shrinks
 * only a photo whose longer side exceeds this, to this. @default 640
 */
export const DEFAULT_DETECTOR_INPUT_SIZE_PX = 640;
/** Dynamic detectors need sizes divisible by the coarsest stride. */
const INPUT_SIZE_MULTIPLE = 32;

const FAMILIES: Readonly<Record<DetectorKind, DetectorFamily>> = { yunet, scrfd, retinaface };

export interface DetectOptions {
  /** Minimum face probability. @default DEFAULT_SCORE_THRESHOLDS[kind] */
  readonly scoreThreshold?: number;
  /** @default DEFAULT_NMS_IOU_THRESHOLD */
  readonly nmsIouThreshold?: number;
  /** Faces whose eyes are closer than this (in input pixels) are dropped. @default DEFAULT_MIN_EYE_DISTANCE_PX */
  readonly minEyeDistancePx?: number;
}

export interface FaceDetectorOptions extends SessionOptions {
  /** The decoder to use; when absent it is told from the model's output names. */
  readonly kind?: DetectorKind;
  /**
   * For models with dynamic input: the longest side a photo is detected at (a multiple of 32); smaller photos are
   * fed at their own size, rounded up to a multiple of 32. Fixed-size models use their own input size.
   * @default DEFAULT_DETECTOR_INPUT_SIZE_PX
   */
  readonly inputSizePx?: number;
  /**
   * Run photos at their own scale wherever the model allows it: a dynamic-input model, or a fixed YuNet export whose
   * graph does not depend on its declared size (loaded with the size declared free: detectors/free-input-size.ts).
   * False letterboxes fixed models to their declared size, as before. @default DEFAULT_DETECT_AT_OWN_SCALE
   */
  readonly ownScale?: boolean;
}

/**
 * True: on the shared photos YuNet at each photo's own scale finds the same faces as at a 640×640 letterbox, in
 * 0.5–0.7 of the detect time (bench/detect.bench.ts; docs/decisions/detect-at-own-scale.md).
 * @default true
 */
export const DEFAULT_DETECT_AT_OWN_SCALE = true;

/**
 * Which family a detector model belongs to, from its output names; undefined when none fits. The families' outputs
 * do not overlap (YuNet: cls_8…, 12 outputs; SCRFD: 9; RetinaFace: 3), so the order tried does not matter.
 */
export function detectorKindOf(model: ModelMetadata): DetectorKind | undefined {
  return DETECTOR_KINDS.find((kind) => FAMILIES[kind].recognises(model));
}

/**
 * Pixels → planar NCHW float32 of `inputWidth`×`inputHeight` with the family's channel order and normalisation; the
 * photo sits top-left and the rest is black (0 before normalisation), written without an intermediate canvas. One
 * pass over the photo's rows writing the three planes, into `into` when given (a buffer of at least
 * 3·inputWidth·inputHeight values, whatever it held; the tensor is its start): with the buffer reused, 0.9 against
 * 1.8 CPU ms for a 512² input (docs/decisions/cpu-side-cost.md).
 */
export function toInputTensor(image: RgbImage, inputWidth: number, inputHeight: number, norm: PixelNormalisation, into?: Float32Array): Float32Array {
  const plane = inputWidth * inputHeight;
  const { width, height } = image;
  if (width > inputWidth || height > inputHeight) throw new RangeError(`a ${width}×${height} photo does not fit a ${inputWidth}×${inputHeight} input`);
  if (into !== undefined && into.length < plane * 3) throw new RangeError(`a ${inputWidth}×${inputHeight} input needs ${plane * 3} values, not ${into.length}`);
  const out = into === undefined ? new Float32Array(plane * 3) : into.subarray(0, plane * 3);
  const src = image.data;
  // Plane p takes source channel `channelOf[p]`: BGR models read blue first.
  const [c0, c1, c2] = norm.order === 'bgr' ? [2, 1, 0] : [0, 1, 2];
  const [m0, m1, m2] = norm.mean;
  const scale = norm.scale;
  for (let y = 0; y < height; y++) {
    const row = y * inputWidth;
    for (let x = 0, i = y * width * 3; x < width; x++, i += 3) {
      out[row + x] = (src[i + c0]! - m0) * scale;
      out[plane + row + x] = (src[i + c1]! - m1) * scale;
      out[2 * plane + row + x] = (src[i + c2]! - m2) * scale;
    }
  }
  // The padding: right of each row, then the rows below the photo. A new buffer is zero already.
  for (let p = 0; p < 3; p++) {
    // What a 0 byte gives, as the loop computes it: (0 − 0) · s is +0, where −0 · s would write −0.
    const black = (0 - norm.mean[p]!) * scale;
    if (into === undefined && black === 0) continue;
    const base = p * plane;
    if (width < inputWidth) for (let y = 0; y < height; y++) out.fill(black, base + y * inputWidth + width, base + (y + 1) * inputWidth);
    out.fill(black, base + height * inputWidth, base + plane);
  }
  return out;
}

/** Model input size for a photo: its scaled size, padded to the fixed input or up to a multiple of 32. */
export interface DetectorInputPlan {
  /** The photo's size once shrunk to fit (never enlarged). */
  readonly width: number;
  readonly height: number;
  /** The model input's size: the photo sits top-left, the rest is black. */
  readonly inputWidth: number;
  readonly inputHeight: number;
}

/** Rounds up to the next multiple of the coarsest stride. */
const roundUpToStride = (n: number): number => Math.ceil(n / INPUT_SIZE_MULTIPLE) * INPUT_SIZE_MULTIPLE;

/**
 * Where a `width`×`height` photo goes in the detector's input. Fixed (`dynamic` false): shrunk to fit
 * `maxWidth`×`maxHeight`, padded to it. Dynamic: shrunk only when a side exceeds its maximum, then padded to the
 * next multiple of 32: a 238×267 photo runs at 256×288, 5.6 times fewer pixels than a 640×640 letterbox.
 */
export function detectorInputPlan(width: number, height: number, maxWidth: number, maxHeight: number, dynamic: boolean): DetectorInputPlan {
  // Smaller photos are not enlarged (facexlib detects at the photo's own scale): enlarged, a 512 aligned crop's
  // face outgrows the largest anchors and SCRFD misses it.
  const fit = Math.min(1, maxWidth / width, maxHeight / height);
  const w = Math.max(1, Math.min(maxWidth, Math.round(width * fit)));
  const h = Math.max(1, Math.min(maxHeight, Math.round(height * fit)));
  return dynamic
    ? { width: w, height: h, inputWidth: roundUpToStride(w), inputHeight: roundUpToStride(h) }
    : { width: w, height: h, inputWidth: maxWidth, inputHeight: maxHeight };
}

/**
 * Stage 2: finds faces with 5 landmarks. A fixed-size model gets the photo letterboxed to its input; a dynamic one
 * gets it at its own scale (see `detectorInputPlan`), keeping the aspect ratio either way.
 */
export class FaceDetector {
  readonly kind: DetectorKind;
  /** The largest input: a fixed model's own size, or `inputSizePx` for a dynamic one. */
  readonly inputWidth: number = DEFAULT_DETECTOR_INPUT_SIZE_PX;
  readonly inputHeight: number = DEFAULT_DETECTOR_INPUT_SIZE_PX;
  /** True when the model takes any multiple of 32 (its height and width are symbolic): photos run at their own scale. */
  readonly dynamicInput: boolean = false;
  /** The threshold `detect()` uses when none is given: this family's entry in DEFAULT_SCORE_THRESHOLDS. */
  readonly defaultScoreThreshold: number = DEFAULT_SCORE_THRESHOLD;
  /** The model file (not the free-size copy it may have been loaded from), for messages. */
  readonly modelPath: string;
  readonly #model: OnnxModel;
  readonly #family: DetectorFamily;
  /** The last input tensor's buffer, free for the next photo when large enough (no page faults on megabytes a photo). */
  #freeInput: Float32Array | undefined;

  private constructor(modelPath: string, model: OnnxModel, kind: DetectorKind, width: number, height: number, dynamicInput: boolean) {
    this.modelPath = modelPath;
    this.#model = model;
    this.kind = kind;
    this.#family = FAMILIES[kind];
    this.inputWidth = width;
    this.inputHeight = height;
    this.dynamicInput = dynamicInput;
    this.defaultScoreThreshold = DEFAULT_SCORE_THRESHOLDS[kind];
  }

  /** Loads a detector; a model that is not of the given (or recognisable) family fails with MODEL_INVALID. */
  static async create(modelPath: string, options: FaceDetectorOptions): Promise<FaceDetector> {
    const requested = options.inputSizePx ?? DEFAULT_DETECTOR_INPUT_SIZE_PX;
    if (!Number.isInteger(requested) || requested <= 0 || requested % INPUT_SIZE_MULTIPLE !== 0) {
      throw new PermanentError('CONFIG', `detector inputSizePx must be a positive multiple of ${INPUT_SIZE_MULTIPLE}, got ${requested}`);
    }
    let kind: DetectorKind | undefined;
    let size: [number, number] = [requested, requested];
    let dynamicInput = true;
    const modelOptions: CreateModelOptions = {
      ...options,
      validate: (m) => {
        kind = options.kind ?? detectorKindOf(m);
        if (!kind) throw new Error('not a YuNet, SCRFD or RetinaFace detector (outputs not recognised); name the kind explicitly');
        const input = m.inputs[0];
        if (m.inputs.length !== 1 || !input) throw new Error(`a detector has one image input, found ${m.inputs.length}`);
        if (input.type !== 'float32' || input.shape.length !== 4 || input.shape[1] !== 3) {
          throw new Error(`detector input '${input.name}' must be float32 [1,3,H,W]`);
        }
        const [, , h, w] = input.shape;
        // A fixed-size export (yunet_s_640_640) dictates its letterbox size; dynamic ones take the option.
        if (typeof h === 'number' && typeof w === 'number') {
          size = [w, h];
          dynamicInput = false;
        }
        FAMILIES[kind].validate(m);
      },
    };
    const model = await FaceDetector.#load(modelPath, modelOptions, (options.ownScale ?? DEFAULT_DETECT_AT_OWN_SCALE) && (options.kind ?? 'yunet') === 'yunet');
    // validate() ran before create() resolved, and it throws unless it found a kind.
    return new FaceDetector(modelPath, model, kind!, size[0], size[1], dynamicInput);
  }

  /**
   * The model as it is, or, when `freeSize` and the file is a fixed YuNet export that allows it, with its input
   * size declared free (a copy read once, then removed). A copy that onnxruntime refuses falls back to the file.
   */
  static async #load(modelPath: string, options: CreateModelOptions, freeSize: boolean): Promise<OnnxModel> {
    const copy = freeSize ? await freeInputSizeCopy(modelPath) : undefined;
    if (copy === undefined) return OnnxModel.create(modelPath, options);
    try {
      return await OnnxModel.create(copy.path, options);
    } catch {
      return OnnxModel.create(modelPath, options);
    } finally {
      await copy.remove();
    }
  }

  /** Faces sorted by score, highest first, in `image`'s coordinates. */
  async detect(image: RgbImage, options?: DetectOptions): Promise<DetectedFace[]> {
    const scoreThreshold = options?.scoreThreshold ?? this.defaultScoreThreshold;
    const nmsIouThreshold = options?.nmsIouThreshold ?? DEFAULT_NMS_IOU_THRESHOLD;
    const minEyeDistancePx = options?.minEyeDistancePx ?? DEFAULT_MIN_EYE_DISTANCE_PX;
    const { width: w, height: h, inputWidth, inputHeight } = detectorInputPlan(image.width, image.height, this.inputWidth, this.inputHeight, this.dynamicInput);

    // The photo goes top-left, padded with black, as insightface does, so padding never shifts coordinates.
    const resized = w === image.width && h === image.height ? image : await resizeImage(image, w, h, 'linear');
    // Taken while this photo uses it: concurrent calls each write a buffer of their own.
    const free = this.#freeInput;
    const reuse = free !== undefined && free.length >= 3 * inputWidth * inputHeight;
    if (reuse) this.#freeInput = undefined;
    const tensor = toInputTensor(resized, inputWidth, inputHeight, this.#family.normalisation, reuse ? free : undefined);
    const buffer = reuse ? free : tensor;

    const input = this.#model.inputs[0]!;
    let outputs;
    try {
      outputs = await this.#model.run({ [input.name]: { type: 'float32', data: tensor, dims: [1, 3, inputHeight, inputWidth] } });
    } finally {
      // The run has ended, so onnxruntime holds no reference to it; the larger buffer is kept.
      if (this.#freeInput === undefined || this.#freeInput.length < buffer.length) this.#freeInput = buffer;
    }
    let raw;
    try {
      raw = this.#family.decode(outputs, this.#model, { width: inputWidth, height: inputHeight }, scoreThreshold);
    } catch (error) {
      throw new PermanentError('MODEL_INVALID', `detector ${this.modelPath}: ${messageOf(error)}`, {
        cause: error,
      });
    }
    const kept = nonMaximumSuppression(raw, nmsIouThreshold);

    // The decoders give the letterboxed image's coordinates with pixel centres at integers (OpenCV's
    // convention); Revive's put them at i+0.5, so shift by half a pixel, then undo the resize per axis.
    const sx = w / image.width;
    const sy = h / image.height;
    const toX = (m: number) => (m + 0.5) / sx;
    const toY = (m: number) => (m + 0.5) / sy;
    const faces: DetectedFace[] = [];
    for (const d of kept) {
      const points: Point[] = [];
      for (let n = 0; n < 5; n++) points.push([toX(d.landmarks[2 * n]!), toY(d.landmarks[2 * n + 1]!)]);
      const landmarks = points as unknown as Landmarks5;
      const eyeDistance = Math.hypot(landmarks[1][0] - landmarks[0][0], landmarks[1][1] - landmarks[0][1]);
      if (eyeDistance < minEyeDistancePx) continue;
      faces.push({ box: [toX(d.box[0]), toY(d.box[1]), toX(d.box[2]), toY(d.box[3])], score: d.score, landmarks });
    }
    return faces;
  }

  async dispose(): Promise<void> {
    await this.#model.dispose();
  }
}
