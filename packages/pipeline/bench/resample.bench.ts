// `pnpm bench` (last part): the WebAssembly resampling kernels (src/pipeline/resample.ts) against libvips' affine
// through sharp, the library path they replaced, side by side on the same pixels (median of REVIVE_BENCH_RUNS,
// default 3, interleaved), with the same exact pixel-centre convention:
//   1. align: a 512² crop out of a photo, rotated, the face enlarged about 2× (as on shared/photos/whole);
//   2. paste: a 512² face warped onto a close-up's footprint (about 4800² output, rotated);
//   3. the background upscale: the 6.4 MP close-up enlarged 2×, separable kernel against libvips' affine, both
//      also as PSNR against Revive's exact TypeScript Lanczos-3, and the centre of an impulse (pixel 20 → 41.0).
// sharp is imported here, outside the product, only to measure the alternative.
// eslint-disable-next-line no-restricted-imports
import sharp from 'sharp';
import { availableParallelism } from 'node:os';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { readImage, resizeImage, warpRaw } from '../src/image.js';
import { configureKernels, enlargeCubic, kernelStats, warpBicubic } from '../src/resample.js';
import type { Affine, RgbImage } from '../src/types.js';
import { psnr } from '../src/testing/metrics.js';
import { sharedDir } from '../src/testing/shared-dir.js';

const RUNS = Number(process.env.REVIVE_BENCH_RUNS ?? 3);
sharp.concurrency(availableParallelism());
// As RestorationPipeline.create does: the kernels' helper threads start before the first call.
configureKernels();
const median = (v: readonly number[]): number => [...v].sort((a, b) => a - b)[v.length >> 1]!;

/**
 * The same warp in libvips (sharp's `affine`, bicubic), with `idx/idy` set so that output index (i, j) samples the
 * pre-image of (i + 0.5, j + 0.5) (libvips computes M⁻¹·((i, j) + L) − id, L the rounded top-left of M applied to
 * the input's bounds); libvips computes the whole bounding box of the warped input, cropped here.
 */
async function libvipsWarp(src: RgbImage, inverse: Affine, outWidth: number, outHeight: number): Promise<Uint8Array> {
  const [a, b, c, d, e, f] = inverse;
  const det = a * e - b * d;
  const m: [number, number, number, number] = [e / det, -b / det, -d / det, a / det];
  const xs = [0, src.width].flatMap((x) => [0, src.height].map((y) => m[0] * x + m[1] * y));
  const ys = [0, src.width].flatMap((x) => [0, src.height].map((y) => m[2] * x + m[3] * y));
  const Lx = Math.floor(Math.min(...xs) + 0.5), Ly = Math.floor(Math.min(...ys) + 0.5);
  const px = 0.5 - Lx, py = 0.5 - Ly;
  const { data, info } = await sharp(src.data, { raw: { width: src.width, height: src.height, channels: 3 }, limitInputPixels: false })
    .affine(m, { interpolator: 'bicubic', idx: -(a * px + b * py + c - 0.5), idy: -(d * px + e * py + f - 0.5), odx: 0, ody: 0 })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const out = new Uint8Array(outWidth * outHeight * 3);
  for (let j = 0; j < Math.min(outHeight, info.height); j++) {
    out.set(data.subarray(j * info.width * 3, (j * info.width + Math.min(outWidth, info.width)) * 3), j * outWidth * 3);
  }
  return out;
}

async function sideBySide(label: string, candidates: Record<string, () => Promise<Uint8Array> | Uint8Array>): Promise<Record<string, Uint8Array>> {
  const times: Record<string, number[]> = {};
  const results: Record<string, Uint8Array> = {};
  for (let r = 0; r <= RUNS; r++) {
    for (const [name, run] of Object.entries(candidates)) {
      const start = performance.now();
      results[name] = await run();
      if (r > 0) (times[name] ??= []).push(performance.now() - start); // run 0 warms up (and tiers the kernels up)
    }
  }
  const [first, ...others] = Object.keys(candidates);
  console.log(`== ${label}: median of ${RUNS}, interleaved`);
  for (const name of Object.keys(candidates)) console.log(`${name.padEnd(24)} ${median(times[name]!).toFixed(1).padStart(8)} ms`);
  for (const name of others) console.log(`ratio ${first} / ${name}: ${(median(times[first!]!) / median(times[name]!)).toFixed(2)}`);
  return results;
}

