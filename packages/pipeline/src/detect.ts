import { PermanentError, messageOf } from './errors.js';
import { retinaface } from './detectors/retinaface.js';
import { scrfd } from './detectors/scrfd.js';
import { yunet } from './detectors/yunet.js';
import { nonMaximumSuppression } from './detectors/nms.js';
import type { DetectorFamily, PixelNormalisation } from './detectors/family.js';
import { resizeImage } from './image.js';
import { OnnxModel } from './inference.js';
import type { ModelMetadata, SessionOptions } from './inference.js';
import type { DetectedFace, Landmarks5, Point, RgbImage } from './types.js';
import { DEFAULT_SCORE_THRESHOLDS, DETECTOR_KINDS, type DetectorKind } from './defaults.js';

export { DEFAULT_SCORE_THRESHOLDS, DETECTOR_KINDS, type DetectorKind };
/** The default detector's (YuNet's) threshold; `detect()` without a threshold uses its own family's. */
export const DEFAULT_SCORE_THRESHOLD = DEFAULT_SCORE_THRESHOLDS.yunet;
/** 0.4: insightface's SCRFD default; OpenCV's YuNet demo uses 0.3, facexlib 0.4. */
export const DEFAULT_NMS_IOU_THRESHOLD = 0.4;
/** 5 px: below that the aligned crop is upscaled more than 50× and restoration only invents a face. */
export const DEFAULT_MIN_EYE_DISTANCE_PX = 5;
/** 640: the size all three detectors were trained and exported at; dynamic models are letterboxed to it too. */
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
  /** Letterbox size for models with dynamic input (a multiple of 32); fixed-size models use their own. @default DEFAULT_DETECTOR_INPUT_SIZE_PX */
  readonly inputSizePx?: number;
}

/**
 * Which family a detector model belongs to, from its output names; undefined when none fits. The families' outputs
 * do not overlap (YuNet: cls_8…, 12 outputs; SCRFD: 9; RetinaFace: 3), so the order tried does not matter.
 */
export function detectorKindOf(model: ModelMetadata): DetectorKind | undefined {
  return DETECTOR_KINDS.find((kind) => FAMILIES[kind].recognises(model));
}

/** Letterboxed pixels → planar NCHW float32 with the family's channel order and normalisation. */
function toInputTensor(image: RgbImage, norm: PixelNormalisation): Float32Array {
  const plane = image.width * image.height;
  const out = new Float32Array(plane * 3);
  const src = image.data;
  // Plane p takes source channel `channelOf[p]`: BGR models read blue first.
  const channelOf = norm.order === 'bgr' ? [2, 1, 0] : [0, 1, 2];
  for (let p = 0; p < 3; p++) {
    const c = channelOf[p]!;
    const mean = norm.mean[p]!;
    const base = p * plane;
    for (let i = 0; i < plane; i++) out[base + i] = (src[3 * i + c]! - mean) * norm.scale;
  }
  return out;
}

/** Stage 2: finds faces with 5 landmarks. Letterboxes the photo to the model's input, keeping the aspect ratio. */
export class FaceDetector {
  readonly kind: DetectorKind;
  /** The model input's width and height (the letterbox size). */
  readonly inputWidth: number = DEFAULT_DETECTOR_INPUT_SIZE_PX;
  readonly inputHeight: number = DEFAULT_DETECTOR_INPUT_SIZE_PX;
  /** The threshold `detect()` uses when none is given: this family's entry in DEFAULT_SCORE_THRESHOLDS. */
  readonly defaultScoreThreshold: number = DEFAULT_SCORE_THRESHOLD;
  readonly #model: OnnxModel;
  readonly #family: DetectorFamily;

  private constructor(model: OnnxModel, kind: DetectorKind, width: number, height: number) {
    this.#model = model;
    this.kind = kind;
    this.#family = FAMILIES[kind];
    this.inputWidth = width;
    this.inputHeight = height;
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
    const model = await OnnxModel.create(modelPath, {
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
        if (typeof h === 'number' && typeof w === 'number') size = [w, h];
        FAMILIES[kind].validate(m);
      },
    });
    // validate() ran before create() resolved, and it throws unless it found a kind.
    return new FaceDetector(model, kind!, size[0], size[1]);
  }

  /** Faces sorted by score, highest first, in `image`'s coordinates. */
  async detect(image: RgbImage, options?: DetectOptions): Promise<DetectedFace[]> {
    const scoreThreshold = options?.scoreThreshold ?? this.defaultScoreThreshold;
    const nmsIouThreshold = options?.nmsIouThreshold ?? DEFAULT_NMS_IOU_THRESHOLD;
    const minEyeDistancePx = options?.minEyeDistancePx ?? DEFAULT_MIN_EYE_DISTANCE_PX;
    const { inputWidth, inputHeight } = this;

    // Letterbox: shrink to fit keeping the aspect ratio, put the photo top-left and pad with black, as insightface
    // does, so padding never shifts coordinates. Smaller photos are not enlarged (facexlib detects at the
    // photo's own scale): enlarged, a 512 aligned crop's face outgrows the largest anchors and SCRFD misses it.
    const fit = Math.min(1, inputWidth / image.width, inputHeight / image.height);
    const w = Math.max(1, Math.min(inputWidth, Math.round(image.width * fit)));
    const h = Math.max(1, Math.min(inputHeight, Math.round(image.height * fit)));
    const resized = w === image.width && h === image.height ? image : await resizeImage(image, w, h, 'linear');
    const canvas = new Uint8Array(inputWidth * inputHeight * 3);
    for (let y = 0; y < h; y++) canvas.set(resized.data.subarray(y * w * 3, (y + 1) * w * 3), y * inputWidth * 3);
    const tensor = toInputTensor({ width: inputWidth, height: inputHeight, data: canvas }, this.#family.normalisation);

    const input = this.#model.inputs[0]!;
    const outputs = await this.#model.run({ [input.name]: { type: 'float32', data: tensor, dims: [1, 3, inputHeight, inputWidth] } });
    let raw;
    try {
      raw = this.#family.decode(outputs, this.#model, { width: inputWidth, height: inputHeight }, scoreThreshold);
    } catch (error) {
      throw new PermanentError('MODEL_INVALID', `detector ${this.#model.path}: ${messageOf(error)}`, {
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
