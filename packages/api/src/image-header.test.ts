// Issue 18: the API reads an upload's size from its first bytes (image-size) to refuse what the worker would refuse.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { readImageHeader } from '@revive/pipeline';
import { sharedDir, writeHeaderBomb, writeSolidImage } from '@revive/pipeline/testing';
import { describe, expect, it } from 'vitest';
import { UPLOAD_HEADER_BYTES, uploadGeometry } from './image-header.js';

const head = (bytes: Uint8Array) => bytes.subarray(0, UPLOAD_HEADER_BYTES);

describe('uploadGeometry', () => {
  it('reads size, format and alpha of JPEG, PNG and WebP from their first bytes', async () => {
    expect(uploadGeometry(head(await writeSolidImage(8000, 8000, 4, 'png')))).toEqual({ width: 8000, height: 8000, hasAlpha: true, format: 'png' });
    expect(uploadGeometry(head(await writeSolidImage(8000, 8000, 1, 'png')))).toEqual({ width: 8000, height: 8000, hasAlpha: false, format: 'png' });
    expect(uploadGeometry(head(await writeSolidImage(8192, 1024, 3, 'webp')))).toEqual({ width: 8192, height: 1024, hasAlpha: false, format: 'webp' });
    expect(uploadGeometry(head(await writeSolidImage(300, 200, 4, 'webp')))).toMatchObject({ hasAlpha: true, format: 'webp' });
    expect(uploadGeometry(head(await writeSolidImage(33000, 400, 3, 'jpeg')))).toEqual({ width: 33000, height: 400, hasAlpha: false, format: 'jpeg' });
    const photo = await readFile(path.join(sharedDir(), 'photos', 'whole', 'Blake_Lively.jpg'));
    expect(uploadGeometry(head(photo))).toMatchObject({ format: 'jpeg', hasAlpha: false });
  });

  it('reads GIF, TIFF and AVIF headers as the worker does, header bombs included', async () => {
    for (const format of ['gif', 'tiff', 'avif'] as const) {
      const small = await writeSolidImage(64, 48, 3, format);
      expect(uploadGeometry(head(small)), format).toMatchObject({ width: 64, height: 48, format: 'other' });
      const bomb = await writeHeaderBomb(format, 20_000, 16_000);
      expect(bomb.length, format).toBeLessThan(4096);
      const worker = await readImageHeader(bomb);
      expect({ width: worker.width, height: worker.height }, format).toEqual({ width: 20_000, height: 16_000 });
      // Alpha is not read from these: "may", which only ever lets a job through (PNG has no side limit that matters).
      expect(uploadGeometry(head(bomb)), format).toEqual({ width: 20_000, height: 16_000, hasAlpha: true, format: 'other' });
    }
  });

  it('leaves what it cannot read to the worker', () => {
    expect(uploadGeometry(new TextEncoder().encode('not really a jpeg'))).toBeUndefined();
    expect(uploadGeometry(new Uint8Array(0))).toBeUndefined();
    // A JPEG start with no frame header, an SVG: no size (the SVG is refused by create-job's format check).
    expect(uploadGeometry(new Uint8Array([0xff, 0xd8, 0xff, 0xfe, 0x00, 0x04, 0x68, 0x69]))).toBeUndefined();
    expect(uploadGeometry(new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg" width="20000" height="20000"/>'))).toBeUndefined();
  });
});
