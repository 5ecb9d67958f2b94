// The restored video: segments joined by the concat demuxer without re-encoding, the input's audio and subtitle streams
// muxed by stream copy (bit-identical packets), its metadata, chapters and rotation kept.
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PermanentError } from '../errors.js';
import { ffmpegPaths, INPUT_FORMAT_WHITELIST, runTool } from './ffmpeg-binary.js';
import { ratio, timestampsOf, type VideoProbe } from './probe.js';

/** The container a restored video is written in: the input's where it can hold H.264 (WebM cannot), else Matroska. */
export function outputExtensionFor(probe: VideoProbe, inputName: string): string {
  const ext = path.extname(inputName).toLowerCase();
  if (ext === '.mp4' || ext === '.mov' || ext === '.m4v' || ext === '.mkv') return ext;
  return probe.formatName.includes('mp4') || probe.formatName.includes('mov') ? '.mp4' : '.mkv';
}

async function framesIn(ffprobe: string, file: string, signal: AbortSignal | undefined): Promise<number> {
  const run = await runTool(ffprobe, ['-v', 'error', '-select_streams', 'v:0', '-count_packets', '-show_entries', 'stream=nb_read_packets', '-of', 'csv=p=0', file], {
    code: 'VIDEO_ENCODE_FAILED',
    what: `ffprobe of segment ${file}`,
    signal,
  });
  return Number(run.stdout.trim());
}

async function rotationOf(ffprobe: string, file: string, signal: AbortSignal | undefined): Promise<number> {
  const run = await runTool(ffprobe, ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream_side_data=rotation', '-of', 'csv=p=0', file], {
    code: 'VIDEO_ENCODE_FAILED',
    what: `ffprobe of ${file}`,
    signal,
  });
  const degrees = Number(run.stdout.trim().split('\n')[0] || 0);
  return (((Math.round(-degrees / 90) * 90) % 360) + 360) % 360;
}

const quote = (file: string) => `'${path.resolve(file).replaceAll("'", "'\\''")}'`;

/**
 * Concatenates the encoded segments (in order) without re-encoding and muxes the input's audio and subtitle streams
 * by stream copy. Each segment lasts until the next one's first frame, so every frame keeps its input timestamp.
 * Fails with VIDEO_ENCODE_FAILED.
 */
export async function assembleVideo(options: { input: string; probe: VideoProbe; segments: readonly string[]; output: string; signal?: AbortSignal }): Promise<void> {
  const { ffmpeg, ffprobe } = ffmpegPaths();
  const { probe, segments, signal } = options;
  if (segments.length === 0) throw new PermanentError('VIDEO_ENCODE_FAILED', 'no segments to assemble');
  const tick = ratio(probe.video.timeBase);
  const lines = ['ffconcat version 1.0'];
  let start = 0;
  for (const [i, segment] of segments.entries()) {
    const frames = await framesIn(ffprobe, segment, signal);
    lines.push(`file ${quote(segment)}`);
    if (i < segments.length - 1) {
      const [first, next] = [timestampsOf(probe.video.timestamps, start, 1)[0], timestampsOf(probe.video.timestamps, start + frames, 1)[0]];
      if (first === undefined || next === undefined) throw new PermanentError('VIDEO_ENCODE_FAILED', `the segments hold more frames than the input (${start + frames} > ${probe.video.frameCount})`);
      lines.push(`duration ${((next - first) * tick).toFixed(6)}`);
    }
    start += frames;
  }
  if (start !== probe.video.frameCount) throw new PermanentError('VIDEO_ENCODE_FAILED', `the segments hold ${start} frames; the input has ${probe.video.frameCount}`);
  const list = `${options.output}.ffconcat`;
  await writeFile(list, `${lines.join('\n')}\n`);
  const firstSeconds = (probe.video.timestamps[0]?.pts ?? 0) * tick;
  const isMp4 = /\.(mp4|mov|m4v)$/i.test(options.output);
  const mux = (rotateTag: number) => [
    ...['-hide_banner', '-nostdin', '-v', 'error', '-y'],
    ...(firstSeconds > 0 ? ['-itsoffset', firstSeconds.toFixed(6)] : []),
    ...['-f', 'concat', '-safe', '0', '-i', list, ...INPUT_FORMAT_WHITELIST, '-i', options.input],
    ...['-map', '0:v:0', '-map', '1:a?', '-map', '1:s?', '-c', 'copy', '-map_metadata', '1', '-map_chapters', '1'],
    ...(probe.video.rotationDegrees === 0 ? [] : ['-metadata:s:v:0', `rotate=${rotateTag}`]),
    ...(isMp4 ? ['-movflags', '+faststart'] : []),
    options.output,
  ];
  try {
    const rotation = probe.video.rotationDegrees;
    await runTool(ffmpeg, mux(rotation), { code: 'VIDEO_ENCODE_FAILED', what: `assembling ${options.output}`, signal });
    // The `rotate` tag's sense differs between ffmpeg builds (display matrix angle or its opposite): check, and flip once.
    if (rotation !== 0 && (await rotationOf(ffprobe, options.output, signal)) !== rotation) {
      await runTool(ffmpeg, mux((360 - rotation) % 360), { code: 'VIDEO_ENCODE_FAILED', what: `assembling ${options.output}`, signal });
    }
  } finally {
    await rm(list, { force: true });
  }
}
