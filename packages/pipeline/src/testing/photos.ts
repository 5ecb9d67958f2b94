import { readdir, readFile, writeFile } from 'node:fs/promises';
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

/** The longest side of the small-photo set: 00.jpg (1920 px) is shrunk to it. */
export const SMALL_PHOTO_MAX_SIDE_PX = 1204;
/** 00.jpg shrunk to SMALL_PHOTO_MAX_SIDE_PX; the other small photos keep their shared names. */
const SHRUNK_NAME = '00_1204.jpg';
/** Each small photo's source folder under ../shared/photos and the faces a person counts in it (its README). */
const SMALL_PHOTOS: readonly { readonly name: string; readonly folder: 'whole' | 'aligned'; readonly faces: number }[] = [
  { name: SHRUNK_NAME, folder: 'whole', faces: 2 },
  { name: '10045.png', folder: 'whole', faces: 3 },
  { name: 'Blake_Lively.jpg', folder: 'whole', faces: 2 },
  { name: 'blurry_face.jpg', folder: 'whole', faces: 1 },
  ...['0143.png', '0240.png', '0342.png', 'Adele_crop.png', 'Einstein01.png', 'Julia_Roberts_crop.png'].map((name) => ({ name, folder: 'aligned' as const, faces: 1 })),
];
/** The faces a person counts in each photo that `writeSmallPhotos` writes (14 in all). */
export const SMALL_PHOTO_FACES: Readonly<Record<string, number>> = Object.fromEntries(SMALL_PHOTOS.map((p) => [p.name, p.faces]));

/**
 * Writes ten small photos (at most SMALL_PHOTO_MAX_SIDE_PX, 14 faces) into `dir`, made from the shared ones: the
 * whole photos (00.jpg shrunk to 1204 px, JPEG q95) and six aligned 512² crops — the photos of a small job,
 * where the per-photo fixed costs (start-up, detection, encoding) weigh most. Returns the file names.
 */
export async function writeSmallPhotos(dir: string): Promise<string[]> {
  const photos = path.join(sharedDir(), 'photos');
  for (const { name, folder } of SMALL_PHOTOS) {
    if (name !== SHRUNK_NAME) {
      await writeFile(path.join(dir, name), await readFile(path.join(photos, folder, name)));
      continue;
    }
    const big = (await readImage(await readFile(path.join(photos, 'whole', '00.jpg')), { maxPixels: 100_000_000 })).rgb;
    const scale = SMALL_PHOTO_MAX_SIDE_PX / Math.max(big.width, big.height);
    const small = await resizeImage(big, Math.round(big.width * scale), Math.round(big.height * scale), 'lanczos3');
    await writeFile(path.join(dir, name), await writeImage(small, undefined, 'jpeg', { quality: 95 }));
  }
  return SMALL_PHOTOS.map((p) => p.name);
}
