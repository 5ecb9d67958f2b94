// Header bombs: a few hundred bytes whose header claims a huge image. Decoders (libvips, image-size) read the size
// from the header alone, so a size check must refuse them before any pixel is decoded.
import { writeSolidImage } from '../image.js';

/** Formats `writeHeaderBomb` makes: those Revive reads whose size sits in a fixed header field. */
export type HeaderBombFormat = 'gif' | 'tiff' | 'avif';

/**
 * A small real image (64×48, one colour) whose header is rewritten to claim `width`×`height`: the GIF's logical
 * screen and image descriptor, the TIFF's ImageWidth and ImageLength tags, the AVIF's `ispe` boxes. The pixel data
 * stays that of the small image, so decoding it would fail; reading its header gives the claimed size.
 */
export async function writeHeaderBomb(format: HeaderBombFormat, width: number, height: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(await writeSolidImage(64, 48, 3, format));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const find = (text: string, from: number) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf(text, from, 'latin1');
  if (format === 'gif') {
    if (width > 0xffff || height > 0xffff) throw new RangeError('a GIF side is at most 65535');
    view.setUint16(6, width, true);
    view.setUint16(8, height, true);
    // The first image descriptor (0x2c): past the header, the logical screen, the global colour table if any, and
    // the extensions (0x21, a label, then sub-blocks up to an empty one).
    const packed = bytes[10] ?? 0;
    let descriptor = 13 + ((packed & 0x80) !== 0 ? 3 * 2 ** ((packed & 7) + 1) : 0);
    while (bytes[descriptor] === 0x21) {
      descriptor += 2;
      while ((bytes[descriptor] ?? 0) !== 0) descriptor += 1 + bytes[descriptor]!;
      descriptor += 1;
    }
    if (bytes[descriptor] !== 0x2c) throw new Error('writeHeaderBomb: no image descriptor in the GIF');
    view.setUint16(descriptor + 5, width, true);
    view.setUint16(descriptor + 7, height, true);
  } else if (format === 'tiff') {
    const le = bytes[0] === 0x49;
    const ifd = view.getUint32(4, le);
    for (let i = 0, n = view.getUint16(ifd, le); i < n; i++) {
      const entry = ifd + 2 + i * 12;
      const tag = view.getUint16(entry, le);
      if (tag !== 256 && tag !== 257) continue;
      const value = tag === 256 ? width : height;
      // SHORT (3) or LONG (4), stored in the entry itself.
      if (view.getUint16(entry + 2, le) === 3) view.setUint16(entry + 8, value, le);
      else view.setUint32(entry + 8, value, le);
    }
  } else {
    let patched = 0;
    for (let at = find('ispe', 0); at >= 0; at = find('ispe', at + 4), patched++) {
      // Box type, then version and flags (4 bytes), then width and height (big-endian).
      view.setUint32(at + 8, width);
      view.setUint32(at + 12, height);
    }
    if (patched === 0) throw new Error('writeHeaderBomb: the AVIF has no ispe box');
  }
  return bytes;
}
