// Issue 10 point 13: an 8001×8000 photo was refused with "(64.0 MP); the limit is 64.0 MP", which says nothing.
import { crc32, deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { WorkerError } from './errors.js';
import { decode, DEFAULT_MAX_PIXELS, tooLargeMessage } from './decode.js';

/** A PNG whose header says width×height (8-bit grey); only the header is read before the limit refuses it. */
function pngHeaderOnly(width: number, height: number): Uint8Array {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return new Uint8Array(Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(width + 1))), chunk('IEND', Buffer.alloc(0))]));
}

describe('the pixel limit message', () => {
  it('an 8001×8000 photo is refused with exact pixel counts, so the reason is visible', async () => {
    const error = await decode(pngHeaderOnly(8001, 8000)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WorkerError);
    expect(error).toMatchObject({ code: 'IMAGE_TOO_LARGE' });
    const message = (error as Error).message;
    expect(message).toContain('8001×8000');
    expect(message).toContain('64,008,000 pixels');
    expect(message).toContain('64,000,000 pixels');
  });

  it('says the limit in the same unit as the image', () => {
    expect(tooLargeMessage(8001, 8000, DEFAULT_MAX_PIXELS)).toBe(
      'The image is 8001×8000 = 64,008,000 pixels (64.0 MP); the limit is 64,000,000 pixels (64.0 MP).',
    );
  });

  it('an image at the limit is not refused for its size', async () => {
    // 8000×8000 passes the limit check; its made-up pixel data then fails decoding, with another code.
    const error = await decode(pngHeaderOnly(8000, 8000)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).not.toMatchObject({ code: 'IMAGE_TOO_LARGE' });
  });
});
