// Issue 18: the API reads an upload's size from its first bytes (image-size) to refuse what the worker would refuse.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { sharedDir, writeSolidImage } from '@revive/pipeline/testing';
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

  it('leaves what it cannot read to the worker', () => {
    expect(uploadGeometry(new TextEncoder().encode('not really a jpeg'))).toBeUndefined();
    expect(uploadGeometry(new Uint8Array(0))).toBeUndefined();
  });
});
