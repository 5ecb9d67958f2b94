// A video job, the parent of its segments: planned on its first delivery (probe with the limits, segments written as
// child records and sent on the job queue, each declaring its work), finished on the message its last segment sends
// (the segments concatenated, the input's audio and subtitles muxed, the result uploaded, the segments deleted).
import { createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline as pipe } from 'node:stream/promises';
import {
  childJobId,
  pendingShardKey,
  isTenantUploadKey,
  resultKey,
  TERMINAL_STATUSES,
  videoWorkPrefix,
  type JobMessage,
  type JobRecord,
} from '@revive/contract';
import { PermanentError } from '@revive/pipeline';
import { assembleVideo, outputExtensionFor, planSegments, probeVideo, type SegmentPlan, type VideoProbe } from '@revive/pipeline/video';
import type { ChildEnd, JobStore } from '../job-store.js';
import type { ObjectStore } from '../object-store.js';
import type { JobQueueConsumer } from '../queue.js';
import type { SafeHttpClient } from '../source-fetch.js';
import { withSignal, type JobTask, type TaskContext, type TaskResult, type TaskYield } from './task.js';

/** Lifetime of the presigned GET ffmpeg reads a video through: longer than any segment's budget. @default 21_600 (6 h) */
export const DEFAULT_VIDEO_INPUT_URL_TTL_SECONDS = 21_600;
/** Segment records written, and message batches sent, at once. @default 8 */
const FAN_OUT_CONCURRENCY = 8;

export interface VideoSettings {
  /** REVIVE_VIDEO_MAX_BYTES. */
  readonly maxBytes: number;
  /** REVIVE_VIDEO_MAX_DURATION_SECONDS. */
  readonly maxDurationSeconds: number;
  /** REVIVE_VIDEO_MAX_PIXELS_PER_FRAME. */
  readonly maxPixelsPerFrame: number;
  /** Frames per segment. @default the pipeline's DEFAULT_FRAMES_PER_SEGMENT */
  readonly framesPerSegment?: number;
  /** Folder for a segment's encoded file and the finisher's segments and result (removed after each job). */
  readonly workDir: string;
}

export interface VideoTaskDeps {
  /** Downloads a URL source under the photos' address rules (source-fetch.ts). */
  readonly http: Pick<SafeHttpClient, 'fetchVideoToFile'>;
  readonly store: Pick<JobStore, 'get' | 'getMany' | 'countChildEnd' | 'putChild' | 'setPlan' | 'clearPending'>;
  readonly objects: Pick<ObjectStore, 'getObjectStream' | 'putResult' | 'putResultFile' | 'presignGet' | 'deleteObjects'>;
  readonly queue: Pick<JobQueueConsumer, 'sendBatch'>;
}

/** The key of a video's probe, which each segment reads (the timestamps of a long variable-rate video are large). */
export function probeKey(tenantId: string, videoJobId: string): string {
  return `${videoWorkPrefix(tenantId, videoJobId)}probe.json`;
}

/**
 * Where a URL source is copied once, by the planner: ffmpeg never fetches a caller's URL itself (its redirects and DNS
 * would escape the address rules), and every segment reads the copy by range.
 */
export function sourceCopyKey(tenantId: string, videoJobId: string): string {
  return `${videoWorkPrefix(tenantId, videoJobId)}source`;
}

/**
 * What ffmpeg reads the video from: a presigned GET (range requests, nothing on local disk) of the tenant's upload,
 * or of the planner's copy of a URL source.
 */
export async function videoInput(job: Pick<JobMessage, 'tenantId' | 'source' | 'jobId' | 'parentJobId'>, objects: Pick<ObjectStore, 'presignGet'>): Promise<string> {
  if (job.source.kind === 'url') return await objects.presignGet(sourceCopyKey(job.tenantId, job.parentJobId ?? job.jobId), DEFAULT_VIDEO_INPUT_URL_TTL_SECONDS);
  if (job.source.kind !== 's3') throw new PermanentError('INVALID_MESSAGE', 'a video job reads an upload or a URL');
  if (!isTenantUploadKey(job.tenantId, job.source.key)) throw new PermanentError('SOURCE_NOT_FOUND', `${job.source.key} is not one of this tenant's uploads`);
  return await objects.presignGet(job.source.key, DEFAULT_VIDEO_INPUT_URL_TTL_SECONDS);
}

