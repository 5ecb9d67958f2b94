// `pnpm bench`: videos (issue 22).
//   1. frames/s per pipeline thread on ../shared/videos/group_pan_720p.mp4 (its first REVIVE_BENCH_VIDEO_SECONDS, 2 by
//      default; 6 for the whole clip), Revive's way (frames through ffmpeg pipes, detect/restore/paste on one pipeline
//      thread, encode from a pipe) against the facefusion way (every frame extracted to PNG with ffmpeg, the photo path
//      per PNG, the PNGs merged with ffmpeg), same models, same upscale, same x264 settings, side by side;
//   2. peak RSS of a process restoring a short video and one three times longer, in segments of the same length: a
//      segment's memory must not grow with the video;
//   3. the jitter of the alignment transform on a still-face clip, with and without smoothing.
// The restorer is the generated identity model (GFPGAN's weights cannot be downloaded here): the figures compare the
// frame path around the restorer, which is what differs between the two ways; a real restorer adds the same time per
// face to both.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { RestorationPipeline } from '../src/pipeline.js';
import { PipelineThreadPool } from '../src/pipeline-threads.js';
import { sharedDir } from '../src/testing/shared-dir.js';
import { writeIdentityRestorer } from '../src/testing/models.js';
import { makeTestVideo } from '../src/testing/videos.js';
import { alignmentJitterPx, DEFAULT_FRAMES_PER_SEGMENT, DEFAULT_VIDEO_CRF, DEFAULT_VIDEO_PRESET, decodeFrames, FaceTracker, ffmpegPaths, probeVideo, restoreVideo } from '../src/video/index.js';
import type { Landmarks5 } from '../src/types.js';

const run = promisify(execFile);
const CHILD_FLAG = '--rss-child';
const UPSCALE = 2;
const modelsDir = path.join(sharedDir(), 'models');
const { ffmpeg } = ffmpegPaths();

async function revivesWay(pool: PipelineThreadPool, input: string, output: string): Promise<number> {
  const started = performance.now();
  await restoreVideo(pool, { input, output, restore: { upscale: UPSCALE } });
  return performance.now() - started;
}

/** facefusion's: extract_frames (PNG), process each frame as a photo, merge_video, restore_audio. */
async function facefusionWay(pool: PipelineThreadPool, input: string, work: string, output: string): Promise<number> {
  const started = performance.now();
  const frames = path.join(work, 'frames');
  const restored = path.join(work, 'restored');
  await mkdir(frames, { recursive: true });
  await mkdir(restored, { recursive: true });
  const probe = await probeVideo(input);
  await run(ffmpeg, ['-v', 'error', '-i', input, '-vsync', 'passthrough', path.join(frames, '%08d.png')]);
  for (const name of (await readdir(frames)).sort()) {
    const bytes = await readFile(path.join(frames, name));
    await pool.process(bytes, { upscale: UPSCALE, ext: 'png', outputPath: path.join(restored, name) });
  }
  await run(ffmpeg, [
    ...['-v', 'error', '-y', '-framerate', String(probe.video.averageFps), '-i', path.join(restored, '%08d.png'), '-i', input],
    ...['-map', '0:v', '-map', '1:a?', '-c:v', 'libx264', '-crf', String(DEFAULT_VIDEO_CRF), '-preset', DEFAULT_VIDEO_PRESET, '-pix_fmt', 'yuv420p', '-c:a', 'copy', output],
  ]);
  return performance.now() - started;
}

