import { z } from 'zod';

/**
 * The work a queue message carries, declared by whoever sends it, so that the fleet can scale on seconds of work
 * rather than on a count of messages (a one-minute video segment and a small photo are not the same job).
 *
 * A photo is one frame; a video segment is its frames. `facesPerFrame` is known once a face detector has seen the
 * input (a retried photo, an album child re-sent, a video segment after the probe's sample); absent, the consumer of
 * the estimate assumes its own default.
 */
export const workEstimateSchema = z.strictObject({
  /** Frames to run through the pipeline: 1 for a photo. */
  frames: z.number().int().positive(),
  /** Input pixels per frame (width × height of the decoded input). */
  pixelsPerFrame: z.number().int().positive(),
  /** Output pixels per frame, after the upscale. */
  outputPixelsPerFrame: z.number().int().positive().optional(),
  /** Faces per frame, where a detector has seen the input (an average for a video). */
  facesPerFrame: z.number().nonnegative().optional(),
});
export type WorkEstimate = z.infer<typeof workEstimateSchema>;

/** What one unit of work costs a worker task, in task-seconds (wall time ÷ the task's concurrency). */
export interface WorkCosts {
  /** Fixed cost of one frame: fetch, decode, detection, encode and upload overheads. */
  readonly secondsPerFrame: number;
  /** Cost per megapixel of output: background upscale, paste, encode. */
  readonly secondsPerOutputMegapixel: number;
  /** Cost per face: alignment, the restorer, the paste-back. */
  readonly secondsPerFace: number;
}

/** The worker modes whose costs differ. */
export type WorkMode = 'cpu' | 'gpu';

/**
 * Default per-unit costs per mode, until the worker's own measurements (WORKER_METRICS.workCostSeconds*) are
 * published: the one place to change them. CPU: measured with the GFPGAN-sized stand-in on 2 vCPU (2026-12-06,
 * docs/decisions/gfpgan-stand-in.md): 3.76 CPU s per face at 2 intra-op threads (≈ 1.9 task-seconds), 0.071 CPU s per
 * output megapixel for every other stage (≈ 0.036), and about 0.3 s per photo of fetch, decode, detection and upload.
 * GPU: no GPU was lent to measure one; 2 s per face (GFPGAN on a T4 at batch 1) and the CPU-side stages on 4 vCPU.
 * The infra's `secondsPerJob` default is DEFAULT_PHOTO_WORK at these costs.
 * @default cpu { secondsPerFrame: 0.3, secondsPerOutputMegapixel: 0.036, secondsPerFace: 1.9 }, gpu { secondsPerFrame: 0.5, secondsPerOutputMegapixel: 0.25, secondsPerFace: 2 }
 */
export const DEFAULT_WORK_COSTS: Readonly<Record<WorkMode, WorkCosts>> = {
  cpu: { secondsPerFrame: 0.3, secondsPerOutputMegapixel: 0.036, secondsPerFace: 1.9 },
  gpu: { secondsPerFrame: 0.5, secondsPerOutputMegapixel: 0.25, secondsPerFace: 2 },
};

/** Faces per frame assumed where no detector has seen the input (a portrait; group photos cost more). @default 1 */
export const DEFAULT_FACES_PER_FRAME = 1;

/**
 * The work of a message that declares none (an older sender): a 1 MP photo at the default upscale 2, one face.
 * @default { frames: 1, pixelsPerFrame: 1_000_000, outputPixelsPerFrame: 4_000_000 }
 */
export const DEFAULT_PHOTO_WORK: WorkEstimate = { frames: 1, pixelsPerFrame: 1_000_000, outputPixelsPerFrame: 4_000_000 };

/** The units of an estimate the costs multiply: frames, output megapixels and faces over all frames. */
export interface WorkUnits {
  readonly frames: number;
  readonly outputMegapixels: number;
  readonly faces: number;
}

/** Frames, output megapixels and faces of an estimate (output = input pixels when no upscale is declared). */
export function workUnits(work: WorkEstimate): WorkUnits {
  const outputPixels = work.outputPixelsPerFrame ?? work.pixelsPerFrame;
  return {
    frames: work.frames,
    outputMegapixels: (work.frames * outputPixels) / 1_000_000,
    faces: work.frames * (work.facesPerFrame ?? DEFAULT_FACES_PER_FRAME),
  };
}

/** Task-seconds of work units at the given costs. */
export function workUnitsSeconds(units: WorkUnits, costs: WorkCosts): number {
  return units.frames * costs.secondsPerFrame + units.outputMegapixels * costs.secondsPerOutputMegapixel + units.faces * costs.secondsPerFace;
}

/** Task-seconds one worker task spends on `work` (absent: DEFAULT_PHOTO_WORK) at the given per-unit costs. */
export function estimateWorkSeconds(work: WorkEstimate | undefined, costs: WorkCosts): number {
  return workUnitsSeconds(workUnits(work ?? DEFAULT_PHOTO_WORK), costs);
}

/**
 * A photo's estimate from its header: one frame of width × height, output at `upscale`² times the pixels; faces
 * unknown until the worker's detector has run.
 */
export function photoWorkEstimate(width: number, height: number, upscale: number): WorkEstimate {
  const pixelsPerFrame = Math.max(1, Math.round(width) * Math.round(height));
  return { frames: 1, pixelsPerFrame, outputPixelsPerFrame: Math.max(1, Math.round(pixelsPerFrame * upscale * upscale)) };
}
