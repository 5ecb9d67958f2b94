// One segment of a video through the photo pipeline, frame by frame, and the whole video in one process (the CLI).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_UPSCALE } from '@revive/contract';
import type { FrameOptions, FrameResult } from '../pipeline.js';
import type { RestorationService } from '../pipeline-threads.js';
import type { DetectedFace, RgbImage } from '../types.js';
import { assembleVideo } from './assemble.js';
import { decodeFrames, FrameEncoder } from './frames.js';
import { probeVideo, ratio, timestampsOf, type VideoLimits, type VideoProbe } from './probe.js';
import { planSegments, type SegmentPlan } from './segments.js';
import { FaceTracker, type SmoothingOptions } from './tracking.js';

/**
 * Frames in flight in one segment: while a pipeline thread restores one frame, the next is decoded and detected and
 * the one before is encoded. More only holds more frames in memory with one thread. @default 2
 */
export const DEFAULT_FRAMES_IN_FLIGHT = 2;

/** What a segment needs of the pipeline: the raw-frame entries (`PipelineThreadPool` and `RestorationPipeline` fit). */
export type FrameService = Pick<RestorationService, 'detectFrame' | 'processFrame'>;

/** The photo options that apply to a video's frames. */
export type VideoRestoreOptions = Omit<FrameOptions, 'faces'>;

export interface SegmentOptions {
  /** Local path or http(s) URL (ffmpeg reads it with range requests). */
  readonly input: string;
  readonly probe: VideoProbe;
  readonly segment: SegmentPlan;
  /** Local file the encoded segment is written to (video only, MP4). */
  readonly output: string;
  readonly restore?: VideoRestoreOptions;
  /** x264 CRF. @default DEFAULT_VIDEO_CRF */
  readonly crf?: number;
  /** x264 preset. @default DEFAULT_VIDEO_PRESET */
  readonly preset?: string;
  /** Face tracking and landmark smoothing, or `false` for each frame's own detections. @default {} (the defaults) */
  readonly smoothing?: SmoothingOptions | false;
  /** @default DEFAULT_FRAMES_IN_FLIGHT */
  readonly framesInFlight?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (framesDone: number, framesTotal: number) => void;
}

export interface SegmentResult {
  readonly frames: number;
  /** Faces restored, summed over the frames. */
  readonly facesRestored: number;
  /**
   * Time per stage summed over the frames: `decode` is the wait on the decoder pipe, `encode` on the encoder's, `detect`
   * each frame's detection on the service (warm-up frames included), the rest as the photo pipeline times them.
   */
  readonly timingsMs: Record<string, number>;
}

function addTimings(into: Record<string, number>, from: Readonly<Record<string, number | undefined>>): void {
  for (const [stage, ms] of Object.entries(from)) into[stage] = (into[stage] ?? 0) + (ms ?? 0);
}

/**
 * Restores one segment: decodes its frames (and its warm-up frames, which only feed the smoothing) through an ffmpeg
 * pipe, detects the faces of each frame, smooths them along their tracks, restores and pastes them with the background
 * upscale on the service's threads, and encodes the frames with their input timestamps. Fails with VIDEO_UNREADABLE,
 * VIDEO_ENCODE_FAILED, the pipeline's codes, or the signal's reason.
 */
