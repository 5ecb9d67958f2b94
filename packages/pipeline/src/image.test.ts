import { READABLE_IMAGE_TYPES, sniffImageType, type ReadableImageFormat } from '@revive/contract';
import { describe, expect, it } from 'vitest';
import { invertAffine } from './align.js';
import { readImage, replicatedRect, resizeImage, resizePlane, warpRaw, writeSolidImage } from './image.js';
import type { RgbImage } from './types.js';

/** Intensity-weighted centre (in continuous coordinates) of row `y`'s red channel. */
function centroid(image: RgbImage, y: number): number {
  let sum = 0, weighted = 0;
  for (let x = 0; x < image.width; x++) {
    const v = image.data[(y * image.width + x) * 3]!;
    sum += v;
    weighted += v * (x + 0.5);
  }
  return weighted / sum;
}

function impulseColumn(width: number, height: number, column: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) data.set([200, 200, 200], (y * width + column) * 3);
  return { width, height, data };
}

describe('resizeImage', () => {
  it('enlarges with pixel centres aligned: source pixel 20 covers [20, 21), so at 2× its centre is 41', async () => {
    for (const [factor, kernel] of [[2, 'lanczos3'], [3, 'lanczos3'], [4, 'lanczos3'], [2, 'linear'], [2, 'cubic'], [3, 'cubic'], [4, 'cubic']] as const) {
      const out = await resizeImage(impulseColumn(40, 8, 20), 40 * factor, 8 * factor, kernel);
      expect(out.data.length).toBe(40 * factor * 8 * factor * 3);
      expect(Math.abs(centroid(out, 4 * factor) - 20.5 * factor)).toBeLessThan(0.02);
    }
  });

  it('reduces with pixel centres aligned', async () => {
    const out = await resizeImage(impulseColumn(80, 8, 41), 40, 4, 'lanczos3');
    // A misaligned reduce would be off by a quarter or half pixel; clipped negative lobes cost a few hundredths.
    expect(Math.abs(centroid(out, 2) - 41.5 / 2)).toBeLessThan(0.1);
  });

  it('resizes to any exact size, including a change of aspect ratio', async () => {
    const out = await resizeImage(impulseColumn(40, 30, 3), 64, 64, 'linear');
    expect([out.width, out.height, out.data.length]).toEqual([64, 64, 64 * 64 * 3]);
  });
});

describe('resizePlane', () => {
  it('keeps one channel when enlarging and reducing', async () => {
    const plane = new Uint8Array(8 * 8).map((_, i) => (i % 8 < 4 ? 0 : 255));
    const up = await resizePlane(plane, 8, 8, 16, 16, 'lanczos3');
    const down = await resizePlane(plane, 8, 8, 4, 4, 'cubic');
    expect(up.length).toBe(256);
    expect(down.length).toBe(16);
    expect([up[0], up[15], down[0], down[3]]).toEqual([0, 255, 0, 255]);
  });
});