async function framesPerSecond(work: string, restorer: string): Promise<void> {
  const seconds = Number(process.env.REVIVE_BENCH_VIDEO_SECONDS ?? 2);
  const input = path.join(work, 'group_pan.mp4');
  await run(ffmpeg, ['-v', 'error', '-y', '-i', path.join(sharedDir(), 'videos', 'group_pan_720p.mp4'), '-t', String(seconds), '-c:v', 'libx264', '-crf', '16', '-c:a', 'copy', input]);
  const frames = (await probeVideo(input)).video.frameCount;
  const pool = await PipelineThreadPool.create({ modelsDir, restorer, detector: 'yunet', download: false, threadCount: 1 });
  try {
    // Alternated, so the load other processes put on the machine falls on both ways alike.
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let round = 0; round < 2; round++) {
      ours.push(await revivesWay(pool, input, path.join(work, `ours-${round}.mp4`)));
      theirs.push(await facefusionWay(pool, input, path.join(work, `ff-${round}`), path.join(work, `ff-${round}.mp4`)));
    }
    const best = (ms: number[]) => Math.min(...ms);
    const fps = (ms: number) => (frames / ms) * 1000;
    console.log(`\nframes/s per pipeline thread, group_pan_720p.mp4 (first ${seconds} s, ${frames} frames, 1280×720 → ×${UPSCALE}, identity restorer, best of 2):`);
    console.log(`  Revive (ffmpeg pipes, no frame files)   ${fps(best(ours)).toFixed(2)} frames/s`);
    console.log(`  facefusion way (PNG out, photo, PNG in) ${fps(best(theirs)).toFixed(2)} frames/s`);
    console.log(`  ratio ${(best(theirs) / best(ours)).toFixed(2)}× (goal ≥ 1.5×)`);
    // A segment's disk: its encoded frames (DEFAULT_FRAMES_PER_SEGMENT of them); its work: that many frames at this rate.
    const bytesPerFrame = (await stat(path.join(work, 'ours-0.mp4'))).size / frames;
    console.log(
      `  a segment of ${DEFAULT_FRAMES_PER_SEGMENT} frames: ${((bytesPerFrame * DEFAULT_FRAMES_PER_SEGMENT) / 2 ** 20).toFixed(1)} MiB encoded (CRF ${DEFAULT_VIDEO_CRF}), ` +
        `${(DEFAULT_FRAMES_PER_SEGMENT / fps(best(ours))).toFixed(0)} s of one pipeline thread with this restorer`,
    );
  } finally {
    await pool.dispose();
  }
}

/** In a child: restores one video in segments of `framesPerSegment`; prints its own peak RSS. */
async function rssChild(input: string, restorer: string, framesPerSegment: number): Promise<void> {
  const pipeline = await RestorationPipeline.create({ modelsDir, restorer, detector: 'yunet', download: false });
  const result = await restoreVideo(pipeline, { input, output: `${input}.restored.mp4`, restore: { upscale: UPSCALE }, framesPerSegment });
  await pipeline.dispose();
  console.log(JSON.stringify({ frames: result.frames, segments: result.segments, maxRssKiB: process.resourceUsage().maxRSS }));
}

async function peakRss(work: string, restorer: string): Promise<void> {
  const framesPerSegment = 50;
  console.log(`\npeak RSS of one process restoring a video in segments of ${framesPerSegment} frames (640 px wide, 25 fps, ×${UPSCALE}):`);
  for (const seconds of [4, 12]) {
    const input = await makeTestVideo(work, `rss-${seconds}s.mp4`, { seconds, fps: 25, width: 640 });
    const { stdout } = await run(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), CHILD_FLAG, input, restorer, String(framesPerSegment)], { maxBuffer: 1 << 20 });
    const { frames, segments, maxRssKiB } = JSON.parse(stdout.trim().split('\n').pop()!) as { frames: number; segments: number; maxRssKiB: number };
    console.log(`  ${String(seconds).padStart(2)} s, ${frames} frames, ${segments} segments: ${(maxRssKiB / 1024).toFixed(0)} MiB`);
  }
}

async function jitter(work: string, restorer: string): Promise<void> {
  const input = await makeTestVideo(work, 'still.mp4', { seconds: 4, fps: 25, noise: 12, audio: false, photo: 'blurry_face.jpg', width: 360 });
  const probe = await probeVideo(input);
  const pipeline = await RestorationPipeline.create({ modelsDir, restorer, detector: 'yunet', download: false });
  const tracker = new FaceTracker();
  const raw: Landmarks5[] = [];
  const smoothed: Landmarks5[] = [];
  let i = 0;
  for await (const frame of decodeFrames(input, probe, { startFrame: 0, frameCount: probe.video.frameCount })) {
    const faces = await pipeline.detectFrame(frame);
    if (faces.length !== 1) continue;
    raw.push(faces[0]!.landmarks);
    smoothed.push(tracker.update(faces, i++ / probe.video.averageFps)[0]!.landmarks);
  }
  await pipeline.dispose();
  const [before, after] = [alignmentJitterPx(raw), alignmentJitterPx(smoothed)];
  console.log(`\nalignment jitter on a still face (blurry_face.jpg looped 4 s with temporal noise, RMS frame-to-frame motion of the 512 crop's corners):`);
  console.log(`  detections as they come  ${before.toFixed(2)} px`);
  console.log(`  tracked, One-Euro         ${after.toFixed(2)} px  (${(after / before).toFixed(2)} of it)`);
}

if (process.argv[2] === CHILD_FLAG) {
  await rssChild(process.argv[3]!, process.argv[4]!, Number(process.argv[5]));
} else {
  const work = await mkdtemp(path.join(tmpdir(), 'revive-video-bench-'));
  try {
    const restorer = await writeIdentityRestorer(work);
    await writeFile(path.join(work, 'README'), 'revive video bench scratch\n');
    await jitter(work, restorer);
    await peakRss(work, restorer);
    await framesPerSecond(work, restorer);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
