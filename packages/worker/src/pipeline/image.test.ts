import { describe, expect, it } from 'vitest';
import { resizeImage, resizePlane } from './image.js';
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
    for (const [factor, kernel] of [[2, 'lanczos3'], [3, 'lanczos3'], [4, 'lanczos3'], [2, 'linear'], [3, 'cubic']] as const) {
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
