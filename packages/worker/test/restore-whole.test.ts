import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RestoreReport } from '../src/cli/report.js';
import { type Affine, applyAffine, templateForSize, resizeImage } from '@revive/pipeline';
import { psnr, writeIdentityRestorer } from '@revive/pipeline/testing';
import { decodeFile, photosDir, psnrInBoxes, readReport, restoredEntry, runCli, type CliRun } from './restore-helpers.js';

/** Faces a person counts in photos/README.md. */
const EXPECTED_FACES: Readonly<Record<string, number>> = {
  '00.jpg': 2,
  '10045.png': 3,
  'Blake_Lively.jpg': 2,
  'blurry_face.jpg': 1,
};
const UPSCALE = 2;

// One CLI run over photos/whole (the photos are big) feeds every assertion below.
describe('revive restore over photos/whole with an identity restorer', () => {
  let dir: string;
  let out: string;
  let run: CliRun;
  let report: RestoreReport;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'revive-whole-'));
    out = path.join(dir, 'out');
    const identity = await writeIdentityRestorer(dir);
    // PNG output: JPEG's own loss would hide what the round trip measures.
    run = await runCli(['restore', path.join(photosDir(), 'whole'), '--output', out, '--restorer', identity, '--upscale', String(UPSCALE), '--ext', 'png']);
    if (run.exitCode !== 0) throw new Error(`revive restore exited ${run.exitCode}: ${run.stderr}`);
    report = await readReport(out);
  }, 600_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('prints a closing summary and counts every image', () => {
    expect(run.stdout).toMatch(/Restored 4 of 4 image\(s\), 8 face\(s\), in \d+(\.\d+)? s\./);
    expect(report.totals).toMatchObject({ images: 4, restored: 4, failed: 0, faces: 8 });
  });

  it('finds the faces a person counts', () => {
    for (const [file, count] of Object.entries(EXPECTED_FACES)) {
      expect(restoredEntry(report, file).faces, file).toHaveLength(count);
    }
  });

  // A similarity transform has 4 degrees of freedom for 10 coordinates: on real faces the best fit leaves
  // several pixels of residual (up to ~13 px at 512 on these photos), so "within 1.5 px of the template" is
  // checked against the best reachable placement: an independent least-squares fit to the same template.
  it('maps every face\'s landmarks through its fitted transform to within 1.5 px of the optimal fit to the template', () => {
    for (const image of report.images) {
      if (image.status !== 'ok') continue;
      for (const face of image.faces) {
        const name = path.basename(image.input);
        expect(face.affine, name).toBeDefined();
        const template = templateForSize(face.cropSizePx ?? 512);
        const optimal = leastSquaresSimilarity(face.landmarks, template);
        let squared = 0;
        face.landmarks.forEach((point, i) => {
          const [x, y] = applyAffine(face.affine!, point);
          const [ox, oy] = applyAffine(optimal, point);
          expect(Math.hypot(x - ox, y - oy), `${name} landmark ${i} vs optimal fit`).toBeLessThanOrEqual(1.5);
          squared += (x - template[i]![0]) ** 2 + (y - template[i]![1]) ** 2;
        });
        // A mirrored or misordered landmark set, or a template in the wrong convention, leaves tens of pixels.
        expect(Math.sqrt(squared / 5), `${name} RMS residual to the template`).toBeLessThan(10);
      }
    }
  });

  it('gives the Lanczos-upscaled input back inside the face boxes (PSNR ≥ 45 dB mean, ≥ 40 dB each)', async () => {
    const psnrs: Record<string, number> = {};
    for (const file of Object.keys(EXPECTED_FACES)) {
      const entry = restoredEntry(report, file);
      const input = await decodeFile(path.join(photosDir(), 'whole', file));
      const reference = await resizeImage(input.rgb, input.rgb.width * UPSCALE, input.rgb.height * UPSCALE, 'lanczos3');
      const output = await decodeFile(path.join(out, entry.output));
      const boxes = entry.faces.map((face) => face.box.map((v) => v * UPSCALE) as [number, number, number, number]);
      psnrs[file] = psnrInBoxes(output.rgb, reference, boxes);
    }
    const values = Object.values(psnrs);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    console.log('round-trip PSNR (dB) inside face boxes:', Object.fromEntries(Object.entries(psnrs).map(([k, v]) => [k, Number(v.toFixed(2))])), 'mean', mean.toFixed(2));
    expect(Math.min(...values)).toBeGreaterThanOrEqual(40);
    expect(mean).toBeGreaterThanOrEqual(45);
  });

  it('writes GFPGAN\'s layout: restored_imgs, cropped_faces, restored_faces, cmp', async () => {
    for (const [file, count] of Object.entries(EXPECTED_FACES)) {
      const entry = restoredEntry(report, file);
      const name = path.parse(file).name;
      expect(entry.output).toBe(path.join('restored_imgs', `${name}.png`));
      const output = await decodeFile(path.join(out, entry.output));
      const input = await decodeFile(path.join(photosDir(), 'whole', file));
      expect([output.rgb.width, output.rgb.height]).toEqual([input.rgb.width * UPSCALE, input.rgb.height * UPSCALE]);
      expect([entry.width, entry.height]).toEqual([output.rgb.width, output.rgb.height]);
      for (let i = 0; i < count; i++) {
        const nn = String(i).padStart(2, '0');
        const cropped = await decodeFile(path.join(out, 'cropped_faces', `${name}_${nn}.png`));
        const restored = await decodeFile(path.join(out, 'restored_faces', `${name}_${nn}.png`));
        const cmp = await decodeFile(path.join(out, 'cmp', `${name}_${nn}.png`));
        expect([cropped.rgb.width, cropped.rgb.height]).toEqual([512, 512]);
        expect([restored.rgb.width, restored.rgb.height]).toEqual([512, 512]);
        expect([cmp.rgb.width, cmp.rgb.height]).toEqual([1024, 512]);
        // Identity restorer: the restored face is the crop, and cmp is the two side by side.
        expect(psnr(restored.rgb, cropped.rgb)).toBeGreaterThan(45);
        expect(psnr(cmp.rgb, { ...cropped.rgb, width: 1024, data: sideBySideForTest(cropped.rgb.data, restored.rgb.data) })).toBe(Infinity);
      }
      expect(existsSync(path.join(out, 'cropped_faces', `${name}_${String(count).padStart(2, '0')}.png`))).toBe(false);
    }
  });

  it('records per-stage milliseconds for every image', async () => {
    const raw = JSON.parse(await readFile(path.join(out, 'report.json'), 'utf8')) as RestoreReport;
    for (const image of raw.images) {
      if (image.status !== 'ok') continue;
      for (const stage of ['decode', 'detect', 'align', 'restore', 'paste', 'encode', 'upscale']) {
        expect(image.timingsMs[stage], `${path.basename(image.input)} ${stage}`).toBeGreaterThanOrEqual(0);
      }
    }
    expect(raw.totals.seconds).toBeGreaterThan(0);
  });
});

