import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { readImage, resizeImage, writeImage } from '../image.js';
import { sharedDir } from './shared-dir.js';

/** A JPEG of a shared photo with faces, scaled to `width` pixels wide (small inputs keep load tests quick). */
export async function photo(width?: number, name = 'Blake_Lively.jpg'): Promise<{ bytes: Uint8Array; width: number; height: number }> {
  const bytes = await readFile(path.join(sharedDir(), 'photos', 'whole', name));
  const decoded = await readImage(bytes, { maxPixels: 100_000_000 });
  if (width === undefined) return { bytes, width: decoded.rgb.width, height: decoded.rgb.height };
  const height = Math.round((decoded.rgb.height * width) / decoded.rgb.width);
  const small = await resizeImage(decoded.rgb, width, height, 'lanczos3');
  return { bytes: await writeImage(small, undefined, 'jpeg', { quality: 90 }), width, height };
}

/** Where each face of a `groupPhoto` was put: [x1, y1, x2, y2] of its crop, in the photo's pixels. */
export type PlacedCrop = readonly [number, number, number, number];

/**
 * A JPEG of many faces: the shared aligned face crops (photos/aligned, cycled through), one per entry of `sides`
 * and scaled to that many pixels square, in a row on grey with a margin around each. No shared photo has more than
 * three faces; this makes a group photo with faces of known, different sizes.
 */
export async function groupPhoto(sides: readonly number[]): Promise<{ bytes: Uint8Array; width: number; height: number; crops: PlacedCrop[] }> {
  const margin = 40;
  const dir = path.join(sharedDir(), 'photos', 'aligned');
  const names = (await readdir(dir)).filter((n) => /\.(png|jpe?g)$/i.test(n)).sort();
  const width = sides.reduce((sum, side) => sum + side + margin, margin);
  const height = Math.max(...sides) + 2 * margin;
  const data = new Uint8Array(width * height * 3).fill(128);
  const crops: PlacedCrop[] = [];
  let x = margin;
  for (const [i, side] of sides.entries()) {
    const decoded = await readImage(await readFile(path.join(dir, names[i % names.length]!)), { maxPixels: 100_000_000 });
    const face = await resizeImage(decoded.rgb, side, side, 'lanczos3');
    const y = margin;
    for (let row = 0; row < side; row++) data.set(face.data.subarray(row * side * 3, (row + 1) * side * 3), ((y + row) * width + x) * 3);
    crops.push([x, y, x + side, y + side]);
    x += side + margin;
  }
  return { bytes: await writeImage({ width, height, data }, undefined, 'jpeg', { quality: 92 }), width, height, crops };
}
