// The first look at a video: ffprobe reads its header and lists its video packets (demuxing only, nothing decoded), so
// a video that cannot be taken is refused with a stable code before any frame is restored.
import { z } from 'zod';
import { PermanentError } from '../errors.js';
import { ffmpegPaths, INPUT_FORMAT_WHITELIST, runTool } from './ffmpeg-binary.js';

/** Frames of one constant step: pts, pts + step, … (`count` frames), in the video stream's time base. */
export interface PtsRun {
  readonly pts: number;
  readonly step: number;
  readonly count: number;
}

export interface VideoProbe {
  readonly formatName: string;
  readonly sizeBytes?: number;
  readonly durationSeconds: number;
  readonly video: {
    readonly index: number;
    readonly codec: string;
    readonly width: number;
    readonly height: number;
    /** Displayed size, after rotation. */
    readonly displayWidth: number;
    readonly displayHeight: number;
    /** Clockwise rotation a player applies (0, 90, 180 or 270), from the display matrix. */
    readonly rotationDegrees: number;
    readonly pixelFormat: string;
    readonly frameCount: number;
    readonly averageFps: number;
    readonly variableFrameRate: boolean;
    /** `num/den` seconds per tick of the stream's timestamps. */
    readonly timeBase: string;
    /**
     * Every frame's presentation timestamp, in display order, as runs of constant step: one run for a constant-rate
     * video, more where the rate varies. The encoder gives each restored frame its input frame's timestamp.
     */
    readonly timestamps: readonly PtsRun[];
  };
  readonly audioStreams: number;
  readonly subtitleStreams: number;
}

export interface VideoLimits {
  readonly maxDurationSeconds: number;
  readonly maxPixelsPerFrame: number;
  readonly maxFrames?: number;
}

// Demuxers that read a single picture: a photo renamed .mp4 probes as one of these, with a one-frame "video" stream.
const IMAGE_FORMATS = /(^|,)(image2|[a-z0-9]+_pipe|png|apng|gif|webp|jpeg_pipe|bmp|tiff)(,|$)/;

const ffprobeSchema = z.object({
  format: z.object({ format_name: z.string(), duration: z.string().optional(), size: z.string().optional() }),
  streams: z.array(
    z.object({
      index: z.number(),
      codec_type: z.string().optional(),
      codec_name: z.string().optional(),
      width: z.number().optional(),
      height: z.number().optional(),
      pix_fmt: z.string().optional(),
      time_base: z.string().optional(),
      avg_frame_rate: z.string().optional(),
      duration: z.string().optional(),
      nb_frames: z.string().optional(),
      disposition: z.object({ attached_pic: z.number().optional() }).optional(),
      tags: z.record(z.string(), z.string()).optional(),
      side_data_list: z.array(z.object({ rotation: z.number().optional() })).optional(),
    }),
  ),
});

function unreadable(input: string, why: string, cause?: unknown): PermanentError {
  return new PermanentError('VIDEO_UNREADABLE', `${input} is not a readable video: ${why}`, cause === undefined ? undefined : { cause });
}

/** `num/den` as a number; 0 for `0/0` and anything unparsable. */
export function ratio(text: string | undefined): number {
  const [num, den] = (text ?? '').split('/').map(Number);
  return num !== undefined && den !== undefined && Number.isFinite(num) && Number.isFinite(den) && den !== 0 ? num / den : 0;
}

/** Sorted timestamps as runs of constant step. */
export function toRuns(sorted: readonly number[]): PtsRun[] {
  const runs: { pts: number; step: number; count: number }[] = [];
  for (const pts of sorted) {
    const last = runs.at(-1);
    if (last === undefined) {
      runs.push({ pts, step: 0, count: 1 });
    } else if (last.count === 1) {
      last.step = pts - last.pts;
      last.count = 2;
    } else if (pts === last.pts + last.step * last.count) {
      last.count++;
    } else {
      runs.push({ pts, step: 0, count: 1 });
    }
  }
  return runs;
}

/** The timestamps of frames `from` … `from + count - 1`. */
export function timestampsOf(runs: readonly PtsRun[], from: number, count: number): number[] {
  const out: number[] = [];
  let first = 0;
  for (const run of runs) {
    for (let i = Math.max(0, from - first); i < run.count && out.length < count && first + i < from + count; i++) out.push(run.pts + run.step * i);
    first += run.count;
    if (out.length === count) break;
  }
  return out;
}

/**
 * Reads a video's header and lists its video packets. Fails (PermanentError) with VIDEO_UNREADABLE for anything
 * ffprobe cannot read or that is a single picture, VIDEO_NO_VIDEO_STREAM, and, when `limits` are given,
 * VIDEO_TOO_LONG (duration or frames) and VIDEO_TOO_LARGE (pixels per frame). `input` is a path or an http(s) URL.
 */
