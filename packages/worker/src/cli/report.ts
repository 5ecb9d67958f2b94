import type { FaceSummary, JobErrorCode, StageTimings } from '@revive/contract';
import type { WorkerErrorCode, Affine, EncodedFormat } from '@revive/pipeline';

/** Format version of report.json; bump on a breaking change. */
export const REPORT_VERSION = 1;

export interface FaceReport extends FaceSummary {
  /** Maps input pixels to the restorer's crop of side `cropSizePx` (facexlib's affine matrix). */
  readonly affine?: Affine;
  readonly cropSizePx?: number;
  /** Written files, relative to the output folder. */
  readonly croppedFace?: string;
  readonly restoredFace?: string;
  readonly cmp?: string;
}

export interface RestoredImageReport {
  readonly status: 'ok';
  /** The input path as found (absolute). */
  readonly input: string;
  /** The restored photo, relative to the output folder. */
  readonly output: string;
  readonly format: EncodedFormat;
  readonly width: number;
  readonly height: number;
  /** The restored faces: at most `--max-faces`, the largest. */
  readonly faces: readonly FaceReport[];
  /** Every face the detector found, restored or not (over `--max-faces`, or not the centre one with `--only-center-face`). */
  readonly facesDetected: number;
  readonly timingsMs: StageTimings;
  /** Wall time for this image including file I/O. */
  readonly totalMs: number;
}

export interface FailedImageReport {
  readonly status: 'failed';
  readonly input: string;
  readonly error: { readonly code: WorkerErrorCode | JobErrorCode; readonly message: string };
}

export type ImageReport = RestoredImageReport | FailedImageReport;

export interface RestoredVideoReport {
  readonly status: 'ok';
  readonly input: string;
  /** The restored video, relative to the output folder. */
  readonly output: string;
  readonly width: number;
  readonly height: number;
  readonly frames: number;
  readonly durationSeconds: number;
  /** Faces restored, summed over the frames. */
  readonly facesRestored: number;
  readonly segments: number;
  readonly framesPerSecond: number;
  readonly timingsMs: Record<string, number>;
  readonly totalMs: number;
}

export type VideoReport = RestoredVideoReport | FailedImageReport;

/** report.json at the root of the output folder. */
export interface RestoreReport {
  readonly version: typeof REPORT_VERSION;
  readonly startedAt: string;
  readonly models: { readonly detector: string; readonly restorer: string; readonly bgUpsampler: string | undefined };
  readonly options: Record<string, unknown>;
  readonly images: readonly ImageReport[];
  /** The videos of the run, restored or failed. */
  readonly videos: readonly VideoReport[];
  readonly totals: {
    readonly images: number;
    readonly restored: number;
    readonly failed: number;
    /** Faces restored. */
    readonly faces: number;
    /** Faces detected, restored or not. */
    readonly facesDetected: number;
    readonly seconds: number;
    /** Sum per stage over the restored images. */
    readonly timingsMs: StageTimings;
  };
}

/** Totals over the per-image entries. */
export function summarize(images: readonly ImageReport[], seconds: number): RestoreReport['totals'] {
  const timingsMs: Record<string, number> = {};
  let faces = 0;
  let facesDetected = 0;
  let restored = 0;
  for (const image of images) {
    if (image.status !== 'ok') continue;
    restored++;
    faces += image.faces.length;
    facesDetected += image.facesDetected;
    for (const [stage, ms] of Object.entries(image.timingsMs)) timingsMs[stage] = (timingsMs[stage] ?? 0) + ms;
  }
  return { images: images.length, restored, failed: images.length - restored, faces, facesDetected, seconds, timingsMs };
}