export async function restoreSegment(service: FrameService, options: SegmentOptions): Promise<SegmentResult> {
  const { probe, segment, signal } = options;
  const restore = options.restore ?? {};
  const upscale = restore.upscale ?? DEFAULT_UPSCALE;
  const first = segment.startFrame - segment.warmupFrames;
  const total = segment.warmupFrames + segment.frameCount;
  const timestamps = timestampsOf(probe.video.timestamps, Math.max(0, first - 1), total + (first > 0 ? 1 : 0));
  const before = first > 0 ? timestamps.shift() : undefined;
  const tick = ratio(probe.video.timeBase);
  const tracker = options.smoothing === false ? undefined : new FaceTracker(options.smoothing ?? {});
  const encoder = new FrameEncoder({
    output: options.output,
    width: probe.video.displayWidth * upscale,
    height: probe.video.displayHeight * upscale,
    timestamps: timestamps.slice(segment.warmupFrames),
    timeBase: probe.video.timeBase,
    averageFps: probe.video.averageFps,
    rotationDegrees: probe.video.rotationDegrees,
    crf: options.crf,
    preset: options.preset,
    signal,
  });
  const timingsMs: Record<string, number> = {};
  const run = signal === undefined ? {} : { signal };
  const scoreThreshold = restore.scoreThreshold === undefined ? {} : { scoreThreshold: restore.scoreThreshold };
  let facesRestored = 0;
  let done = 0;
  // Each frame is a chain: detect (any order) → smooth (in frame order) → restore (any order) → encode (in frame order).
  let smoothed: Promise<unknown> = Promise.resolve();
  let encoded: Promise<unknown> = Promise.resolve();
  const inFlight: Promise<unknown>[] = [];
  const limit = Math.max(1, options.framesInFlight ?? DEFAULT_FRAMES_IN_FLIGHT);
  try {
    let index = 0;
    let waitStart = performance.now();
    for await (const frame of decodeFrames(options.input, probe, {
      startFrame: first,
      frameCount: total,
      ...(before !== undefined && timestamps[0] !== undefined && { seekBetween: [before, timestamps[0]] as const }),
      signal,
    })) {
      timingsMs.decode = (timingsMs.decode ?? 0) + (performance.now() - waitStart);
      const seconds = (timestamps[index] ?? 0) * tick;
      const warmup = index < segment.warmupFrames;
      index++;
      const faces: Promise<readonly DetectedFace[] | undefined> =
        tracker === undefined
          ? Promise.resolve(undefined)
          : (() => {
              const started = performance.now();
              const detected = service.detectFrame(frame, scoreThreshold, run).then((found) => {
                timingsMs.detect = (timingsMs.detect ?? 0) + (performance.now() - started);
                return found;
              });
              const next = Promise.all([detected, smoothed]).then(([found]) => tracker.update(found, seconds));
              smoothed = next;
              return next;
            })();
      if (warmup) {
        inFlight.push(faces);
      } else {
        const restored: Promise<FrameResult> = faces.then((tracked) => service.processFrame(frame as RgbImage, tracked === undefined ? restore : { ...restore, faces: tracked }, run));
        const written = Promise.all([restored, encoded]).then(async ([result]) => {
          addTimings(timingsMs, result.timingsMs);
          facesRestored += result.faces.length;
          const start = performance.now();
          await encoder.write(result.image);
          timingsMs.encode = (timingsMs.encode ?? 0) + (performance.now() - start);
          done++;
          options.onProgress?.(done, segment.frameCount);
        });
        encoded = written;
        inFlight.push(written);
      }
      // Failures surface through `inFlight` below; this keeps one failed frame from being an unhandled rejection meanwhile.
      for (const pending of inFlight) pending.catch(() => undefined);
      while (inFlight.length >= limit) await inFlight.shift();
      waitStart = performance.now();
    }
    await Promise.all(inFlight);
    const start = performance.now();
    await encoder.end();
    timingsMs.encode = (timingsMs.encode ?? 0) + (performance.now() - start);
  } catch (error) {
    await encoder.kill();
    await Promise.allSettled(inFlight);
    // An abort kills the ffmpeg processes, whose failures would otherwise hide why: the caller's reason wins.
    throw signal?.aborted ? (signal.reason as Error) : error;
  }
  return { frames: done, facesRestored, timingsMs };
}

export interface VideoOptions {
  readonly input: string;
  /**
   * The restored video; its extension picks the container. A function gets the probe first (`outputExtensionFor`
   * tells the container that can hold the input's streams).
   */
  readonly output: string | ((probe: VideoProbe) => string);
  readonly restore?: VideoRestoreOptions;
  readonly crf?: number;
  readonly preset?: string;
  readonly smoothing?: SmoothingOptions | false;
  /** @default DEFAULT_FRAMES_PER_SEGMENT */
  readonly framesPerSegment?: number;
  readonly limits?: VideoLimits;
  /** Folder for the encoded segments (removed at the end). @default a new folder in the OS's temporary folder */
  readonly workDir?: string;
  readonly onProbed?: (probe: VideoProbe) => void;
  readonly onProgress?: (framesDone: number, framesTotal: number) => void;
  readonly signal?: AbortSignal;
}

export interface VideoResult extends SegmentResult {
  readonly probe: VideoProbe;
  /** Where the restored video was written. */
  readonly output: string;
  readonly segments: number;
}

/** The whole video in one process (the CLI): probe, plan the segments, restore each, assemble. */
export async function restoreVideo(service: FrameService, options: VideoOptions): Promise<VideoResult> {
  const probe = await probeVideo(options.input, {
    ...(options.limits !== undefined && { limits: options.limits }),
    ...(options.signal !== undefined && { signal: options.signal }),
  });
  options.onProbed?.(probe);
  const output = typeof options.output === 'string' ? options.output : options.output(probe);
  const plans = planSegments(probe, options.framesPerSegment === undefined ? {} : { framesPerSegment: options.framesPerSegment });
  const workDir = await mkdtemp(path.join(options.workDir ?? tmpdir(), 'revive-video-'));
  const timingsMs: Record<string, number> = {};
  let frames = 0;
  let facesRestored = 0;
  try {
    const files: string[] = [];
    for (const segment of plans) {
      const output = path.join(workDir, `segment-${String(segment.index).padStart(5, '0')}.mp4`);
      const before = frames;
      const result = await restoreSegment(service, {
        input: options.input,
        probe,
        segment,
        output,
        ...(options.restore !== undefined && { restore: options.restore }),
        ...(options.crf !== undefined && { crf: options.crf }),
        ...(options.preset !== undefined && { preset: options.preset }),
        ...(options.smoothing !== undefined && { smoothing: options.smoothing }),
        ...(options.signal !== undefined && { signal: options.signal }),
        onProgress: (done) => options.onProgress?.(before + done, probe.video.frameCount),
      });
      files.push(output);
      frames += result.frames;
      facesRestored += result.facesRestored;
      addTimings(timingsMs, result.timingsMs);
    }
    const start = performance.now();
    await assembleVideo({ input: options.input, probe, segments: files, output, ...(options.signal !== undefined && { signal: options.signal }) });
    timingsMs.assemble = performance.now() - start;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  return { probe, output, segments: plans.length, frames, facesRestored, timingsMs };
}
