// Background upscale candidates, side by side on one photo enlarged to a close-up's size: Revive's exact
// TypeScript Lanczos-3 (image.ts resizeImage) against libvips' affine with exact pixel centres (warpRaw) and
// each of its interpolators. Prints the time of each (median of REVIVE_BENCH_RUNS, default 3, interleaved), the
// PSNR of each against the Lanczos-3 result, and the centre of an impulse (no half-pixel shift: pixel 20, centre 20.5, lands at 41).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { readImage, resizeImage, warpRaw, type WarpInterpolator } from '../src/pipeline/image.js';
import type { RgbImage } from '../src/pipeline/types.js';
import { sharedDir } from '../src/testing/shared-dir.js';

const RUNS = Number(process.env.REVIVE_BENCH_RUNS ?? 3);
const UPSCALE = 2;
const median = (v: readonly number[]): number => [...v].sort((a, b) => a - b)[v.length >> 1]!;

function psnr(a: Uint8Array, b: Uint8Array): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i]! - b[i]!) ** 2;
  return se === 0 ? Infinity : 10 * Math.log10((255 * 255) / (se / a.length));
}

async function libvips(image: RgbImage, interpolator: WarpInterpolator): Promise<RgbImage> {
  const width = image.width * UPSCALE, height = image.height * UPSCALE;
  const data = await warpRaw({
    data: image.data, width: image.width, height: image.height, channels: 3,
    inverse: [1 / UPSCALE, 0, 0, 0, 1 / UPSCALE, 0], x0: 0, y0: 0, outWidth: width, outHeight: height, interpolator,
  });
  return { width, height, data };
}

const candidates: Record<string, (image: RgbImage) => Promise<RgbImage>> = {
  'ts-lanczos3': (image) => resizeImage(image, image.width * UPSCALE, image.height * UPSCALE, 'lanczos3'),
  'vips-bicubic': (image) => libvips(image, 'bicubic'),
  'vips-lbb': (image) => libvips(image, 'lbb'),
  'vips-nohalo': (image) => libvips(image, 'nohalo'),
  'vips-bilinear': (image) => libvips(image, 'bilinear'),
};

// Default: the close-up (blurry_face.jpg enlarged 10×); REVIVE_BENCH_UPSCALE_PHOTO=Blake_Lively.jpg and
// REVIVE_BENCH_UPSCALE_FACTOR=1 measure fidelity on a sharp photo at its own size.
const factor = Number(process.env.REVIVE_BENCH_UPSCALE_FACTOR ?? 10);
const photoName = process.env.REVIVE_BENCH_UPSCALE_PHOTO ?? 'blurry_face.jpg';
const { rgb: small } = await readImage(await readFile(path.join(sharedDir(), 'photos', 'whole', photoName)), { maxPixels: 1e8 });
const photo = factor === 1 ? small : await resizeImage(small, small.width * factor, small.height * factor, 'cubic');
console.log(`${photoName} ×${factor}: upscale ×${UPSCALE} of ${photo.width}×${photo.height} (${((photo.width * photo.height) / 1e6).toFixed(1)} MP)`);
const times: Record<string, number[]> = {};
const results: Record<string, RgbImage> = {};
for (let r = 0; r < RUNS; r++) {
  for (const [name, f] of Object.entries(candidates)) {
    const start = performance.now();
    results[name] = await f(photo);
    (times[name] ??= []).push(performance.now() - start);
  }
}
const impulse: RgbImage = { width: 41, height: 1, data: new Uint8Array(41 * 3) };
impulse.data.set([255, 255, 255], 20 * 3);
for (const [name, f] of Object.entries(candidates)) {
  const out = await f(impulse);
  let m = 0, s = 0;
  for (let x = 0; x < out.width; x++) {
    m += out.data[x * 3]! * (x + 0.5);
    s += out.data[x * 3]!;
  }
  console.log(
    `${name.padEnd(14)} ${median(times[name]!).toFixed(0).padStart(6)} ms  PSNR vs ts-lanczos3 ${psnr(results[name]!.data, results['ts-lanczos3']!.data).toFixed(1)} dB  impulse centre ${(m / s).toFixed(3)} (exact 41.000)`,
  );
}