describe('warpRaw (the WebAssembly bicubic kernel with exact pixel centres)', () => {
  // A linear ramp is reproduced exactly by bicubic interpolation, so each output value says which source point
  // was sampled: a half-pixel error in the libvips offsets would show as 1 grey level (slope 2) or more.
  const W = 120, H = 100;
  const ramp = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) ramp.set([2 * x, 2 * y, 77], (y * W + x) * 3);
  const cases: readonly (readonly [number, number, number, number, number, number, number, number])[] = [
    // angle, scale (destination px per source px), translation, destination rectangle x0, y0, w, h
    [0, 2, 0, 0, 20, 30, 50, 40],
    [0.4, 1.7, 10, -5, 30, 40, 60, 50],
    [2.5, 3.1, 200, 100, 50, 50, 100, 80],
    [0.3, 0.5, 20, 10, 25, 15, 30, 30],
  ];
  it.each(cases)('rotation %s, scale %s: samples the exact pre-image of each pixel centre', async (t, s, tx, ty, x0, y0, w, h) => {
    const inverse = invertAffine([s * Math.cos(t), -s * Math.sin(t), tx, s * Math.sin(t), s * Math.cos(t), ty]);
    const out = await warpRaw({ data: ramp, width: W, height: H, channels: 3, inverse, x0, y0, outWidth: w, outHeight: h });
    expect(out.length).toBe(w * h * 3);
    let checked = 0, worst = 0;
    for (let j = 0; j < h; j++) {
      for (let i = 0; i < w; i++) {
        const X = x0 + i + 0.5, Y = y0 + j + 0.5;
        const sx = inverse[0] * X + inverse[1] * Y + inverse[2] - 0.5;
        const sy = inverse[3] * X + inverse[4] * Y + inverse[5] - 0.5;
        // Away from the edges, where replication bends the ramp (and a shrink's prefilter reaches further).
        if (sx < 6 || sy < 6 || sx > W - 7 || sy > H - 7) continue;
        const o = (j * w + i) * 3;
        worst = Math.max(worst, Math.abs(out[o]! - 2 * sx), Math.abs(out[o + 1]! - 2 * sy), Math.abs(out[o + 2]! - 77));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(100);
    // Rounding to bytes alone gives 0.5; a shift of a quarter source pixel would give 1.
    expect(worst).toBeLessThanOrEqual(0.75);
  });

  it('prefilters a strong shrink: a one-pixel checkerboard becomes flat grey, not a moiré', async () => {
    const n = 400;
    const checker = new Uint8Array(n * n);
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) checker[y * n + x] = (x + y) % 2 === 0 ? 255 : 0;
    const s = 0.23;
    const inverse = invertAffine([s * Math.cos(0.2), -s * Math.sin(0.2), 30, s * Math.sin(0.2), s * Math.cos(0.2), 5]);
    const out = await warpRaw({ data: checker, width: n, height: n, channels: 1, inverse, x0: 20, y0: 20, outWidth: 40, outHeight: 40 });
    const values = Array.from(out);
    expect(Math.max(...values) - Math.min(...values)).toBeLessThanOrEqual(8);
  });
});

describe('replicatedRect', () => {
  it.each([
    ['inside', 3, 2, 9, 7],
    ['past every side', -5, -4, 17, 13],
    ['left and above only', -3, -6, 4, 2],
    ['wholly left of the source', -9, 1, -2, 5],
    ['wholly right of and below the source', 14, 11, 20, 15],
  ] as const)('copies [x0, x1)×[y0, y1) with the edge pixels replicated outside the source: %s', (_name, x0, y0, x1, y1) => {
    const W = 12, H = 9;
    for (const channels of [1, 3, 4] as const) {
      const src = Uint8Array.from({ length: W * H * channels }, (_, i) => (i * 37) % 251);
      const out = replicatedRect(src, W, H, channels, x0, y0, x1, y1);
      const w = x1 - x0, h = y1 - y0;
      expect(out.length).toBe(w * h * channels);
      for (let j = 0; j < h; j++) {
        for (let i = 0; i < w; i++) {
          const sx = Math.min(W - 1, Math.max(0, x0 + i)), sy = Math.min(H - 1, Math.max(0, y0 + j));
          for (let c = 0; c < channels; c++) expect(out[(j * w + i) * channels + c]).toBe(src[(sy * W + sx) * channels + c]);
        }
      }
    }
  });
});

describe('the formats the contract lists as readable (the API takes uploads of these and refuses others)', () => {
  it("are each decoded by this sharp, and sniffed as themselves by the contract's magic-byte check", async () => {
    for (const format of Object.keys(READABLE_IMAGE_TYPES) as ReadableImageFormat[]) {
      const bytes = await writeSolidImage(40, 30, 3, format);
      expect(sniffImageType(bytes), format).toBe(format);
      const decoded = await readImage(bytes, { maxPixels: 10_000 });
      expect({ width: decoded.rgb.width, height: decoded.rgb.height }, format).toEqual({ width: 40, height: 30 });
      // The solid colour survives every codec within a few levels (JPEG, AVIF and GIF are lossy or palettised).
      expect(Math.abs(decoded.rgb.data[0]! - 120), format).toBeLessThan(8);
    }
  });
});