/** Reads a video's probe back (the segment task and the finisher). */
export async function readProbe(objects: Pick<ObjectStore, 'getObjectStream'>, tenantId: string, videoJobId: string): Promise<VideoProbe> {
  const stream = await objects.getObjectStream(probeKey(tenantId, videoJobId));
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as VideoProbe;
}

/** Plans a video into segments on its first delivery; finishes it once its segments have all ended. */
export class VideoTask implements JobTask {
  constructor(
    private readonly deps: VideoTaskDeps,
    private readonly settings: VideoSettings,
  ) {}

  async run(job: JobMessage, context: TaskContext): Promise<TaskResult | TaskYield | undefined> {
    const video = await this.deps.store.get(job.jobId);
    if (video === undefined) throw new PermanentError('INVALID_MESSAGE', `no video ${job.jobId}`);
    if (video.childrenTotal === undefined) return await this.plan(job, video, context);
    return await this.finish(job, video, context);
  }

  /**
   * Probes (refusing what the worker cannot take with a VIDEO_* code), plans the segments, records the plan, then
   * writes each segment's record (in the outbox until its message is sent, so the enqueue sweeper sends what a dying
   * worker did not) and sends their messages. A redelivery after a crash finds the plan and goes to the fan-in, which
   * finds the segments the crash left unwritten missing: see `finish`.
   */
  private async plan(job: JobMessage, video: JobRecord, context: TaskContext): Promise<TaskYield | undefined> {
    const { signal } = context;
    context.startBudget();
    // A URL source's size is known only once copied: the copy may take as long as the largest it is allowed to be.
    if (job.source.kind === 'url') {
      context.workFound({ bytes: this.settings.maxBytes });
      await this.copySource(job, job.source.url, context);
    }
    const input = await videoInput(job, this.deps.objects);
    const probe = await probeVideo(input, { limits: { maxDurationSeconds: this.settings.maxDurationSeconds, maxPixelsPerFrame: this.settings.maxPixelsPerFrame }, signal });
    if (probe.sizeBytes !== undefined && probe.sizeBytes > this.settings.maxBytes) {
      throw new PermanentError('VIDEO_TOO_LARGE', `the video is ${probe.sizeBytes} bytes; the worker takes at most ${this.settings.maxBytes} (REVIVE_VIDEO_MAX_BYTES)`);
    }
    const plans = planSegments(probe, this.settings.framesPerSegment === undefined ? {} : { framesPerSegment: this.settings.framesPerSegment });
    if (plans.length === 0) throw new PermanentError('VIDEO_UNREADABLE', 'the video has no frames');
    context.workFound({ bytes: job.source.kind === 'url' ? (probe.sizeBytes ?? this.settings.maxBytes) : 0, children: plans.length });
    await this.deps.objects.putResult(probeKey(job.tenantId, job.jobId), Buffer.from(JSON.stringify(probe)), 'application/json', { signal });
    if (context.abandoned) return undefined;
    const now = new Date();
    if (!(await this.deps.store.setPlan(job.jobId, context.owner, { childrenTotal: plans.length, framesTotal: probe.video.frameCount }, now))) return undefined;
    const segments = plans.map((plan) => this.segmentRecord(job, plan, probe, now, video.expiresAt));
    await mapLimit(segments, FAN_OUT_CONCURRENCY, async (segment) => {
      await this.deps.store.putChild(segment);
    });
    const batches = Array.from({ length: Math.ceil(segments.length / 10) }, (_, b) => segments.slice(b * 10, b * 10 + 10));
    await mapLimit(batches, FAN_OUT_CONCURRENCY, async (batch) => {
      await this.deps.queue.sendBatch(batch.map((segment) => this.segmentMessage(job, segment, probe, now)));
      await Promise.all(batch.map((segment) => this.deps.store.clearPending(segment.jobId)));
    });
    return { yielded: `${plans.length} segments of ${probe.video.frameCount} frames sent` };
  }

  /** Downloads a URL source (the photos' address rules, REVIVE_VIDEO_MAX_BYTES) and puts it in the video's work folder. */
  private async copySource(job: JobMessage, url: string, context: TaskContext): Promise<void> {
    await mkdir(this.settings.workDir, { recursive: true });
    const file = path.join(this.settings.workDir, `${job.jobId}-${context.attempt}.source`);
    try {
      const size = await this.deps.http.fetchVideoToFile(url, file, this.settings.maxBytes, context.signal);
      await this.deps.objects.putResultFile(sourceCopyKey(job.tenantId, job.jobId), file, size, 'application/octet-stream', { signal: context.signal });
    } finally {
      await rm(file, { force: true }).catch(() => undefined);
    }
  }

