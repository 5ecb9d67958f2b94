// One segment of a video: its frames decoded from the upload by ffmpeg (a presigned GET, range requests), restored on a
// pipeline thread frame by frame with the faces tracked and smoothed across the segment's warm-up, encoded, and the
// encoded segment uploaded under segments/ for the video's finisher.
import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_MAX_FACES, segmentKey, type JobMessage } from '@revive/contract';
import { PermanentError, type RestorationService } from '@revive/pipeline';
import { restoreSegment } from '@revive/pipeline/video';
import type { ObjectStore } from '../object-store.js';
import { withSignal, type JobTask, type TaskContext, type TaskResult } from './task.js';
import { readProbe, videoInput } from './video.js';

export interface VideoSegmentTaskDeps {
  readonly pipeline: Pick<RestorationService, 'detectFrame' | 'processFrame'>;
  readonly objects: Pick<ObjectStore, 'getObjectStream' | 'presignGet' | 'putResultFile'>;
}

export interface VideoSegmentSettings {
  /** Folder the segment is encoded into before it goes up (removed after). */
  readonly workDir: string;
  /** REVIVE_MAX_FACES. @default DEFAULT_MAX_FACES */
  readonly maxFaces?: number;
}

/** Restores one segment of a video: the per-kind work of a `video-segment` job. */
export class VideoSegmentTask implements JobTask {
  constructor(
    private readonly deps: VideoSegmentTaskDeps,
    private readonly settings: VideoSegmentSettings,
  ) {}

  async run(job: JobMessage, context: TaskContext): Promise<TaskResult | undefined> {
    const { signal } = context;
    const segment = job.segment;
    if (segment === undefined || job.parentJobId === undefined) throw new PermanentError('INVALID_MESSAGE', 'a video-segment message names its video and its frames');
    const probe = await readProbe(this.deps.objects, job.tenantId, job.parentJobId);
    const input = await videoInput(job, this.deps.objects);
    const upscale = job.options.upscale;
    // The budget grows with the segment's output pixels, as a photo's does (REVIVE_JOB_TIMEOUT_PER_MEGAPIXEL_SECONDS).
    context.startBudget();
    context.workFound({ faces: 0, outputPixels: (segment.frameCount + segment.warmupFrames) * probe.video.width * probe.video.height * upscale ** 2 });
    await mkdir(this.settings.workDir, { recursive: true });
    const output = path.join(this.settings.workDir, `${job.jobId}-${context.attempt}.mp4`);
    try {
      const workerMax = this.settings.maxFaces ?? DEFAULT_MAX_FACES;
      const result = await withSignal(
        restoreSegment(this.deps.pipeline, {
          input,
          probe,
          segment,
          output,
          restore: {
            upscale,
            onlyCenterFace: job.options.onlyCenterFace,
            blend: job.options.blend,
            ...(job.options.fidelity !== undefined && { fidelity: job.options.fidelity }),
            useBgUpsampler: job.options.bgUpsampler !== undefined,
            maxFaces: Math.min(job.options.maxFaces ?? workerMax, workerMax),
          },
          ...(job.videoCrf !== undefined && { crf: job.videoCrf }),
          signal,
        }),
        signal,
      );
      if (context.abandoned) return undefined;
      // One object per attempt: a worker that lost its lease never overwrites the winner's segment.
      const key = segmentKey(job.tenantId, job.parentJobId, segment.index, context.attempt);
      await withSignal(this.deps.objects.putResultFile(key, output, (await stat(output)).size, 'video/mp4', { signal }), signal);
      return {
        success: { resultKey: key, facesFound: result.facesRestored, facesDetected: result.facesRestored, facesRestored: result.facesRestored, faces: [], timingsMs: result.timingsMs },
        frames: result.frames,
        logKeys: { segment: segment.index, frames: result.frames },
      };
    } finally {
      await rm(output, { force: true }).catch(() => undefined);
    }
  }
}
