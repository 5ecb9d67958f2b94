// Videos through the photo pipeline, as `revive restore` and the video segments run them: the result keeps the input's
// frame count, rate, timestamps (variable rate too), rotation and audio packets; faces are restored in every frame;
// inputs that cannot be taken fail with stable codes; smoothing holds a still face still.
import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError } from '../src/errors.js';
import { RestorationPipeline } from '../src/pipeline.js';
import { PipelineThreadPool } from '../src/pipeline-threads.js';
import { sharedDir } from '../src/testing/shared-dir.js';
import { writeChannelProbeRestorer } from '../src/testing/models.js';
import { audioPacketsMd5, makeTestVideo, probeStream } from '../src/testing/videos.js';
import type { Landmarks5 } from '../src/types.js';
import { alignmentJitterPx, decodeFrames, FaceTracker, ffmpegPaths, planSegments, probeVideo, restoreSegment, restoreVideo, type VideoProbe } from '../src/video/index.js';

const modelsDir = path.join(sharedDir(), 'models');
let dir: string;
let pipeline: RestorationPipeline;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-video-'));
  const restorer = await writeChannelProbeRestorer(dir);
  pipeline = await RestorationPipeline.create({ modelsDir, restorer, detector: 'yunet', download: false, threads: 1 });
});