/** Two 512×512 RGB buffers joined row by row into one 1024×512 buffer. */
function sideBySideForTest(left: Uint8Array, right: Uint8Array): Uint8Array {
  const row = 512 * 3;
  const out = new Uint8Array(row * 2 * 512);
  for (let y = 0; y < 512; y++) {
    out.set(left.subarray(y * row, (y + 1) * row), y * row * 2);
    out.set(right.subarray(y * row, (y + 1) * row), y * row * 2 + row);
  }
  return out;
}

/** Closed-form least-squares similarity (Umeyama, 2-D) from `from` to `to`, written independently of align.ts. */
function leastSquaresSimilarity(from: readonly (readonly number[])[], to: readonly (readonly number[])[]): Affine {
  const n = from.length;
  const mean = (pts: readonly (readonly number[])[], k: number) => pts.reduce((sum, p) => sum + p[k]!, 0) / n;
  const [fx, fy, tx, ty] = [mean(from, 0), mean(from, 1), mean(to, 0), mean(to, 1)];
  let a = 0;
  let b = 0;
  let norm = 0;
  for (let i = 0; i < n; i++) {
    const px = from[i]![0]! - fx;
    const py = from[i]![1]! - fy;
    const qx = to[i]![0]! - tx;
    const qy = to[i]![1]! - ty;
    a += px * qx + py * qy;
    b += px * qy - py * qx;
    norm += px * px + py * py;
  }
  a /= norm;
  b /= norm;
  return [a, -b, tx - a * fx + b * fy, b, a, ty - b * fx - a * fy];
}
