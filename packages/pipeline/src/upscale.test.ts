import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError } from './errors.js';
import { writeIdentityRestorer, writeTinyUpsampler } from './testing/models.js';
import { sharedDir } from './testing/shared-dir.js';
import { readImage } from './image.js';
import type { RgbImage } from './types.js';
import { BackgroundUpsampler } from './upscale.js';

let dir: string;
let photo: RgbImage;

function psnr(a: Uint8Array, b: Uint8Array): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i]! - b[i]!) ** 2;
  return se === 0 ? Infinity : 10 * Math.log10((255 * 255) / (se / a.length));
}

/** A w×h window of `image` starting at (x0, y0). */
function crop(image: RgbImage, x0: number, y0: number, w: number, h: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) data.set(image.data.subarray(((y0 + y) * image.width + x0) * 3, ((y0 + y) * image.width + x0 + w) * 3), y * w * 3);
  return { width: w, height: h, data };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-upscale-'));
  const decoded = await readImage(await readFile(path.join(sharedDir(), 'photos', 'whole', 'Blake_Lively.jpg')), { maxPixels: 10_000_000 });
  // A face and hair: detail that shows seams. Odd sizes so edge tiles are partial.
  photo = crop(decoded.rgb, 400, 60, 101, 77);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('BackgroundUpsampler', () => {
  const efrlfn = (scale: number) => path.join(sharedDir(), 'models', 'upscalers', `efrlfn_x${scale}.onnx`);

  it('measures the model scale', async () => {
    for (const scale of [2, 4]) {
      const up = await BackgroundUpsampler.create(efrlfn(scale), { threads: 1 });
      expect(up.modelScale).toBe(scale);
      await up.dispose();
    }
  });

  it('gives the same output tiled as untiled (efrlfn x2), at the right size', async () => {
    const whole = await BackgroundUpsampler.create(efrlfn(2), { threads: 1, tileSizePx: 0 });
    const tiled = await BackgroundUpsampler.create(efrlfn(2), { threads: 1, tileSizePx: 32, tilePadPx: 16 });
    try {
      const a = await whole.upscale(photo, 2);
      const b = await tiled.upscale(photo, 2);
      expect([a.width, a.height]).toEqual([202, 154]);
      expect([b.width, b.height]).toEqual([202, 154]);
      expect(psnr(a.data, b.data)).toBeGreaterThan(45);
      // Without context the seams show: the pad is what makes tiling invisible.
      const seamy = await BackgroundUpsampler.create(efrlfn(2), { threads: 1, tileSizePx: 32, tilePadPx: 0 });
      const c = await seamy.upscale(photo, 2);
      await seamy.dispose();
      expect(psnr(a.data, c.data)).toBeLessThan(psnr(a.data, b.data));
    } finally {
      await whole.dispose();
      await tiled.dispose();
    }
  });

  it('is exact across tiles for a pixel-repeating model, including partial edge tiles', async () => {
    const up = await BackgroundUpsampler.create(await writeTinyUpsampler(dir, { scale: 2 }), { threads: 1, tileSizePx: 16, tilePadPx: 3 });
    try {
      const out = await up.upscale(photo, 2);
      for (let y = 0; y < out.height; y++) {
        for (let x = 0; x < out.width; x++) {
          const s = (Math.floor(y / 2) * photo.width + Math.floor(x / 2)) * 3;
          const d = (y * out.width + x) * 3;
          if (out.data[d] !== photo.data[s] || out.data[d + 1] !== photo.data[s + 1] || out.data[d + 2] !== photo.data[s + 2]) {
            throw new Error(`pixel ${x},${y} differs`);
          }
        }
      }
    } finally {
      await up.dispose();
    }
  });

  it('resizes to the requested scale when it differs from the model scale', async () => {
    const up = await BackgroundUpsampler.create(efrlfn(4), { threads: 1, tileSizePx: 64 });
    try {
      const out = await up.upscale(photo, 3);
      expect([out.width, out.height]).toEqual([303, 231]);
      expect(out.data.length).toBe(303 * 231 * 3);
    } finally {
      await up.dispose();
    }
  });

  it('refuses a model that is not an upsampler, at load', async () => {
    const file = await writeIdentityRestorer(dir, { size: 16 });
    await expect(BackgroundUpsampler.create(file, {})).rejects.toSatisfy(
      (e: unknown) => e instanceof PermanentError && e.code === 'MODEL_INVALID' && e.message.includes(file),
    );
  });
});
