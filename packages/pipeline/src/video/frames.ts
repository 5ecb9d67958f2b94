// Frames in and out of ffmpeg through pipes: raw RGB on the decoder's stdout and on the encoder's stdin, so no frame
// is ever written to disk as a file (the facefusion way writes a PNG per frame, both ways).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { PermanentError } from '../errors.js';
import type { RgbImage } from '../types.js';
import { ffmpegPaths, INPUT_FORMAT_WHITELIST, tailOf } from './ffmpeg-binary.js';
import { ratio, type VideoProbe } from './probe.js';

import { DEFAULT_VIDEO_CRF, DEFAULT_VIDEO_PRESET } from '../defaults.js';

export { DEFAULT_VIDEO_CRF, DEFAULT_VIDEO_PRESET } from '../defaults.js';

function collectStderr(child: ChildProcess): () => string {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-16_384)));
  return () => tailOf(stderr);
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return once(child, 'close').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
}

export interface DecodeRange {
  /** First frame, in display order. */
  readonly startFrame: number;
  readonly frameCount: number;
  /** Presentation timestamps (stream ticks) of the frame before `startFrame` and of `startFrame`: the seek lands between. */
  readonly seekBetween?: readonly [before: number, at: number];
  readonly signal?: AbortSignal | undefined;
}

/**
 * Decodes `frameCount` frames from `startFrame` on, upright (ffmpeg applies the rotation), as 8-bit RGB. The seek is
 * exact: ffmpeg decodes from the keyframe before and drops the frames before the midpoint between the frame before
 * `startFrame` and `startFrame`. Each frame owns its buffer (it can move to a pipeline thread). Fails with
 * VIDEO_UNREADABLE when ffmpeg fails or the stream ends early (a truncated file).
 */