afterAll(async () => {
  await pipeline?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const seconds = (ts: string[], tb: string) => {
  const [num, den] = tb.split('/').map(Number) as [number, number];
  return ts.map((t) => (Number(t) * num) / den);
};

/** Presentation times of a file's video frames, in seconds, from 0. */
async function frameTimes(file: string, probe: VideoProbe): Promise<number[]> {
  const pts = (await probeStream(file, 'v:0', 'packet=pts')).map(Number).sort((a, b) => a - b);
  const times = seconds(pts.map(String), probe.video.timeBase);
  return times.map((t) => t - (times[0] ?? 0));
}

async function restoreAndCompare(input: string, name: string, framesPerSegment: number) {
  const output = path.join(dir, name);
  const inputProbe = await probeVideo(input);
  const result = await restoreVideo(pipeline, { input, output, restore: { upscale: 2 }, framesPerSegment });
  const outputProbe = await probeVideo(output);
  return { inputProbe, outputProbe, result, output };
}

describe('restoreVideo', () => {
  it('keeps frame count, rate, duration and audio packets, and restores the faces of every frame', async () => {
    const input = await makeTestVideo(dir, 'still.mp4', { seconds: 1.2, fps: 25 });
    // 30 frames in segments of 12: two boundaries, each with warm-up frames.
    const { inputProbe, outputProbe, result, output } = await restoreAndCompare(input, 'still-restored.mp4', 12);
    expect(result.segments).toBe(3);
    expect(outputProbe.video.frameCount).toBe(inputProbe.video.frameCount);
    expect(outputProbe.video.averageFps).toBeCloseTo(inputProbe.video.averageFps, 6);
    expect(Math.abs(outputProbe.durationSeconds - inputProbe.durationSeconds)).toBeLessThan(1 / inputProbe.video.averageFps);
    expect([outputProbe.video.displayWidth, outputProbe.video.displayHeight]).toEqual([inputProbe.video.displayWidth * 2, inputProbe.video.displayHeight * 2]);
    expect(await frameTimes(output, outputProbe)).toEqual(await frameTimes(input, inputProbe));
    expect(await audioPacketsMd5(output)).toBe(await audioPacketsMd5(input));
    // Two faces in the photo, both restored in every frame.
    expect(result.facesRestored).toBe(2 * inputProbe.video.frameCount);
    // The channel probe makes a restored face's blue mid-grey (127.5): every output frame has it where the faces are.
    const face = (await pipeline.detectFrame((await decodeFrames(input, inputProbe, { startFrame: 0, frameCount: 1 }).next()).value!))[0]!;
    const [cx, cy] = [Math.round(face.landmarks[2][0] * 2), Math.round(face.landmarks[2][1] * 2)];
    let frames = 0;
    for await (const frame of decodeFrames(output, outputProbe, { startFrame: 0, frameCount: outputProbe.video.frameCount })) {
      const blue = frame.data[(cy * frame.width + cx) * 3 + 2]!;
      expect(Math.abs(blue - 127.5)).toBeLessThan(12);
      frames++;
    }
    expect(frames).toBe(inputProbe.video.frameCount);
  });

  it('keeps variable frame timing, rotation, and takes 10-bit input and video without audio', async () => {
    const vfr = await makeTestVideo(dir, 'vfr.mp4', { seconds: 0.8, fps: 20, variableFrameRate: true, audio: false });
    const rotated = await makeTestVideo(dir, 'rotated.mp4', { seconds: 0.5, fps: 20, rotationDegrees: 90 });
    const tenBit = await makeTestVideo(dir, 'ten-bit.mkv', { seconds: 0.5, fps: 20, pixelFormat: 'yuv420p10le' });

    const a = await restoreAndCompare(vfr, 'vfr-restored.mp4', 7);
    expect(a.inputProbe.video.variableFrameRate).toBe(true);
    expect(a.outputProbe.video.frameCount).toBe(a.inputProbe.video.frameCount);
    expect(await frameTimes(a.output, a.outputProbe)).toEqual(await frameTimes(vfr, a.inputProbe));
    expect(a.outputProbe.audioStreams).toBe(0);

    const b = await restoreAndCompare(rotated, 'rotated-restored.mp4', 100);
    expect(b.inputProbe.video.rotationDegrees).not.toBe(0);
    expect(b.outputProbe.video.rotationDegrees).toBe(b.inputProbe.video.rotationDegrees);
    expect([b.outputProbe.video.displayWidth, b.outputProbe.video.displayHeight]).toEqual([b.inputProbe.video.displayWidth * 2, b.inputProbe.video.displayHeight * 2]);
    expect(b.result.facesRestored).toBe(2 * b.inputProbe.video.frameCount);
    expect(await audioPacketsMd5(b.output)).toBe(await audioPacketsMd5(rotated));

    const c = await restoreAndCompare(tenBit, 'ten-bit-restored.mkv', 100);
    expect(c.inputProbe.video.pixelFormat).toBe('yuv420p10le');
    expect(c.outputProbe.video.frameCount).toBe(c.inputProbe.video.frameCount);
    expect(await audioPacketsMd5(c.output)).toBe(await audioPacketsMd5(tenBit));
  });

  it('cuts segments at exact frames: each output frame is its own input frame, in order, at a variable rate and with the video starting late', async () => {
    const { ffmpeg } = ffmpegPaths();
    const { execFile } = await import('node:child_process');
    // Frame N is a flat grey of luma 16 + 8·N, limited range (no face: the frame goes through untouched at upscale 1).
    const levels = ['-f', 'lavfi', '-i', "color=c=black:s=64x64:r=25:d=0.96,geq=lum='16+8*N':cb=128:cr=128"];
    const cases = [
      ['levels-vfr.mp4', [...levels, '-vf', 'settb=1/50,setpts=N*2+floor(N/3)', '-vsync', 'passthrough']],
      // Video starting 0.3 s after the audio: the seeks count from the first frame, not from the file's start.
      ['levels-late.mkv', ['-f', 'lavfi', '-i', 'sine=duration=1.5', '-itsoffset', '0.3', ...levels, '-map', '1:v', '-map', '0:a']],
    ] as const;
    for (const [name, args] of cases) {
      const file = path.join(dir, name);
      await new Promise((resolve, reject) =>
        execFile(ffmpeg, ['-v', 'error', '-y', ...args, '-c:v', 'libx264', '-qp', '0', '-pix_fmt', 'yuv444p', file], (e) => (e ? reject(e) : resolve(undefined))),
      );
      const output = path.join(dir, `restored-${name}`);
      const result = await restoreVideo(pipeline, { input: file, output, restore: { upscale: 1 }, framesPerSegment: 7, crf: 0 });
      expect([result.frames, result.segments]).toEqual([24, 4]);
      const seen: number[] = [];
      const probe = await probeVideo(output);
      for await (const frame of decodeFrames(output, probe, { startFrame: 0, frameCount: probe.video.frameCount })) seen.push(Math.round((frame.data[(32 * 64 + 32) * 3]! * 219) / 255 / 8));
      expect(seen).toEqual(Array.from({ length: 24 }, (_, n) => n));
      expect(probe.video.timestamps[0]).toEqual((await probeVideo(file)).video.timestamps[0]);
    }
  });

  it('stops a segment when its signal aborts, with the signal\'s reason', async () => {
    const input = await makeTestVideo(dir, 'abort.mp4', { seconds: 1, fps: 20, audio: false });
    const probe = await probeVideo(input);
    const controller = new AbortController();
    const reason = new Error('canceled');
    let last = 0;
    const run = restoreSegment(pipeline, {
      input,
      probe,
      segment: planSegments(probe)[0]!,
      output: path.join(dir, 'abort-segment.mp4'),
      signal: controller.signal,
      onProgress: (done) => {
        last = done;
        if (done === 3) controller.abort(reason);
      },
    });
    await expect(run).rejects.toBe(reason);
    expect(last).toBeLessThan(probe.video.frameCount);
  });

  it('runs on the pipeline threads like in process', async () => {
    const input = await makeTestVideo(dir, 'threads.mp4', { seconds: 0.4, fps: 20 });
    const pool = await PipelineThreadPool.create({ modelsDir, restorer: await writeChannelProbeRestorer(dir), detector: 'yunet', download: false, threads: 1 });
    try {
      const result = await restoreVideo(pool, { input, output: path.join(dir, 'threads-restored.mp4'), restore: { upscale: 1 }, framesPerSegment: 5 });
      expect([result.frames, result.facesRestored]).toEqual([8, 16]);
    } finally {
      await pool.dispose();
    }
  });
});

describe('probeVideo refuses what cannot be taken, with stable codes', () => {
  const codeOf = (promise: Promise<unknown>) =>
    promise.then(
      () => 'resolved',
      (error: unknown) => (error instanceof PermanentError ? error.code : String(error)),
    );

  it('truncated, no video stream, a photo renamed .mp4, over each limit', async () => {
    const whole = await makeTestVideo(dir, 'whole.mp4', { seconds: 1 });
    const bytes = await readFile(whole);
    const truncated = path.join(dir, 'truncated.mp4');
    await writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const { ffmpeg } = ffmpegPaths();
    const audioOnly = path.join(dir, 'audio-only.mp4');
    const { execFile } = await import('node:child_process');
    await new Promise((resolve, reject) => execFile(ffmpeg, ['-v', 'error', '-y', '-i', whole, '-map', '0:a', '-c', 'copy', audioOnly], (e) => (e ? reject(e) : resolve(undefined))));
    const photoAsVideo = path.join(dir, 'photo.mp4');
    await copyFile(path.join(sharedDir(), 'photos', 'whole', 'Blake_Lively.jpg'), photoAsVideo);
    const empty = path.join(dir, 'empty.mp4');
    await writeFile(empty, '');

    expect(await codeOf(probeVideo(truncated))).toBe('VIDEO_UNREADABLE');
    expect(await codeOf(probeVideo(empty))).toBe('VIDEO_UNREADABLE');
    expect(await codeOf(probeVideo(audioOnly))).toBe('VIDEO_NO_VIDEO_STREAM');
    expect(await codeOf(probeVideo(photoAsVideo))).toBe('VIDEO_UNREADABLE');
    expect(await codeOf(probeVideo(whole, { limits: { maxDurationSeconds: 0.5, maxPixelsPerFrame: 1e9 } }))).toBe('VIDEO_TOO_LONG');
    expect(await codeOf(probeVideo(whole, { limits: { maxDurationSeconds: 60, maxPixelsPerFrame: 1e9, maxFrames: 10 } }))).toBe('VIDEO_TOO_LONG');
    expect(await codeOf(probeVideo(whole, { limits: { maxDurationSeconds: 60, maxPixelsPerFrame: 320 * 100 } }))).toBe('VIDEO_TOO_LARGE');
    expect((await probeVideo(whole, { limits: { maxDurationSeconds: 60, maxPixelsPerFrame: 320 * 400 } })).video.frameCount).toBe(25);
    // A frame cut off in the middle of a segment's decode: the segment fails as unreadable, not with a short video.
    expect((await stat(truncated)).size).toBeLessThan(bytes.length);
  });
});

describe('ffmpeg location', () => {
  it('falls back to the npm static binaries when PATH has none, and they decode', async () => {
    const input = await makeTestVideo(dir, 'fallback.mp4', { seconds: 0.4, fps: 10, audio: false });
    const saved = process.env.PATH;
    try {
      process.env.PATH = '';
      const paths = ffmpegPaths();
      expect(paths.source).toBe('npm');
      expect(paths.ffmpeg).toContain('@ffmpeg-installer');
      const probe = await probeVideo(input);
      expect(probe.video.frameCount).toBe(4);
      let frames = 0;
      for await (const frame of decodeFrames(input, probe, { startFrame: 1, frameCount: 3, seekBetween: [probe.video.timestamps[0]!.pts, probe.video.timestamps[0]!.pts + probe.video.timestamps[0]!.step] })) {
        expect(frame.data.length).toBe(probe.video.displayWidth * probe.video.displayHeight * 3);
        frames++;
      }
      expect(frames).toBe(3);
    } finally {
      process.env.PATH = saved;
    }
    expect(ffmpegPaths().source).toBe('path');
  });
});

describe('face tracking', () => {
  it('smoothing makes the alignment of a still face at least twice as steady', async () => {
    const input = await makeTestVideo(dir, 'jitter.mp4', { seconds: 2, fps: 25, noise: 12, audio: false, photo: 'blurry_face.jpg', width: 360 });
    const probe = await probeVideo(input);
    const tracker = new FaceTracker();
    const raw: Landmarks5[] = [];
    const smoothed: Landmarks5[] = [];
    let i = 0;
    for await (const frame of decodeFrames(input, probe, { startFrame: 0, frameCount: probe.video.frameCount })) {
      const faces = await pipeline.detectFrame(frame);
      expect(faces.length).toBe(1);
      raw.push(faces[0]!.landmarks);
      smoothed.push(tracker.update(faces, i++ / 25)[0]!.landmarks);
    }
    const before = alignmentJitterPx(raw);
    const after = alignmentJitterPx(smoothed);
    expect(before).toBeGreaterThan(0);
    expect(after / before).toBeLessThan(0.5);
  });

  it('plans segments with warm-up frames before every segment but the first', () => {
    const probe = { video: { frameCount: 65 } } as VideoProbe;
    expect(planSegments(probe, { framesPerSegment: 30, warmupFrames: 10 })).toEqual([
      { index: 0, startFrame: 0, frameCount: 30, warmupFrames: 0 },
      { index: 1, startFrame: 30, frameCount: 30, warmupFrames: 10 },
      { index: 2, startFrame: 60, frameCount: 5, warmupFrames: 10 },
    ]);
  });
});
