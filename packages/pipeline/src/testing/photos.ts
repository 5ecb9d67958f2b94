import { readFile } from 'node:fs/promises';
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
