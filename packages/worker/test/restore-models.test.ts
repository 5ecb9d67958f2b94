import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resizeImage, type RgbImage } from '@revive/pipeline';
import { sharedDir, writeChannelProbeRestorer, writeCodeFormerLikeRestorer, writeIdentityRestorer, writeWrongRankRestorer, psnr } from '@revive/pipeline/testing';
import { channelMean, decodeFile, photosDir, readReport, restoredEntry, runCli } from './restore-helpers.js';

// Restorers with other contracts, end to end through the CLI.
describe('revive restore with generated restorers', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'revive-models-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('keeps channels in RGB order end to end (channel-probe restorer: R kept, G inverted, B mid grey)', async () => {
    const probe = await writeChannelProbeRestorer(dir);
    const out = path.join(dir, 'out-probe');
    const file = 'Blake_Lively.jpg';
    const run = await runCli(['restore', path.join(photosDir(), 'whole', file), '--output', out, '--restorer', probe, '--ext', 'png']);
    expect(run.exitCode, run.stderr).toBe(0);
    const entry = restoredEntry(await readReport(out), file);
    expect(entry.faces.length).toBeGreaterThan(0);
    const input = await decodeFile(path.join(photosDir(), 'whole', file));
    const reference = await resizeImage(input.rgb, input.rgb.width * 2, input.rgb.height * 2, 'lanczos3');
    const output = (await decodeFile(path.join(out, entry.output))).rgb;
    for (const face of entry.faces) {
      // The middle half of the face box, in output pixels: well inside the paste mask's flat part.
      const [x1, y1, x2, y2] = face.box.map((v) => v * 2) as [number, number, number, number];
      const w = x2 - x1;
      const h = y2 - y1;
      const inner = [x1 + w / 4, y1 + h / 4, x2 - w / 4, y2 - h / 4] as const;
      expect(Math.abs(channelMean(output, 0, inner) - channelMean(reference, 0, inner))).toBeLessThan(3);
      expect(Math.abs(channelMean(output, 1, inner) - (255 - channelMean(reference, 1, inner)))).toBeLessThan(3);
      expect(Math.abs(channelMean(output, 2, inner) - 127.5)).toBeLessThan(3);
    }
  });

  it('feeds the fidelity to a CodeFormer-style second input', async () => {
    const codeformer = await writeCodeFormerLikeRestorer(dir);
    const out = path.join(dir, 'out-codeformer');
    const run = await runCli(['restore', path.join(photosDir(), 'whole', 'blurry_face.jpg'), '--output', out, '--restorer', codeformer, '--fidelity', '0.5']);
    expect(run.exitCode, run.stderr).toBe(0);
    const cropped = (await decodeFile(path.join(out, 'cropped_faces', 'blurry_face_00.png'))).rgb;
    const restored = (await decodeFile(path.join(out, 'restored_faces', 'blurry_face_00.png'))).rgb;
    // The model outputs input × weight in [-1,1] terms: in 8-bit, x/2 + 63.75.
    const expected: RgbImage = { ...cropped, data: cropped.data.map((v) => Math.round(v / 2 + 63.75)) };
    expect(psnr(restored, expected)).toBeGreaterThan(40);
  });

  it('exits 3 with a clear error when the restorer has the wrong input rank', async () => {
    const wrong = await writeWrongRankRestorer(dir);
    const run = await runCli(['restore', path.join(photosDir(), 'whole', 'blurry_face.jpg'), '--output', path.join(dir, 'out-wrong'), '--restorer', wrong]);
    expect(run.exitCode).toBe(3);
    expect(run.stderr).toMatch(/MODEL_INVALID/);
    expect(run.stderr).toContain(path.basename(wrong));
  });

  it('exits 3 naming the file, URL and folder when a catalogue model is missing and downloads are off', async () => {
    const empty = path.join(dir, 'empty-models');
    const detector = path.join(sharedDir(), 'models', 'detectors', 'yunet_s_640_640.onnx');
    const run = await runCli([
      'restore', path.join(photosDir(), 'whole', 'blurry_face.jpg'), '--output', path.join(dir, 'out-offline'),
      '--models-dir', empty, '--detector', detector, '--restorer', 'gfpgan-1.4', '--no-download',
    ]);
    expect(run.exitCode).toBe(3);
    expect(run.stderr).toMatch(/MODEL_UNAVAILABLE/);
    expect(run.stderr).toMatch(/https:\/\/\S+gfpgan/i);
    expect(run.stderr).toContain(empty);
  });

  it('--aligned restores 512 crops as they are', async () => {
    const identity = await writeIdentityRestorer(dir);
    const out = path.join(dir, 'out-aligned');
    const crops = ['0143.png', 'Einstein01.png'].map((name) => path.join(photosDir(), 'aligned', name));
    const run = await runCli(['restore', ...crops, '--output', out, '--restorer', identity, '--aligned']);
    expect(run.exitCode, run.stderr).toBe(0);
    const report = await readReport(out);
    for (const crop of crops) {
      const entry = restoredEntry(report, path.basename(crop));
      expect(entry.faces).toHaveLength(1);
      const input = (await decodeFile(crop)).rgb;
      const output = (await decodeFile(path.join(out, entry.output))).rgb;
      expect([output.width, output.height]).toEqual([512, 512]);
      expect(psnr(output, input)).toBeGreaterThan(45);
    }
  });
});
