// Small test videos made with ffmpeg at test time from a shared photo: still faces with a little temporal noise (so
// detection jitters as on real footage), optional audio, variable frame rate, rotation, 10-bit.
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { ffmpegPaths } from '../video/ffmpeg-binary.js';
import { probeVideo } from '../video/probe.js';
import { sharedDir } from './shared-dir.js';

const run = promisify(execFile);

export interface TestVideoOptions {
  /** A photo of photos/whole. @default 'Blake_Lively.jpg' (two faces) */
  readonly photo?: string;
  /** @default 320 */
  readonly width?: number;
  /** @default 1 */
  readonly seconds?: number;
  /** @default 25 */
  readonly fps?: number;
  /** A 440 Hz AAC (Opus in .webm/.mkv) track. @default true */
  readonly audio?: boolean;
  /** Strength of the per-frame noise (ffmpeg's `noise=alls`). @default 6 */
  readonly noise?: number;
  /** Alternate frame durations (1 and 1.5 frames): variable frame rate. @default false */
  readonly variableFrameRate?: boolean;
  /** Display rotation written as metadata (the frames stay as stored). @default 0 */
  readonly rotationDegrees?: 0 | 90 | 180 | 270;
  /** @default 'yuv420p' */
  readonly pixelFormat?: string;
  /** @default 'libx264' */
  readonly codec?: string;
}

/** Writes `dir/name` (its extension picks the container) and returns its path. */
export async function makeTestVideo(dir: string, name: string, options: TestVideoOptions = {}): Promise<string> {
  const { ffmpeg } = ffmpegPaths();
  const output = path.join(dir, name);
  const seconds = options.seconds ?? 1;
  const fps = options.fps ?? 25;
  const photo = path.join(sharedDir(), 'photos', 'whole', options.photo ?? 'Blake_Lively.jpg');
  const webm = /\.(webm|mkv)$/.test(name);
  const filters = [`scale=${options.width ?? 320}:-2`, `noise=alls=${options.noise ?? 6}:allf=t`, `format=${options.pixelFormat ?? 'yuv420p'}`];
  // 1 tick = 1/(2·fps) s: frames alternate between 2 and 3 ticks.
  if (options.variableFrameRate) filters.push(`settb=1/${2 * fps}`, `setpts=N*2+floor(N/2)`);
  const rotated = (options.rotationDegrees ?? 0) !== 0;
  const first = rotated ? `${output}.unrotated${path.extname(name)}` : output;
  await run(ffmpeg, [
    ...['-v', 'error', '-y', '-loop', '1', '-framerate', String(fps), '-t', String(seconds), '-i', photo],
    ...(options.audio ?? true ? ['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`] : []),
    ...['-vf', filters.join(','), '-vsync', options.variableFrameRate ? 'passthrough' : 'cfr', '-c:v', options.codec ?? 'libx264'],
    ...(options.audio ?? true ? ['-c:a', webm ? 'libopus' : 'aac'] : []),
    first,
  ]);
  if (rotated) {
    // As a phone writes it: frames stored turned, upright once the player applies the rotation. The tag's sense differs
    // between ffmpeg builds, so the frames are turned by what ffprobe then reads back.
    const tag = ['-metadata:s:v:0', `rotate=${options.rotationDegrees}`];
    await run(ffmpeg, ['-v', 'error', '-y', '-i', first, '-map', '0', '-c', 'copy', ...tag, output]);
    const rotation = (await probeVideo(output)).video.rotationDegrees;
    const turn = rotation === 90 ? 'transpose=cclock' : rotation === 270 ? 'transpose=clock' : 'hflip,vflip';
    const turned = `${output}.turned${path.extname(name)}`;
    await run(ffmpeg, ['-v', 'error', '-y', '-i', first, '-map', '0', '-vf', turn, '-c:v', options.codec ?? 'libx264', '-c:a', 'copy', turned]);
    await run(ffmpeg, ['-v', 'error', '-y', '-i', turned, '-map', '0', '-c', 'copy', ...tag, output]);
    await Promise.all([rm(first), rm(turned)]);
  }
  return output;
}

/** ffprobe's view of a file's video frames or audio packets, for comparing an output with its input. */
export async function probeStream(file: string, stream: 'v:0' | 'a:0', entries: string): Promise<string[]> {
  const { ffprobe } = ffmpegPaths();
  const { stdout } = await run(ffprobe, ['-v', 'error', '-select_streams', stream, '-show_entries', entries, '-of', 'csv=p=0', file], { maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim().split('\n');
}

/** md5 of a file's audio packets (stream copy, nothing decoded): equal when the packets are bit-identical. */
export async function audioPacketsMd5(file: string): Promise<string> {
  const { ffmpeg } = ffmpegPaths();
  const { stdout } = await run(ffmpeg, ['-v', 'error', '-i', file, '-map', '0:a', '-c', 'copy', '-f', 'md5', '-']);
  return stdout.trim();
}