const similarity = (s: number, t: number, tx: number, ty: number): Affine => [s * Math.cos(t), -s * Math.sin(t), tx, s * Math.sin(t), s * Math.cos(t), ty];

const { rgb: photo } = await readImage(await readFile(path.join(sharedDir(), 'photos', 'whole', '00.jpg')), { maxPixels: 1e8 });
const { rgb: small } = await readImage(await readFile(path.join(sharedDir(), 'photos', 'whole', 'blurry_face.jpg')), { maxPixels: 1e8 });
console.log(`Resampling kernels: WebAssembly (SIMD; large calls on ${availableParallelism()} threads) against libvips' affine (${availableParallelism()} threads)\n`);

// 1. align: crop → photo at scale 0.5 (the face enlarged 2×), rotated 10°, around the photo's centre.
const alignInverse = similarity(0.5, 0.17, photo.width / 2 - 128, photo.height / 2 - 128);
await sideBySide('align: 512² crop from 00.jpg, enlarged 2×, rotated', {
  'wasm warpRaw': () => warpRaw({ data: photo.data, width: photo.width, height: photo.height, channels: 3, inverse: alignInverse, x0: 0, y0: 0, outWidth: 512, outHeight: 512 }),
  'libvips affine (region)': async () => {
    // libvips gets only the region the crop needs, as Revive's former warp did.
    const x0 = Math.floor(photo.width / 2 - 140), y0 = Math.floor(photo.height / 2 - 140);
    const { data } = await sharp(photo.data, { raw: { width: photo.width, height: photo.height, channels: 3 } }).extract({ left: x0, top: y0, width: 330, height: 330 }).raw().toBuffer({ resolveWithObject: true });
    const [a, b, c, d, e, f] = alignInverse;
    return libvipsWarp({ width: 330, height: 330, data }, [a, b, c - x0, d, e, f - y0], 512, 512);
  },
});
console.log();

// 2. paste: output → face at scale 512/4800, rotated 8°: a face square filling a close-up.
const face = await resizeImage(small, 512, 512, 'lanczos3');
const pasteInverse = similarity(512 / 4800, 0.14, -20, 15);
await sideBySide('paste: 512² face onto a 4800² footprint, rotated', {
  'wasm warpBicubic': () => warpBicubic({ ...face, channels: 3 }, pasteInverse, 0, 0, 4800, 4800),
  'libvips affine': () => libvipsWarp(face, pasteInverse, 4800, 4800),
});
console.log();

// 3. background upscale ×2 of the close-up (blurry_face.jpg ×10).
const closeUp = await resizeImage(small, small.width * 10, small.height * 10, 'cubic');
const W = closeUp.width * 2, H = closeUp.height * 2;
console.log(`background: ${closeUp.width}×${closeUp.height} (${((closeUp.width * closeUp.height) / 1e6).toFixed(1)} MP) → ${W}×${H}`);
const upscaled = await sideBySide('background upscale ×2', {
  'wasm enlargeCubic': () => enlargeCubic({ ...closeUp, channels: 3 }, W, H),
  'libvips affine': () => libvipsWarp(closeUp, [0.5, 0, 0, 0, 0.5, 0], W, H),
});
const exact = await resizeImage(closeUp, W, H, 'lanczos3');
const impulse: RgbImage = { width: 41, height: 1, data: new Uint8Array(41 * 3) };
impulse.data.set([255, 255, 255], 20 * 3);
const centre = (out: Uint8Array): number => {
  let m = 0, s = 0;
  for (let x = 0; x < 82; x++) {
    m += out[x * 3]! * (x + 0.5);
    s += out[x * 3]!;
  }
  return m / s;
};
for (const [name, out] of Object.entries(upscaled)) {
  const onImpulse = name.startsWith('wasm') ? enlargeCubic({ ...impulse, channels: 3 }, 82, 2) : await libvipsWarp(impulse, [0.5, 0, 0, 0, 0.5, 0], 82, 2);
  console.log(`${name.padEnd(24)} PSNR vs TypeScript Lanczos-3 ${psnr({ width: W, height: H, data: out }, exact).toFixed(1)} dB, impulse centre ${centre(onImpulse).toFixed(3)} (exact 41.000)`);
}
const stats = kernelStats();
console.log(`\nkernel strips: ${stats.stripsHere} on the calling thread, ${stats.stripsOnHelpers} on ${stats.helperThreads} helper thread(s)`);
