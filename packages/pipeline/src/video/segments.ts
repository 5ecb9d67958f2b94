// A video is restored in segments: each is a unit of work (on the job queue, in the service) whose work, memory and
// disk stay bounded whatever the video's length.
import { PermanentError } from '../errors.js';
import type { VideoProbe } from './probe.js';
import { DEFAULT_WARMUP_FRAMES } from './tracking.js';

/**
 * Frames per segment: 10 s at 30 fps. Memory does not depend on it (frames stream through the pipes, two in flight:
 * 288 MiB for a 4 s video, 279 MiB for one three times longer, `pnpm bench`); its disk is the encoded segment (≈ 5.8
 * MB at 1280×720 → ×2, CRF 18); its work ≈ 2 minutes of one pipeline thread at that size (2.37 frames/s, identity
 * restorer), long enough that the 30 warm-up frames and the start-up are a small share, short enough that a retried
 * segment loses little and a 10-minute video spreads over 60 tasks. docs/decisions/video-segments.md. @default 300
 */
export const DEFAULT_FRAMES_PER_SEGMENT = 300;

export { DEFAULT_WARMUP_FRAMES } from './tracking.js';

export interface SegmentPlan {
  readonly index: number;
  /** First frame restored, in display order. */
  readonly startFrame: number;
  readonly frameCount: number;
  /** Frames before `startFrame` decoded only to warm the smoothing (0 for the first segment). */
  readonly warmupFrames: number;
}

/** Splits the video's frames into segments of `framesPerSegment` (the last one shorter), each with its warm-up. */
export function planSegments(probe: VideoProbe, options: { framesPerSegment?: number; warmupFrames?: number } = {}): SegmentPlan[] {
  const perSegment = options.framesPerSegment ?? DEFAULT_FRAMES_PER_SEGMENT;
  const warmup = options.warmupFrames ?? DEFAULT_WARMUP_FRAMES;
  if (!Number.isInteger(perSegment) || perSegment < 1) throw new PermanentError('CONFIG', `framesPerSegment must be a positive integer, not ${perSegment}`);
  if (!Number.isInteger(warmup) || warmup < 0) throw new PermanentError('CONFIG', `warmupFrames must be a non-negative integer, not ${warmup}`);
  const plans: SegmentPlan[] = [];
  for (let start = 0, index = 0; start < probe.video.frameCount; start += perSegment, index++) {
    plans.push({ index, startFrame: start, frameCount: Math.min(perSegment, probe.video.frameCount - start), warmupFrames: Math.min(warmup, start) });
  }
  return plans;
}