export async function probeVideo(input: string, options: { limits?: VideoLimits; signal?: AbortSignal } = {}): Promise<VideoProbe> {
  const { ffprobe } = ffmpegPaths();
  const what = `ffprobe of ${input}`;
  const header = await runTool(ffprobe, ['-v', 'error', '-show_format', '-show_streams', '-of', 'json', ...INPUT_FORMAT_WHITELIST, input], { code: 'VIDEO_UNREADABLE', what, signal: options.signal }).catch(
    (error: unknown) => {
      throw error instanceof PermanentError ? unreadable(input, error.message, error) : error;
    },
  );
  let parsed: z.infer<typeof ffprobeSchema>;
  try {
    parsed = ffprobeSchema.parse(JSON.parse(header.stdout));
  } catch (error) {
    throw unreadable(input, 'ffprobe gave no usable description', error);
  }
  const { format, streams } = parsed;
  if (IMAGE_FORMATS.test(format.format_name)) throw unreadable(input, `it is a picture (${format.format_name}), not a video`);
  const stream = streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1);
  if (!stream) throw new PermanentError('VIDEO_NO_VIDEO_STREAM', `${input} has no video stream`);
  const { width = 0, height = 0 } = stream;
  if (width <= 0 || height <= 0 || stream.codec_name === undefined) throw unreadable(input, 'its video stream has no size or codec');

  const limits = options.limits;
  if (limits && width * height > limits.maxPixelsPerFrame) {
    throw new PermanentError('VIDEO_TOO_LARGE', `${input} has ${width}×${height} frames; the limit is ${limits.maxPixelsPerFrame} pixels per frame`);
  }
  const headerDuration = Number(format.duration ?? stream.duration ?? NaN);
  if (limits && Number.isFinite(headerDuration) && headerDuration > limits.maxDurationSeconds) {
    throw new PermanentError('VIDEO_TOO_LONG', `${input} lasts ${headerDuration.toFixed(1)} s; the limit is ${limits.maxDurationSeconds} s`);
  }

  // Every packet of the video stream, demuxed not decoded; packets an edit list discards ('D') are never shown.
  const packets = await runTool(ffprobe, ['-v', 'error', '-select_streams', String(stream.index), '-show_entries', 'packet=pts,flags', '-of', 'csv=p=0', ...INPUT_FORMAT_WHITELIST, input], {
    code: 'VIDEO_UNREADABLE',
    what,
    signal: options.signal,
  }).catch((error: unknown) => {
    throw error instanceof PermanentError ? unreadable(input, error.message, error) : error;
  });
  const pts: number[] = [];
  for (const line of packets.stdout.split('\n')) {
    const [value, flags = ''] = line.trim().split(',');
    if (value === undefined || value === '' || value === 'N/A' || flags.includes('D')) continue;
    pts.push(Number(value));
  }
  pts.sort((a, b) => a - b);
  if (pts.length < 2) throw unreadable(input, `its video stream has ${pts.length} frame(s)`);
  const declared = Number(stream.nb_frames ?? NaN);
  // A cut-off file whose index (moov at the front) still lists every frame: the packets past the cut are missing.
  if (Number.isFinite(declared) && declared > pts.length + 1) throw unreadable(input, `it is truncated: ${pts.length} of ${declared} frames are there`);
  if (limits?.maxFrames !== undefined && pts.length > limits.maxFrames) {
    throw new PermanentError('VIDEO_TOO_LONG', `${input} has ${pts.length} frames; the limit is ${limits.maxFrames}`);
  }

  const timeBase = stream.time_base ?? '1/1000';
  const tick = ratio(timeBase);
  const runs = toRuns(pts);
  const first = pts[0] ?? 0;
  const last = pts.at(-1) ?? 0;
  const averageStep = (last - first) / (pts.length - 1);
  const durationSeconds = Number.isFinite(headerDuration) ? headerDuration : (last - first + averageStep) * tick;
  // The header's duration may be missing (Matroska or WebM muxed to a pipe) or may lie: the frames' own span decides too.
  const framesSeconds = (last - first + averageStep) * tick;
  if (limits && framesSeconds > limits.maxDurationSeconds) {
    throw new PermanentError('VIDEO_TOO_LONG', `${input}'s frames span ${framesSeconds.toFixed(1)} s; the limit is ${limits.maxDurationSeconds} s`);
  }
  const rotate = stream.side_data_list?.find((d) => d.rotation !== undefined)?.rotation ?? -Number(stream.tags?.rotate ?? 0);
  // The display matrix's angle is counter-clockwise; players (and ffmpeg's autorotate) turn the picture clockwise by its opposite.
  const rotationDegrees = (((Math.round(-rotate / 90) * 90) % 360) + 360) % 360;
  const turned = rotationDegrees === 90 || rotationDegrees === 270;
  const sizeBytes = Number(format.size ?? NaN);
  return {
    formatName: format.format_name,
    ...(Number.isFinite(sizeBytes) && { sizeBytes }),
    durationSeconds,
    video: {
      index: stream.index,
      codec: stream.codec_name,
      width,
      height,
      displayWidth: turned ? height : width,
      displayHeight: turned ? width : height,
      rotationDegrees,
      pixelFormat: stream.pix_fmt ?? 'unknown',
      frameCount: pts.length,
      averageFps: ratio(stream.avg_frame_rate) || 1 / (averageStep * tick),
      // The last frame may end a run early (a trimmed stream); more than that is a rate that changes.
      variableFrameRate: runs.filter((run) => run.count > 1).length > 1,
      timeBase,
      timestamps: runs,
    },
    audioStreams: streams.filter((s) => s.codec_type === 'audio').length,
    subtitleStreams: streams.filter((s) => s.codec_type === 'subtitle').length,
  };
}