export async function* decodeFrames(input: string, probe: VideoProbe, range: DecodeRange): AsyncGenerator<RgbImage> {
  const { ffmpeg } = ffmpegPaths();
  const { displayWidth: width, displayHeight: height } = probe.video;
  const frameBytes = width * height * 3;
  const tick = ratio(probe.video.timeBase);
  const seek: string[] = [];
  if (range.seekBetween && range.startFrame > 0) {
    const [before, at] = range.seekBetween;
    const first = probe.video.timestamps[0]?.pts ?? 0;
    seek.push('-ss', (((before + at) / 2 - first) * tick).toFixed(6));
  }
  const args = [
    ...['-hide_banner', '-nostdin', '-v', 'error', ...seek, ...INPUT_FORMAT_WHITELIST, '-i', input],
    ...['-map', `0:${probe.video.index}`, '-frames:v', String(range.frameCount), '-vsync', 'passthrough'],
    ...['-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
  ];
  const child = spawn(ffmpeg, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr = collectStderr(child);
  const exited = exitOf(child);
  const onAbort = () => child.kill('SIGKILL');
  range.signal?.addEventListener('abort', onAbort, { once: true });
  let frames = 0;
  try {
    let frame = new Uint8Array(frameBytes);
    let filled = 0;
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      let offset = 0;
      while (offset < chunk.length) {
        const take = Math.min(frameBytes - filled, chunk.length - offset);
        frame.set(chunk.subarray(offset, offset + take), filled);
        filled += take;
        offset += take;
        if (filled === frameBytes) {
          frames++;
          yield { width, height, data: frame };
          frame = new Uint8Array(frameBytes);
          filled = 0;
        }
      }
    }
    const { code, signal } = await exited;
    if (range.signal?.aborted) throw range.signal.reason as Error;
    if (code !== 0) throw new PermanentError('VIDEO_UNREADABLE', `ffmpeg could not decode ${input} (${signal ?? `exit code ${code}`}): ${stderr()}`);
    if (frames < range.frameCount) {
      throw new PermanentError('VIDEO_UNREADABLE', `${input} ended after ${frames} of ${range.frameCount} frames from frame ${range.startFrame}: ${stderr() || 'truncated'}`);
    }
  } finally {
    range.signal?.removeEventListener('abort', onAbort);
    // A consumer that stops early (an error downstream) leaves the decoder running: stop it.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/**
 * `setpts` expression giving frame N (0-based in the pipe) its timestamp from `timestamps` (stream ticks): a sum of
 * one term per run of constant step, flat (ffmpeg's expression parser limits nesting, not length).
 */
export function setptsExpression(timestamps: readonly number[]): string {
  const terms: string[] = [];
  let start = 0;
  while (start < timestamps.length) {
    const base = timestamps[start] as number;
    const step = start + 1 < timestamps.length ? (timestamps[start + 1] as number) - base : 0;
    let end = start;
    while (end + 1 < timestamps.length && (timestamps[end + 1] as number) === base + step * (end + 1 - start)) end++;
    terms.push(end === start ? `eq(N,${start})*${base}` : `between(N,${start},${end})*(${base}+(N-${start})*${step})`);
    start = end + 1;
  }
  return terms.join('+');
}

/** The filter that turns an upright frame back to the stored orientation (the rotation stays metadata, as in the input). */
function unrotate(rotationDegrees: number): string[] {
  if (rotationDegrees === 90) return ['transpose=cclock'];
  if (rotationDegrees === 180) return ['hflip', 'vflip'];
  if (rotationDegrees === 270) return ['transpose=clock'];
  return [];
}

export interface EncoderOptions {
  readonly output: string;
  /** Size of the frames written (the restored, upscaled frames, upright). */
  readonly width: number;
  readonly height: number;
  /** Each frame's presentation timestamp in `timeBase` ticks, in order. */
  readonly timestamps: readonly number[];
  readonly timeBase: string;
  readonly averageFps: number;
  readonly rotationDegrees: number;
  /** @default DEFAULT_VIDEO_CRF */
  readonly crf?: number | undefined;
  /** @default DEFAULT_VIDEO_PRESET */
  readonly preset?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

/**
 * ffmpeg encoding raw RGB frames from its stdin to H.264 in MP4, each frame with its input frame's timestamp (constant
 * or variable rate alike) and the input's stored orientation. `write` waits while the pipe is full, so memory holds a
 * pipe's worth of frames at most. Fails with VIDEO_ENCODE_FAILED.
 */
export class FrameEncoder {
  private readonly child: ChildProcess;
  private readonly stderr: () => string;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private framesWritten = 0;
  private pipeError: Error | undefined;

  constructor(private readonly options: EncoderOptions) {
    const { ffmpeg } = ffmpegPaths();
    const [num = 1, den = 1000] = options.timeBase.split('/').map(Number);
    const filters = [...unrotate(options.rotationDegrees), `settb=${num}/${den}`, `setpts='${setptsExpression(options.timestamps)}'`];
    const args = [
      ...['-hide_banner', '-nostdin', '-v', 'error', '-y'],
      ...['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${options.width}x${options.height}`, '-framerate', String(options.averageFps || 25), '-i', 'pipe:0'],
      // The encoder's own time base would be 1/framerate, rounding every timestamp to the nominal rate.
      ...['-vf', filters.join(','), '-vsync', 'passthrough', '-enc_time_base:v', `${num}/${den}`],
      ...['-c:v', 'libx264', '-crf', String(options.crf ?? DEFAULT_VIDEO_CRF), '-preset', options.preset ?? DEFAULT_VIDEO_PRESET, '-pix_fmt', 'yuv420p'],
      // Ticks of the input's time base, so every timestamp is kept exactly.
      ...(num === 1 ? ['-video_track_timescale', String(den)] : []),
      ...['-an', '-f', 'mp4', options.output],
    ];
    this.child = spawn(ffmpeg, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    this.stderr = collectStderr(this.child);
    this.exited = exitOf(this.child);
    this.child.stdin?.on('error', (error) => (this.pipeError = error));
    options.signal?.addEventListener('abort', this.abort, { once: true });
  }

  private readonly abort = () => this.child.kill('SIGKILL');

  private failed(why: string): Error {
    if (this.options.signal?.aborted) return this.options.signal.reason as Error;
    return new PermanentError('VIDEO_ENCODE_FAILED', `ffmpeg could not encode ${this.options.output}: ${why}: ${this.stderr()}`, this.pipeError && { cause: this.pipeError });
  }

  /** Writes one frame (`width × height` RGB); resolves once the pipe takes more. */
  async write(frame: RgbImage): Promise<void> {
    if (frame.width !== this.options.width || frame.height !== this.options.height) {
      throw new PermanentError('INTERNAL', `a ${frame.width}×${frame.height} frame for a ${this.options.width}×${this.options.height} encoder`);
    }
    const stdin = this.child.stdin!;
    if (this.pipeError || stdin.destroyed) throw this.failed('the encoder stopped taking frames');
    this.framesWritten++;
    if (!stdin.write(frame.data)) {
      await Promise.race([once(stdin, 'drain'), this.exited]);
      if (this.pipeError || this.child.exitCode !== null) throw this.failed('the encoder stopped taking frames');
    }
  }

  /** Closes the pipe and waits for the file to be written. */
  async end(): Promise<void> {
    this.child.stdin?.end();
    const { code, signal } = await this.exited;
    this.options.signal?.removeEventListener('abort', this.abort);
    if (this.options.signal?.aborted) throw this.options.signal.reason as Error;
    if (code !== 0) throw this.failed(signal ?? `exit code ${code}`);
  }

  /** Stops the encoder without finishing the file (an error upstream). */
  async kill(): Promise<void> {
    this.options.signal?.removeEventListener('abort', this.abort);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }

  get frames(): number {
    return this.framesWritten;
  }
}
