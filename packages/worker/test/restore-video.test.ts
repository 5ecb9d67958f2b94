// `revive restore` on videos: a video alone and a folder mixing videos and photos, with the photos' options; the
// restored video beside the photos, same frames and audio, a progress line with frames/s and time left.
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audioPacketsMd5, makeTestVideo, writeChannelProbeRestorer } from '@revive/pipeline/testing';
import { probeVideo } from '@revive/pipeline/video';
import { photosDir, readReport, runCli } from './restore-helpers.js';

describe('revive restore with videos', () => {
  let dir: string;
  let inputs: string;
  let restorer: string;
  let video: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'revive-cli-video-'));
    inputs = path.join(dir, 'inputs');
    await mkdir(inputs);
    restorer = await writeChannelProbeRestorer(dir);
    video = await makeTestVideo(inputs, 'clip.mp4', { seconds: 0.6, fps: 20 });
    await makeTestVideo(inputs, 'portrait.webm', { seconds: 0.4, fps: 20, codec: 'libvpx-vp9', photo: 'blurry_face.jpg', width: 240 });
    await copyFile(path.join(photosDir(), 'whole', 'blurry_face.jpg'), path.join(inputs, 'blurry_face.jpg'));
    // A photo renamed .mp4: reported failed with a stable code; the rest of the folder is still restored.
    await copyFile(path.join(photosDir(), 'whole', 'Blake_Lively.jpg'), path.join(inputs, 'not-a-video.mp4'));
    await writeFile(path.join(inputs, 'notes.txt'), 'not picked up\n');
  }, 120_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writes the restored video under --output with the same frames and audio, and shows frames/s and time left', async () => {
    const out = path.join(dir, 'out-one');
    const run = await runCli(['restore', video, '--restorer', restorer, '--detector', 'yunet', '--upscale', '2', '--output', out]);
    expect(run.exitCode, run.stderr).toBe(0);
    const report = await readReport(out);
    expect(report.images).toEqual([]);
    const entry = report.videos[0];
    expect(entry?.status).toBe('ok');
    if (entry?.status !== 'ok') return;
    expect(entry.output).toBe(path.join('restored_imgs', 'clip.mp4'));
    const [input, output] = await Promise.all([probeVideo(video), probeVideo(path.join(out, entry.output))]);
    expect(output.video.frameCount).toBe(input.video.frameCount);
    expect([output.video.displayWidth, output.video.displayHeight]).toEqual([input.video.displayWidth * 2, input.video.displayHeight * 2]);
    expect(entry.facesRestored).toBe(2 * input.video.frameCount);
    expect(await audioPacketsMd5(path.join(out, entry.output))).toBe(await audioPacketsMd5(video));
    // Off a terminal, the bar is a line per tenth of the frames.
    expect(run.stderr).toMatch(/clip\.mp4: 12\/12 frames, [\d.]+ frames\/s, 0 s left/);
    expect(run.stdout).toMatch(/^Restored 1 of 1 video\(s\) in [\d.]+ s\. Results in /);
  });

  it('restores a folder of photos and videos with the same options, videos beside the photos', async () => {
    const out = path.join(dir, 'out-mixed');
    const run = await runCli(['restore', inputs, '--restorer', restorer, '--detector', 'yunet', '--upscale', '1', '--suffix', 'fixed', '--max-faces', '1', '--output', out]);
    // One input failed (the photo renamed .mp4): exit code 1, everything else restored.
    expect(run.exitCode, run.stderr).toBe(1);
    const report = await readReport(out);
    expect(report.images.map((i) => [path.basename(i.input), i.status])).toEqual([['blurry_face.jpg', 'ok']]);
    const byName = Object.fromEntries(report.videos.map((v) => [path.basename(v.input), v]));
    expect(Object.keys(byName).sort()).toEqual(['clip.mp4', 'not-a-video.mp4', 'portrait.webm']);
    const failed = byName['not-a-video.mp4'];
    expect(failed?.status === 'failed' && failed.error.code).toBe('VIDEO_UNREADABLE');
    const clip = byName['clip.mp4'];
    const portrait = byName['portrait.webm'];
    if (clip?.status !== 'ok' || portrait?.status !== 'ok') throw new Error(JSON.stringify(report.videos));
    // The same options as the photos: --max-faces 1 restores one face of the two per frame, --suffix names the file.
    expect(clip.facesRestored).toBe(clip.frames);
    expect(clip.output).toBe(path.join('restored_imgs', 'clip_fixed.mp4'));
    // WebM cannot hold H.264: the restored video is Matroska, its Opus audio copied.
    expect(portrait.output).toBe(path.join('restored_imgs', 'portrait_fixed.mkv'));
    expect(await audioPacketsMd5(path.join(out, portrait.output))).toBe(await audioPacketsMd5(path.join(inputs, 'portrait.webm')));
    expect(path.dirname(clip.output)).toBe(path.dirname(report.images[0]?.status === 'ok' ? report.images[0].output : ''));
  });
});