  /** A segment's record; it lives as long as its video's (the same TTL). */
  private segmentRecord(job: JobMessage, plan: SegmentPlan, probe: VideoProbe, now: Date, expiresAt: number): JobRecord {
    const jobId = childJobId(job.jobId, plan.index);
    const pixels = probe.video.width * probe.video.height;
    return {
      jobId,
      tenantId: job.tenantId,
      status: 'QUEUED',
      kind: 'video-segment',
      parentJobId: job.jobId,
      childIndex: plan.index,
      segment: { index: plan.index, startFrame: plan.startFrame, frameCount: plan.frameCount, warmupFrames: plan.warmupFrames },
      source: job.source,
      options: job.options,
      ...(job.videoCrf !== undefined && { videoCrf: job.videoCrf }),
      attempts: 0,
      createdAt: now.toISOString(),
      expiresAt,
      // Declared in its message (and in a message the enqueue sweeper re-sends), for scaling on work: decoded frames.
      estimatedWork: { frames: plan.frameCount + plan.warmupFrames, pixelsPerFrame: pixels, outputPixelsPerFrame: pixels * job.options.upscale ** 2 },
      // In the outbox until its message is sent (the enqueue sweeper sends it otherwise).
      enqueuePending: pendingShardKey(jobId),
      enqueuePendingSince: now.getTime(),
    };
  }

  private segmentMessage(job: JobMessage, segment: JobRecord, probe: VideoProbe, now: Date): JobMessage {
    return {
      version: 1,
      jobId: segment.jobId,
      tenantId: job.tenantId,
      source: job.source,
      options: job.options,
      enqueuedAt: now.toISOString(),
      kind: 'video-segment',
      parentJobId: job.jobId,
      segment: segment.segment!,
      ...(job.videoCrf !== undefined && { videoCrf: job.videoCrf }),
      estimatedWork: segment.estimatedWork!,
    };
  }

