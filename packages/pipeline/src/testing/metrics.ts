import type { RgbImage } from '../types.js';

/** A pixel rectangle [x0, x1) × [y0, y1); clipped to the image when measured. */
export interface PixelBox {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

function region(a: RgbImage, b: RgbImage, box: PixelBox | undefined): PixelBox {
  if (a.width !== b.width || a.height !== b.height) {
    throw new RangeError(`Images differ in size: ${a.width}×${a.height} and ${b.width}×${b.height}.`);
  }
  const r = box ?? { x0: 0, y0: 0, x1: a.width, y1: a.height };
  const clipped = {
    x0: Math.max(0, Math.floor(r.x0)),
    y0: Math.max(0, Math.floor(r.y0)),
    x1: Math.min(a.width, Math.ceil(r.x1)),
    y1: Math.min(a.height, Math.ceil(r.y1)),
  };
  if (clipped.x1 <= clipped.x0 || clipped.y1 <= clipped.y0) throw new RangeError('The box holds no pixel of the image.');
  return clipped;
}

/** Sum of squared channel differences and the number of samples, inside `box` (the whole image when absent). */
export function squaredError(a: RgbImage, b: RgbImage, box?: PixelBox): { readonly sum: number; readonly count: number } {
  const r = region(a, b, box);
  let sum = 0;
  for (let y = r.y0; y < r.y1; y++) {
    for (let o = (y * a.width + r.x0) * 3, end = (y * a.width + r.x1) * 3; o < end; o++) {
      const d = a.data[o]! - b.data[o]!;
      sum += d * d;
    }
  }
  return { sum, count: (r.x1 - r.x0) * (r.y1 - r.y0) * 3 };
}

/** PSNR in dB for 8-bit images (peak 255); Infinity when they are equal. */
export function psnrFromSquaredError(sum: number, count: number): number {
  if (sum === 0) return Infinity;
  return 10 * Math.log10((255 * 255 * count) / sum);
}

/** PSNR in dB between two same-sized RGB images, inside `box` when given. */
export function psnr(a: RgbImage, b: RgbImage, box?: PixelBox): number {
  const { sum, count } = squaredError(a, b, box);
  return psnrFromSquaredError(sum, count);
}

/** The largest Euclidean RGB distance between corresponding pixels, inside `box` when given. */
export function maxColourDistance(a: RgbImage, b: RgbImage, box?: PixelBox): number {
  const r = region(a, b, box);
  let max = 0;
  for (let y = r.y0; y < r.y1; y++) {
    for (let o = (y * a.width + r.x0) * 3, end = (y * a.width + r.x1) * 3; o < end; o += 3) {
      const dr = a.data[o]! - b.data[o]!, dg = a.data[o + 1]! - b.data[o + 1]!, db = a.data[o + 2]! - b.data[o + 2]!;
      max = Math.max(max, dr * dr + dg * dg + db * db);
    }
  }
  return Math.sqrt(max);
}
