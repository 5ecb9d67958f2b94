// STUB — owned by the pipeline/CLI helper. Loads every model once and runs the stages in order.
import type { OutputExt } from '@revive/contract';
import type { DetectorKind } from './detect.js';
import type { ExecutionDevice } from './inference.js';
import type { DetectedFace, EncodedFormat, RgbImage, StageTimingsMs } from './types.js';

export interface PipelineConfig {
  /** Folder of model files. @default defaultModelsDir() */
  readonly modelsDir?: string;
  /** Detector catalogue id or .onnx path. @default 'yunet' */
  readonly detector?: string;
  /** Needed when `detector` is a path whose kind can't be told from its metadata. */
  readonly detectorKind?: DetectorKind;
  /** Restorer catalogue id or .onnx path. @default 'gfpgan-1.4' */
  readonly restorer?: string;
  /** Background upsampler id or path; when absent the background is upscaled with Lanczos. */
  readonly bgUpsampler?: string;
  /** @default 0 */
  readonly threads?: number;
  /** @default 'cpu' */
  readonly device?: ExecutionDevice;
  /** Download missing catalogue models. @default true */
  readonly download?: boolean;
  readonly onDownloadProgress?: (modelId: string, receivedBytes: number, totalBytes: number | undefined) => void;
}

export interface ProcessOptions {
  /** @default 2 */
  readonly upscale?: number;
  /** @default false */
  readonly onlyCenterFace?: boolean;
  /** The input is already a crop aligned to the template: restore it only. @default false */
  readonly aligned?: boolean;
  /** @default 1 */
  readonly blend?: number;
  /** @default 0.5 */
  readonly fidelity?: number;
  /** @default 'auto' */
  readonly ext?: OutputExt;
  /** Use the loaded background upsampler. @default true when one is loaded */
  readonly useBgUpsampler?: boolean;
  /** Fail with NO_FACE when none is found. @default false */
  readonly requireFace?: boolean;
  /** @default 0.5 */
  readonly scoreThreshold?: number;
  /** Also return per-face crops (cropped_faces/, restored_faces/, cmp/). @default false */
  readonly keepFaces?: boolean;
}

export interface ProcessedFace extends DetectedFace {
  /** Aligned input crop and restored face, only with `keepFaces`. */
  readonly cropped?: RgbImage;
  readonly restored?: RgbImage;
}

export interface ProcessResult {
  readonly image: Uint8Array;
  readonly format: EncodedFormat;
  readonly width: number;
  readonly height: number;
  readonly faces: readonly ProcessedFace[];
  readonly timingsMs: StageTimingsMs;
}

/** The whole restoration: models load once in `create()`; `process()` may be called concurrently. */
export class RestorationPipeline {
  static async create(_config: PipelineConfig): Promise<RestorationPipeline> {
    throw new Error('not implemented');
  }
  /** Ids or paths of the loaded models, for logs and for checking a job's `restorer` option. */
  readonly models: { readonly detector: string; readonly restorer: string; readonly bgUpsampler: string | undefined } = {
    detector: '',
    restorer: '',
    bgUpsampler: undefined,
  };
  async process(_input: Uint8Array, _options?: ProcessOptions): Promise<ProcessResult> {
    throw new Error('not implemented');
  }
  async dispose(): Promise<void> {}
}
