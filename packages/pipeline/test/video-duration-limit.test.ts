// Review: a Matroska file written to a pipe has no Duration element, so ffprobe reports none; probeVideo only checks
// the header's duration (when finite) and the worker passes no maxFrames, so a 20-minute video passes a 600 s limit.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PermanentError } from '../src/errors.js';
import { ffmpegPaths, probeVideo } from '../src/video/index.js';

let dir: string;
let file: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-review-'));
  file = path.join(dir, 'long.mkv');
  // 20 minutes of 32×32 at 30 fps, muxed to a pipe (no Duration element), as any live/streamed Matroska/WebM is.
  await promisify(execFile)('sh', ['-c', `"${ffmpegPaths().ffmpeg}" -v error -f lavfi -i testsrc=s=32x32:r=30:d=1200 -c:v libx264 -preset ultrafast -f matroska - > "${file}"`]);
}, 120_000);
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('refuses a video longer than maxDurationSeconds even when its container declares no duration', async () => {
  const probing = probeVideo(file, { limits: { maxDurationSeconds: 600, maxPixelsPerFrame: 3840 * 2160 } });
  await expect(probing).rejects.toBeInstanceOf(PermanentError);
  await expect(probing).rejects.toMatchObject({ code: 'VIDEO_TOO_LONG' });
}, 120_000);
