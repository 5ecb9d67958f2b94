import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RestoreReport } from '../src/cli/report.js';
import { resizePlane, writeImage } from '@revive/pipeline';
import { groupPhoto, writeIdentityRestorer } from '@revive/pipeline/testing';
import { decodeFile, decompressionBombPng, photosDir, readReport, restoredEntry, runCli, type CliRun } from './restore-helpers.js';

// Bad files beside good ones, and the naming options: --suffix, --ext, alpha forcing PNG.
describe('revive restore with bad files, --suffix, --ext and alpha', () => {
  let dir: string;
  let inputs: string;
  let identity: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'revive-files-'));
    inputs = path.join(dir, 'inputs');
    await mkdir(inputs);
    identity = await writeIdentityRestorer(dir);

    await copyFile(path.join(photosDir(), 'whole', 'blurry_face.jpg'), path.join(inputs, 'blurry_face.jpg'));
    await writeFile(path.join(inputs, 'notes.jpg'), 'this is a text file with an image extension\n');
    const jpeg = await readFile(path.join(photosDir(), 'whole', 'Blake_Lively.jpg'));
    await writeFile(path.join(inputs, 'truncated.jpg'), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
    await writeFile(path.join(inputs, 'bomb.png'), decompressionBombPng(30_000, 30_000));

    // An RGBA PNG: the face photo with a horizontal alpha ramp.
    const face = await decodeFile(path.join(photosDir(), 'whole', 'blurry_face.jpg'));
    const alpha = new Uint8Array(face.rgb.width * face.rgb.height);
    for (let y = 0; y < face.rgb.height; y++) {
      for (let x = 0; x < face.rgb.width; x++) alpha[y * face.rgb.width + x] = Math.round(64 + (191 * x) / (face.rgb.width - 1));
    }
    await writeFile(path.join(inputs, 'rgba.png'), await writeImage(face.rgb, alpha, 'png'));
    // An RGBA PNG whose alpha is opaque everywhere, as many exports write them.
    await writeFile(path.join(inputs, 'opaque-rgba.png'), await writeImage(face.rgb, new Uint8Array(face.rgb.width * face.rgb.height).fill(255), 'png'));
  }, 120_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe('a folder with a non-image, a truncated JPEG and a decompression bomb', () => {
    let out: string;
    let run: CliRun;
    let report: RestoreReport;

    beforeAll(async () => {
      out = path.join(dir, 'out-bad');
      run = await runCli(['restore', inputs, '--output', out, '--restorer', identity, '--suffix', 'fixed', '--ext', 'jpg']);
      report = await readReport(out);
    }, 300_000);

    it('exits 1 and names each bad file with its reason on stderr', () => {
      expect(run.exitCode).toBe(1);
      expect(run.stderr).toMatch(/notes\.jpg: INVALID_IMAGE: /);
      expect(run.stderr).toMatch(/truncated\.jpg: INVALID_IMAGE: /);
      expect(run.stderr).toMatch(/bomb\.png: IMAGE_TOO_LARGE: /);
      expect(run.stdout).toMatch(/Restored 3 of 6 image\(s\), 3 face\(s\), .* 3 failed\./);
    });

    it('records the failures in report.json', () => {
      const failures = Object.fromEntries(
        report.images.flatMap((image) => (image.status === 'failed' ? [[path.basename(image.input), image.error.code]] : [])),
      );
      expect(failures).toEqual({ 'notes.jpg': 'INVALID_IMAGE', 'truncated.jpg': 'INVALID_IMAGE', 'bomb.png': 'IMAGE_TOO_LARGE' });
      expect(report.totals).toMatchObject({ images: 6, restored: 3, failed: 3 });
    });

    it('still restores the good files, with the suffix and the requested extension', async () => {
      const entry = restoredEntry(report, 'blurry_face.jpg');
      expect(entry.output).toBe(path.join('restored_imgs', 'blurry_face_fixed.jpg'));
      expect(entry.faces).toHaveLength(1);
      const output = await decodeFile(path.join(out, entry.output));
      expect(output.format).toBe('jpeg');
      expect([output.rgb.width, output.rgb.height]).toEqual([238 * 2, 267 * 2]);
      // GFPGAN's naming: the suffix goes on restored images and faces, not on crops or cmp.
      for (const file of ['restored_faces/blurry_face_00_fixed.png', 'cropped_faces/blurry_face_00.png', 'cmp/blurry_face_00.png']) {
        await expect(decodeFile(path.join(out, file)), file).resolves.toBeDefined();
      }
    });

    it('carries alpha to the output, upscaled, and writes PNG although jpg was asked', async () => {
      const entry = restoredEntry(report, 'rgba.png');
      expect(entry.output).toBe(path.join('restored_imgs', 'rgba_fixed.png'));
      expect(entry.format).toBe('png');
      const input = await decodeFile(path.join(inputs, 'rgba.png'));
      const output = await decodeFile(path.join(out, entry.output));
      expect(output.alpha).toBeDefined();
      const expected = await resizePlane(input.alpha!, input.rgb.width, input.rgb.height, output.rgb.width, output.rgb.height, 'lanczos3');
      let worst = 0;
      for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs((output.alpha![i] ?? 0) - (expected[i] ?? 0)));
      expect(worst).toBeLessThanOrEqual(2);
    });

    it('drops an alpha channel that is opaque everywhere: the output is the JPEG asked for', async () => {
      const entry = restoredEntry(report, 'opaque-rgba.png');
      expect(entry.output).toBe(path.join('restored_imgs', 'opaque-rgba_fixed.jpg'));
      expect(entry.format).toBe('jpeg');
      const output = await decodeFile(path.join(out, entry.output));
      expect(output.format).toBe('jpeg');
      expect(output.alpha).toBeUndefined();
      expect([output.rgb.width, output.rgb.height]).toEqual([238 * 2, 267 * 2]);
    });
  });

  it('--ext webp writes WebP; auto keeps the input\'s format', async () => {
    const file = path.join(inputs, 'blurry_face.jpg');
    const webp = path.join(dir, 'out-webp');
    const auto = path.join(dir, 'out-auto');
    const [webpRun, autoRun] = [
      await runCli(['restore', file, '--output', webp, '--restorer', identity, '--ext', 'webp', '--upscale', '1', '--no-save-faces']),
      await runCli(['restore', file, '--output', auto, '--restorer', identity, '--upscale', '1', '--no-save-faces']),
    ];
    expect(webpRun.exitCode, webpRun.stderr).toBe(0);
    expect(autoRun.exitCode, autoRun.stderr).toBe(0);
    const webpEntry = restoredEntry(await readReport(webp), 'blurry_face.jpg');
    const autoEntry = restoredEntry(await readReport(auto), 'blurry_face.jpg');
    expect(webpEntry.output).toBe(path.join('restored_imgs', 'blurry_face.webp'));
    expect((await decodeFile(path.join(webp, webpEntry.output))).format).toBe('webp');
    expect(autoEntry.output).toBe(path.join('restored_imgs', 'blurry_face.jpg'));
    const decoded = await decodeFile(path.join(auto, autoEntry.output));
    expect([decoded.format, decoded.rgb.width, decoded.rgb.height]).toEqual(['jpeg', 238, 267]);
    expect(autoEntry.faces[0]?.croppedFace).toBeUndefined();
  });

  it('--max-faces restores the largest faces and reports how many were found', async () => {
    const sides = [96, 230, 128, 200, 112, 170];
    const group = await groupPhoto(sides);
    const file = path.join(dir, 'group.jpg');
    await writeFile(file, group.bytes);
    const out = path.join(dir, 'out-max-faces');
    const run = await runCli(['restore', file, '--output', out, '--restorer', identity, '--upscale', '1', '--max-faces', '2', '--no-save-faces']);
    expect(run.exitCode, run.stderr).toBe(0);
    const report = await readReport(out);
    const entry = restoredEntry(report, 'group.jpg');
    expect(entry.facesDetected).toBe(sides.length);
    // The two largest crops (230 and 200 px), by where each restored face's box lies.
    const cropOf = ([x1, , x2]: readonly number[]) => group.crops.findIndex(([cx1, , cx2]) => (x1! + x2!) / 2 > cx1 && (x1! + x2!) / 2 < cx2);
    expect(entry.faces.map((f) => cropOf(f.box)).sort()).toEqual([1, 3]);
    expect(report.totals).toMatchObject({ faces: 2, facesDetected: sides.length });
    expect(report.options).toMatchObject({ maxFaces: 2 });
    const refused = await runCli(['restore', file, '--output', path.join(dir, 'x'), '--max-faces', '0']);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/--max-faces/);
  });

  it('exits 2 on bad usage, before loading any model', async () => {
    const outOfRange = await runCli(['restore', inputs, '--output', path.join(dir, 'x'), '--upscale', '9']);
    expect(outOfRange.exitCode).toBe(2);
    expect(outOfRange.stderr).toMatch(/--upscale/);
    const missing = await runCli(['restore', path.join(dir, 'nope'), '--output', path.join(dir, 'x')]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/Input not found/);
  });
});
