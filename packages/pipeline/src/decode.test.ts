import { crc32, deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { PermanentError } from './errors.js';
import { psnr } from './testing/metrics.js';
import { decode } from './decode.js';
import { writeImage } from './image.js';
import type { RgbImage } from './types.js';

/** A minimal PNG writer, for the bit depths and colour types sharp will not write for us. */
function png(width: number, height: number, colourType: 0 | 2 | 4 | 6, bitDepth: 8 | 16, pixels: Uint8Array): Uint8Array {
  const chunk = (type: string, body: Uint8Array): Buffer => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(body.length, 0);
    head.write(type, 4, 'ascii');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])), 0);
    return Buffer.concat([head, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([bitDepth, colourType, 0, 0, 0], 8);
  const rowBytes = pixels.length / height;
  const raw = Buffer.alloc((rowBytes + 1) * height);
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * rowBytes, (y + 1) * rowBytes), y * (rowBytes + 1) + 1);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** A smooth colour gradient, so lossy codecs keep it well. */
function gradient(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      data[o] = (x * 255) / (width - 1);
      data[o + 1] = (y * 255) / (height - 1);
      data[o + 2] = 128;
    }
  }
  return { width, height, data };
}

async function rejection(promise: Promise<unknown>): Promise<PermanentError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PermanentError);
  return error as PermanentError;
}

describe('decode', () => {
  it('reads JPEG, PNG and WebP as 8-bit RGB and reports the format', async () => {
    const image = gradient(64, 48);
    for (const format of ['jpeg', 'png', 'webp'] as const) {
      const decoded = await decode(await writeImage(image, undefined, format));
      expect(decoded.format).toBe(format);
      expect(decoded.isGrayscale).toBe(false);
      expect(decoded.alpha).toBeUndefined();
      expect([decoded.rgb.width, decoded.rgb.height]).toEqual([64, 48]);
      expect(psnr(decoded.rgb, image)).toBeGreaterThan(format === 'png' ? 99 : 35);
    }
  });

  it('applies the EXIF orientation', async () => {
    // A 40×20 image with a red left half, stored with orientation 6 (display rotated 90° clockwise).
    const data = new Uint8Array(40 * 20 * 3);
    for (let i = 0; i < 40 * 20; i++) data.set((i % 40) < 20 ? [255, 0, 0] : [0, 0, 255], i * 3);
    const bytes = await writeImage({ width: 40, height: 20, data }, undefined, 'png', { exifOrientation: 6 });
    const { rgb } = await decode(bytes);
    expect([rgb.width, rgb.height]).toEqual([20, 40]);
    // After a clockwise turn the stored left half is on top.
    expect(Array.from(rgb.data.subarray((5 * 20 + 10) * 3, (5 * 20 + 10) * 3 + 3))).toEqual([255, 0, 0]);
    expect(Array.from(rgb.data.subarray((35 * 20 + 10) * 3, (35 * 20 + 10) * 3 + 3))).toEqual([0, 0, 255]);
  });

  it('turns 8-bit and 16-bit grayscale into RGB and says it was grey', async () => {
    const grey8 = new Uint8Array(16 * 8).map((_, i) => i * 2);
    const a = await decode(png(16, 8, 0, 8, grey8));
    expect(a.isGrayscale).toBe(true);
    expect(a.rgb.data.length).toBe(16 * 8 * 3);
    expect(Array.from(a.rgb.data.subarray(3 * 37, 3 * 37 + 3))).toEqual([74, 74, 74]);

    const grey16 = new Uint8Array(16 * 8 * 2);
    for (let i = 0; i < 16 * 8; i++) grey16.set([i * 2, 0x80], i * 2); // big-endian: value ≈ (i*2)·256
    const b = await decode(png(16, 8, 0, 16, grey16));
    expect(b.isGrayscale).toBe(true);
    expect(Math.abs(b.rgb.data[3 * 37]! - 74)).toBeLessThanOrEqual(1);
  });

  it('turns 16-bit RGB into 8-bit', async () => {
    const rgb16 = new Uint8Array(4 * 4 * 6);
    for (let i = 0; i < 16; i++) rgb16.set([200, 0, 100, 0, 10, 0], i * 6);
    const { rgb, isGrayscale } = await decode(png(4, 4, 2, 16, rgb16));
    expect(isGrayscale).toBe(false);
    expect(Array.from(rgb.data.subarray(0, 3))).toEqual([200, 100, 10]);
  });

  it('keeps alpha as a separate plane (RGBA and grey+alpha)', async () => {
    const image = gradient(32, 16);
    const alpha = new Uint8Array(32 * 16).map((_, i) => (i % 32) * 8);
    const decoded = await decode(await writeImage(image, alpha, 'png'));
    expect(decoded.alpha).toEqual(alpha);
    expect(psnr(decoded.rgb, image)).toBe(Infinity);

    const greyAlpha = new Uint8Array(8 * 8 * 2).map((_, i) => (i % 2 === 0 ? 100 : 7));
    const ga = await decode(png(8, 8, 4, 8, greyAlpha));
    expect(ga.isGrayscale).toBe(true);
    expect(ga.alpha?.every((v) => v === 7)).toBe(true);
    expect(Array.from(ga.rgb.data.subarray(0, 3))).toEqual([100, 100, 100]);
  });

  it('drops an alpha channel that is opaque everywhere, and keeps one with a single pixel that is not', async () => {
    const image = gradient(32, 16);
    const opaque = await decode(await writeImage(image, new Uint8Array(32 * 16).fill(255), 'png'));
    expect(opaque.alpha).toBeUndefined();
    expect(psnr(opaque.rgb, image)).toBe(Infinity);

    const oneClear = new Uint8Array(32 * 16).fill(255);
    oneClear[32 * 16 - 1] = 254;
    expect((await decode(await writeImage(image, oneClear, 'png'))).alpha).toEqual(oneClear);
  });

  it('rejects a decompression bomb from its header, fast', async () => {
    // 30000×30000 declared in the header, a few hundred bytes of (too little) pixel data behind it.
    const bomb = png(30000, 30000, 0, 8, new Uint8Array(30000));
    expect(bomb.length).toBeLessThan(2000);
    const started = performance.now();
    const error = await rejection(decode(bomb));
    expect(error.code).toBe('IMAGE_TOO_LARGE');
    expect(error.message).toMatch(/30000×30000/);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('honours a custom pixel limit', async () => {
    const bytes = await writeImage(gradient(64, 48), undefined, 'png');
    expect((await rejection(decode(bytes, { maxPixels: 1000 }))).code).toBe('IMAGE_TOO_LARGE');
    await expect(decode(bytes, { maxPixels: 64 * 48 })).resolves.toBeDefined();
  });

  it('rejects a non-image and a truncated JPEG with INVALID_IMAGE', async () => {
    const text = new TextEncoder().encode('this is not an image, it is a text file\n'.repeat(20));
    const a = await rejection(decode(text));
    expect(a.code).toBe('INVALID_IMAGE');
    expect(a.message).toMatch(/Not a readable image/);

    const jpeg = await writeImage(gradient(256, 256), undefined, 'jpeg');
    const b = await rejection(decode(jpeg.subarray(0, Math.floor(jpeg.length / 2))));
    expect(b.code).toBe('INVALID_IMAGE');
  });
});