  /**
   * The fan-in: recounts the segments (a segment's end its worker could not count is counted now); a segment that
   * failed fails the video with SEGMENT_FAILED (its code and message in the reason); segments still out: wait. Else
   * the segments are fetched, assembled with the input's audio and subtitles, and the result uploaded; the bucket's
   * work folder is deleted once the success is recorded (or at once when a segment failed).
   */
  private async finish(job: JobMessage, video: JobRecord, context: TaskContext): Promise<TaskResult | TaskYield | undefined> {
    const total = video.childrenTotal!;
    const ids = Array.from({ length: total }, (_, i) => childJobId(job.jobId, i));
    const segments = await this.deps.store.getMany(ids);
    let running = 0;
    for (const segment of segments.values()) {
      if (!TERMINAL_STATUSES.includes(segment.status)) running++;
      else if (segment.countedOnParent !== true) await this.deps.store.countChildEnd({ jobId: segment.jobId, parentJobId: job.jobId }, segment.status as ChildEnd, 0, new Date());
    }
    const ordered = ids.map((id) => segments.get(id));
    const failed = ordered.findIndex((s) => s !== undefined && s.status !== 'SUCCEEDED' && TERMINAL_STATUSES.includes(s.status));
    if (failed >= 0) {
      const segment = ordered[failed]!;
      await this.cleanUp(job, segments);
      const frames = segment.segment === undefined ? '' : ` (frames ${segment.segment.startFrame}–${segment.segment.startFrame + segment.segment.frameCount - 1})`;
      throw new PermanentError('SEGMENT_FAILED', `segment ${failed}${frames} ${segment.status}: ${segment.errorCode ?? segment.status}: ${segment.errorMessage ?? 'canceled'}`);
    }
    const missing = ordered.flatMap((s, i) => (s === undefined ? [i] : []));
    if (missing.length > 0) return await this.replan(job, video, missing);
    if (running > 0) return { yielded: `${running} of ${total} segments still to end` };
    if (context.abandoned) return undefined;
    context.startBudget();

    const { signal } = context;
    const dir = path.join(this.settings.workDir, `${job.jobId}-${context.attempt}`);
    await mkdir(dir, { recursive: true });
    try {
      const probe = await readProbe(this.deps.objects, job.tenantId, job.jobId);
      // Every segment fetched, every frame muxed with the input's other streams (read whole), the result uploaded.
      context.workFound({ bytes: probe.sizeBytes ?? this.settings.maxBytes, frames: probe.video.frameCount, children: total });
      const files = await Promise.all(
        ordered.map(async (segment, i) => {
          const file = path.join(dir, `${String(i).padStart(5, '0')}.mp4`);
          await withSignal(pipe(await this.deps.objects.getObjectStream(segment!.resultKey!), createWriteStream(file)), signal);
          return file;
        }),
      );
      const input = await videoInput(job, this.deps.objects);
      const extension = outputExtensionFor(probe, job.source.kind === 's3' ? job.source.key : job.source.kind === 'url' ? new URL(job.source.url).pathname : 'video.mp4');
      const output = path.join(dir, `result${extension}`);
      await assembleVideo({ input, probe, segments: files, output, signal });
      if (context.abandoned) return undefined;
      const key = resultKey(job.tenantId, job.jobId, extension.slice(1), context.attempt);
      const contentType = extension === '.mkv' ? 'video/x-matroska' : extension === '.mov' ? 'video/quicktime' : 'video/mp4';
      await this.deps.objects.putResultFile(key, output, (await stat(output)).size, contentType, { signal });
      const facesRestored = ordered.reduce((sum, s) => sum + (s!.facesRestored ?? 0), 0);
      const timingsMs: Record<string, number> = {};
      for (const s of ordered) for (const [stage, ms] of Object.entries(s!.timingsMs ?? {})) timingsMs[stage] = (timingsMs[stage] ?? 0) + ms;
      return {
        success: {
          resultKey: key,
          resultWidth: probe.video.displayWidth * job.options.upscale,
          resultHeight: probe.video.displayHeight * job.options.upscale,
          facesFound: facesRestored,
          facesDetected: ordered.reduce((sum, s) => sum + (s!.facesDetected ?? 0), 0),
          facesRestored,
          faces: [],
          timingsMs,
        },
        // Only once the success is recorded: a final write that fails leaves the retry its probe and segments.
        afterSuccess: () => this.cleanUp(job, segments),
        logKeys: { segments: total, frames: probe.video.frameCount },
      };
    } finally {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /**
   * A planner that died part way wrote the plan but not every segment: the same plan (from the stored probe) gives
   * the missing ones, written and sent now; the video waits for them like the others.
   */
  private async replan(job: JobMessage, video: JobRecord, missing: readonly number[]): Promise<TaskYield> {
    const probe = await readProbe(this.deps.objects, job.tenantId, job.jobId);
    const plans = planSegments(probe, this.settings.framesPerSegment === undefined ? {} : { framesPerSegment: this.settings.framesPerSegment });
    if (plans.length !== video.childrenTotal) {
      throw new PermanentError('SEGMENT_FAILED', `segments ${missing.join(', ')} were never written, and this worker plans ${plans.length} segments, not ${video.childrenTotal} (REVIVE_VIDEO_FRAMES_PER_SEGMENT differs)`);
    }
    const now = new Date();
    const segments = missing.map((i) => this.segmentRecord(job, plans[i]!, probe, now, video.expiresAt));
    for (const segment of segments) await this.deps.store.putChild(segment);
    for (let b = 0; b < segments.length; b += 10) {
      const batch = segments.slice(b, b + 10);
      await this.deps.queue.sendBatch(batch.map((segment) => this.segmentMessage(job, segment, probe, now)));
      await Promise.all(batch.map((segment) => this.deps.store.clearPending(segment.jobId)));
    }
    return { yielded: `segments ${missing.join(', ')} were missing; written and sent` };
  }

  /** Deletes the video's work folder in the bucket: its probe and every segment object (each attempt's). */
  private async cleanUp(job: JobMessage, segments: ReadonlyMap<string, JobRecord>): Promise<void> {
    const keys = [probeKey(job.tenantId, job.jobId), sourceCopyKey(job.tenantId, job.jobId), ...[...segments.values()].flatMap((s) => (s.resultKey === undefined ? [] : [s.resultKey]))];
    await this.deps.objects.deleteObjects(keys).catch(() => undefined);
  }
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}
