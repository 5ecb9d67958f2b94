import { describe, expect, it } from 'vitest';
import {
  alignFace,
  applyAffine,
  CROP_BORDER_RGB,
  estimateSimilarity,
  FFHQ_512_TEMPLATE,
  invertAffine,
  templateForSize,
  warpAffine,
} from './align.js';
import type { Affine, Landmarks5, Point, RgbImage } from './types.js';

/** A deterministic pseudo-random source in [-0.5, 0.5). */
function noise(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  };
}

function similarity(scale: number, degrees: number, tx: number, ty: number): Affine {
  const t = (degrees * Math.PI) / 180;
  return [scale * Math.cos(t), -scale * Math.sin(t), tx, scale * Math.sin(t), scale * Math.cos(t), ty];
}

/** The template moved into a photo: a face with `eye` px between the eyes, rotated, centred at (cx, cy), jittered. */
function placedFace(eye: number, degrees: number, cx: number, cy: number, jitterPx: number, seed: number): Landmarks5 {
  const t = templateForSize(512);
  const s = eye / Math.hypot(t[1][0] - t[0][0], t[1][1] - t[0][1]);
  const m = similarity(s, degrees, 0, 0);
  const rnd = noise(seed);
  return t.map((p) => {
    const [x, y] = applyAffine(m, [p[0] - 256, p[1] - 256]);
    return [cx + x + jitterPx * rnd(), cy + y + jitterPx * rnd()] as Point;
  }) as unknown as Landmarks5;
}

function distance(a: Point, b: Point): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1]);
}

function checker(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set([(x * 7) % 256, (y * 5) % 256, ((x + y) * 3) % 256], (y * width + x) * 3);
  }
  return { width, height, data };
}

describe('estimateSimilarity', () => {
  it('recovers a known rotation, scale and translation', () => {
    const truth = similarity(1.7, 23, -40.5, 112.25);
    const from: Point[] = [[10, 20], [200, 35], [120, 160], [40, 300], [260, 280]];
    const to = from.map((p) => applyAffine(truth, p));
    for (const method of ['least-squares', 'lmeds'] as const) {
      const m = estimateSimilarity(from, to, { method });
      m.forEach((v, i) => expect(v).toBeCloseTo(truth[i]!, 9));
    }
  });

  it('maps every realistic, noisy landmark set to within 1.5 px of the template', () => {
    const template = templateForSize(512);
    let faces = 0;
    for (const eye of [24, 60, 130, 250, 400]) {
      for (const degrees of [-35, -10, 0, 15, 40]) {
        // Landmarks jittered by up to ±0.5% of the eye distance per axis (about ±0.6 template px), as a good detector wobbles.
        const lm = placedFace(eye, degrees, 700, 500, eye * 0.01, faces + 1);
        const m = estimateSimilarity(lm, template);
        lm.forEach((p, i) => expect(distance(applyAffine(m, p), template[i]!)).toBeLessThan(1.5));
        faces++;
      }
    }
    expect(faces).toBe(25);
  });

  it('LMEDS ignores one misplaced landmark that pulls least squares off', () => {
    const template = templateForSize(512);
    const lm = [...placedFace(100, 12, 400, 300, 0, 1)] as Point[];
    lm[2] = [lm[2]![0] + 45, lm[2]![1] - 30]; // a nose detected on the cheek
    const robust = estimateSimilarity(lm, template, { method: 'lmeds' });
    const plain = estimateSimilarity(lm, template);
    const err = (m: Affine) => Math.max(...[0, 1, 3, 4].map((i) => distance(applyAffine(m, lm[i]!), template[i]!)));
    expect(err(robust)).toBeLessThan(0.01);
    expect(err(plain)).toBeGreaterThan(5);
  });

  it('inverts an affine', () => {
    const m = similarity(0.4, -70, 13, -8);
    const p: Point = [123.4, -56.7];
    const q = applyAffine(invertAffine(m), applyAffine(m, p));
    expect(distance(p, q)).toBeLessThan(1e-9);
  });
});

describe('templateForSize', () => {
  it('is facexlib’s template shifted to pixel centres at i+0.5 and scaled with the crop', () => {
    expect(templateForSize(512)[0]).toEqual([FFHQ_512_TEMPLATE[0][0] + 0.5, FFHQ_512_TEMPLATE[0][1] + 0.5]);
    const half = templateForSize(256);
    templateForSize(512).forEach((p, i) => expect(distance([p[0] / 2, p[1] / 2], half[i]!)).toBeLessThan(1e-9));
  });
});

describe('warp and alignFace', () => {
  it('the border colour is facexlib’s BGR (135,133,132) written as RGB', () => {
    expect(CROP_BORDER_RGB).toEqual([132, 133, 135]);
  });

  it('an integer translation copies pixels exactly, and the outside of the photo gets the border colour', async () => {
    const image = checker(50, 40);
    const out = await warpAffine(image, [1, 0, -10, 0, 1, -5], 48, 48);
    for (let y = 0; y < 35; y++) {
      for (let x = 0; x < 40; x++) {
        const o = (y * 48 + x) * 3, s = ((y + 5) * 50 + x + 10) * 3;
        expect([out.data[o], out.data[o + 1], out.data[o + 2]]).toEqual([image.data[s], image.data[s + 1], image.data[s + 2]]);
      }
    }
    expect(Array.from(out.data.subarray((47 * 48 + 47) * 3, (47 * 48 + 47) * 3 + 3))).toEqual([...CROP_BORDER_RGB]);
    expect(Array.from(out.data.subarray((10 * 48 + 45) * 3, (10 * 48 + 45) * 3 + 3))).toEqual([...CROP_BORDER_RGB]);
  });

  it('no pixel inside the photo mixes with the border colour', async () => {
    const data = new Uint8Array(60 * 60 * 3).fill(20);
    const out = await warpAffine({ width: 60, height: 60, data }, similarity(3.3, 17, -30, -60), 128, 128);
    for (let i = 0; i < out.data.length; i += 3) {
      const px = [out.data[i], out.data[i + 1], out.data[i + 2]];
      expect(px.every((v) => v === 20) || px.join() === CROP_BORDER_RGB.join()).toBe(true);
    }
  });

  it('aligns a face so that its landmarks land on the template in the crop', async () => {
    const image = checker(900, 700);
    const lm = placedFace(150, -20, 450, 350, 2, 9);
    const { crop, affine } = await alignFace(image, lm, 512);
    expect([crop.width, crop.height]).toEqual([512, 512]);
    lm.forEach((p, i) => expect(distance(applyAffine(affine, p), templateForSize(512)[i]!)).toBeLessThan(1.5));
    const small = await alignFace(image, lm, 256);
    expect(small.crop.data.length).toBe(256 * 256 * 3);
  });
});
