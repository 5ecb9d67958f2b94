import { describe, expect, it } from 'vitest';
import { createUploadRequestSchema } from './api.js';
import { READABLE_IMAGE_TYPES, sniffImageType, UPLOAD_CONTENT_TYPES } from './image-types.js';

const bytes = (...parts: (string | number[])[]) => new Uint8Array(parts.flatMap((p) => (typeof p === 'string' ? [...p].map((c) => c.charCodeAt(0)) : p)));
/** An ISO-BMFF `ftyp` box: size, type, major brand, minor version, compatible brands. */
const ftyp = (major: string, ...compatible: string[]) => bytes([0, 0, 0, 16 + 4 * compatible.length], 'ftyp', major, [0, 0, 0, 0], ...compatible);

describe('the formats Revive reads', () => {
  it('sniffs each from its magic bytes', () => {
    expect(sniffImageType(bytes([0xff, 0xd8, 0xff, 0xe0]))).toBe('jpeg');
    expect(sniffImageType(bytes([0x89], 'PNG\r\n\x1a\n'))).toBe('png');
    expect(sniffImageType(bytes('RIFF', [1, 2, 3, 4], 'WEBPVP8 '))).toBe('webp');
    expect(sniffImageType(bytes('GIF89a'))).toBe('gif');
    expect(sniffImageType(bytes('GIF87a'))).toBe('gif');
    expect(sniffImageType(bytes('II*\0'))).toBe('tiff');
    expect(sniffImageType(bytes('MM\0*'))).toBe('tiff');
    expect(sniffImageType(bytes('II+\0'))).toBe('tiff');
    expect(sniffImageType(ftyp('avif', 'mif1', 'miaf'))).toBe('avif');
    // An AVIF may name the generic HEIF brand first and AVIF among the compatible ones.
    expect(sniffImageType(ftyp('mif1', 'avif', 'miaf'))).toBe('avif');
  });

  it('refuses what the worker cannot or will not decode: SVG, HEIC, BMP, text, nothing', () => {
    expect(sniffImageType(new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toBeUndefined();
    expect(sniffImageType(ftyp('heic', 'mif1', 'heic'))).toBeUndefined();
    expect(sniffImageType(ftyp('mif1', 'heic'))).toBeUndefined();
    expect(sniffImageType(bytes('BM', [0, 0, 0, 0]))).toBeUndefined();
    expect(sniffImageType(new TextEncoder().encode('not really a jpeg'))).toBeUndefined();
    expect(sniffImageType(new Uint8Array(0))).toBeUndefined();
  });

  it('offers the same list as upload content types, and POST /uploads takes exactly those', () => {
    expect([...UPLOAD_CONTENT_TYPES]).toEqual(Object.values(READABLE_IMAGE_TYPES));
    for (const contentType of UPLOAD_CONTENT_TYPES) expect(createUploadRequestSchema.safeParse({ contentType }).success, contentType).toBe(true);
    for (const contentType of ['image/svg+xml', 'image/heic', 'image/bmp', 'text/html']) {
      expect(createUploadRequestSchema.safeParse({ contentType }).success, contentType).toBe(false);
    }
  });
});
