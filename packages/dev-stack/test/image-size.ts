/** Width and height from a PNG's IHDR or a JPEG's SOF marker (enough for tests; the API package has no sharp). */
export function imageSize(bytes: Uint8Array): { width: number; height: number; format: 'png' | 'jpeg' } {
  const b = Buffer.from(bytes);
  if (b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    return { width: b.readUInt32BE(16), height: b.readUInt32BE(20), format: 'png' };
  }
  if (b[0] === 0xff && b[1] === 0xd8) {
    let offset = 2;
    while (offset + 9 < b.length) {
      if (b[offset] !== 0xff) throw new Error(`bad JPEG marker at ${offset}`);
      const marker = b[offset + 1]!;
      const length = b.readUInt16BE(offset + 2);
      // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { height: b.readUInt16BE(offset + 5), width: b.readUInt16BE(offset + 7), format: 'jpeg' };
      }
      offset += 2 + length;
    }
    throw new Error('no SOF marker in JPEG');
  }
  throw new Error('not a PNG or JPEG');
}
