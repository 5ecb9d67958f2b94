import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError, applyAffine, templateForSize, writeImage, centerFaceIndex, RestorationPipeline } from '@revive/pipeline';
import { sharedDir, writeIdentityRestorer, psnr } from '@revive/pipeline/testing';
import { decodeBytes, photosDir } from './restore-helpers.js';

// The pipeline as the worker service uses it: models loaded once, process() called many times and concurrently.
describe('RestorationPipeline', () => {
  let dir: string;
  let pipeline: RestorationPipeline;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'revive-pipeline-'));
    pipeline = await RestorationPipeline.create({
      modelsDir: path.join(sharedDir(), 'models'),
      restorer: await writeIdentityRestorer(dir),
      download: false,
    });
  }, 120_000);

  afterAll(async () => {
    await pipeline?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  // The sample crops were aligned by their sources (FFHQ's dlib-based method, among others), not by a 5-point
  // detector: YuNet, SCRFD and RetinaFace all put their landmarks ~10 px (median) from the template, each crop
  // off in its own direction. A coordinate bug in detect or align (letterbox scale or offset, swapped axes,
  // mirrored landmarks) moves every crop the same way, so the systematic offset is held tighter than the spread.
  it('detects the aligned crops\' landmarks near the template, and aligns them to near the identity', async () => {
    const template = templateForSize(512);
    const names = (await readdir(path.join(photosDir(), 'aligned'))).filter((name) => name.endsWith('.png')).sort();
    const offsets = template.map((): [number, number] => [0, 0]);
    const distances: number[] = [];
    const centreShifts: number[] = [];
    for (const name of names) {
      const bytes = await readFile(path.join(photosDir(), 'aligned', name));
      const result = await pipeline.process(bytes, { upscale: 1, ext: 'png' });
      expect(result.faces.length, name).toBeGreaterThanOrEqual(1);
      const face = result.faces[0]!;
      face.landmarks.forEach(([x, y], i) => {
        const offset = offsets[i]!;
        offset[0] += (x - template[i]![0]) / names.length;
        offset[1] += (y - template[i]![1]) / names.length;
        distances.push(Math.hypot(x - template[i]![0], y - template[i]![1]));
      });
      const scale = Math.hypot(face.affine![0], face.affine![3]);
      expect(scale, `${name} alignment scale`).toBeGreaterThan(0.85);
      expect(scale, `${name} alignment scale`).toBeLessThan(1.15);
      const [cx, cy] = applyAffine(face.affine!, [256, 256]);
      centreShifts.push(Math.hypot(cx - 256, cy - 256));
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    console.log(
      `aligned crops (${names.length}): median landmark distance ${median(distances).toFixed(1)} px, median centre shift ${median(centreShifts).toFixed(1)} px, mean offset per landmark`,
      offsets.map(([x, y]) => [Number(x.toFixed(1)), Number(y.toFixed(1))]),
    );
    for (const [i, [x, y]] of offsets.entries()) expect(Math.hypot(x, y), `systematic offset of landmark ${i}`).toBeLessThan(8);
    expect(median(distances)).toBeLessThan(12);
    expect(median(centreShifts)).toBeLessThan(10);
  });

  it('reports the CPU time of each stage it times, within the process\'s CPU time over the call', async () => {
    const bytes = await readFile(path.join(photosDir(), 'whole', 'Blake_Lively.jpg'));
    const before = process.cpuUsage();
    const result = await pipeline.process(bytes, { upscale: 2, ext: 'jpg' });
    const used = process.cpuUsage(before);
    const { restoreConvert, ...cpu } = result.cpuMs ?? {};
    expect(Object.keys(cpu).sort()).toEqual(Object.keys(result.timingsMs).sort());
    expect(Object.keys(cpu)).toEqual(expect.arrayContaining(['decode', 'detect', 'align', 'restore', 'upscale', 'paste', 'encode']));
    for (const [stage, ms] of Object.entries(cpu)) expect(ms, stage).toBeGreaterThanOrEqual(0);
    // The conversions around the model are timed within the restore stage, apart from the model's run.
    expect(restoreConvert).toBeGreaterThan(0);
    expect(restoreConvert).toBeLessThanOrEqual(cpu.restore! + 1);
    const stagesMs = Object.values(cpu).reduce((sum, ms) => sum + (ms ?? 0), 0);
    expect(stagesMs).toBeGreaterThan(0);
    // The stages are spans of the call, one after another: their CPU time is part of the call's.
    expect(stagesMs).toBeLessThanOrEqual((used.user + used.system) / 1000 + 1);
  });

  it('runs concurrent calls with the same results as one at a time', async () => {
    const files = ['blurry_face.jpg', 'Blake_Lively.jpg', 'blurry_face.jpg'].map((f) => path.join(photosDir(), 'whole', f));
    const inputs = await Promise.all(files.map((f) => readFile(f)));
    const sequential = [];
    for (const input of inputs) sequential.push(await pipeline.process(input, { ext: 'png' }));
    const concurrent = await Promise.all(inputs.map((input) => pipeline.process(input, { ext: 'png' })));
    for (let i = 0; i < inputs.length; i++) {
      expect(concurrent[i]!.faces).toHaveLength(sequential[i]!.faces.length);
      const a = await decodeBytes(concurrent[i]!.image);
      const b = await decodeBytes(sequential[i]!.image);
      expect(psnr(a.rgb, b.rgb)).toBe(Infinity);
      for (const stage of ['decode', 'detect', 'align', 'restore', 'paste', 'encode'] as const) {
        expect(concurrent[i]!.timingsMs[stage]).toBeGreaterThanOrEqual(0);
      }
    }
  });

  it('--only-center-face keeps the face closest to the image centre', async () => {
    const bytes = await readFile(path.join(photosDir(), 'whole', 'Blake_Lively.jpg'));
    const all = await pipeline.process(bytes, { upscale: 1 });
    const center = await pipeline.process(bytes, { upscale: 1, onlyCenterFace: true });
    expect(all.faces.length).toBeGreaterThan(1);
    expect(center.faces).toHaveLength(1);
    const expected = all.faces[centerFaceIndex(all.faces, 700, 464)]!;
    expect(center.faces[0]!.box).toEqual(expected.box);
  });

  it('returns the upscaled photo when there is no face, and fails with NO_FACE when a face is required', async () => {
    const width = 120;
    const height = 80;
    const data = new Uint8Array(width * height * 3).map((_, i) => (i * 7) % 251);
    const blank = await writeImage({ width, height, data }, undefined, 'png');
    const result = await pipeline.process(blank, { upscale: 2 });
    expect(result.faces).toHaveLength(0);
    expect([result.width, result.height, result.format]).toEqual([240, 160, 'png']);
    const failure = await pipeline.process(blank, { requireFace: true }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(PermanentError);
    expect((failure as PermanentError).code).toBe('NO_FACE');
  });
});
