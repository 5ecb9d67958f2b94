// What POST /jobs reads of an upload before queueing it: its size from the header (image-size; the Lambda does not
// carry sharp), so that a job the worker would refuse from the same header is refused now, with the same code and
// message (the contract's planOutput). That covers every format the worker reads (the contract's READABLE_IMAGE_TYPES):
// a 20000×20000 GIF or TIFF or a 16000×16000 AVIF is a header bomb of a few hundred bytes. Anything this can't read is
// left to the worker, which decodes with libvips.
import { sniffImageType, type ImageGeometry, type ReadableImageFormat } from '@revive/contract';
import { imageSize } from 'image-size';

/** Bytes of an upload read for its header: a JPEG's size follows its EXIF and ICC segments (64 KiB each at most). @default 262_144 */
export const UPLOAD_HEADER_BYTES = 256 * 1024;

/**
 * The shared sniff's formats → the limits' input formats: GIF, TIFF and AVIF are formats Revive reads but does not
 * write (`other`).
 */
const FORMATS: Readonly<Record<ReadableImageFormat, ImageGeometry['format']>> = { jpeg: 'jpeg', png: 'png', webp: 'webp', gif: 'other', tiff: 'other', avif: 'other' };

/**
 * Whether the image may carry alpha, from the bytes themselves. An unknown answer is "may": alpha makes the worker
 * write PNG, which has no side limit that matters, so the API never refuses a job the worker would run.
 */
function mayHaveAlpha(bytes: Uint8Array, format: ImageGeometry['format']): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ascii = (at: number, length: number) => String.fromCharCode(...bytes.subarray(at, at + length));
  if (format === 'jpeg') return false;
  // GIF, TIFF, AVIF: alpha is not read here, so "may" (their output is PNG under ext auto either way).
  if (format === 'other') return true;
  if (format === 'png') {
    // Colour types 4 and 6 carry alpha; a tRNS chunk (before IDAT) gives the others alpha too (libvips reads it so).
    if (bytes.length < 26) return true;
    const colourType = bytes[25];
    if (colourType === 4 || colourType === 6) return true;
    for (let at = 8; at + 8 <= bytes.length; at += 12 + view.getUint32(at)) {
      const type = ascii(at + 4, 4);
      if (type === 'tRNS') return true;
      if (type === 'IDAT') return false;
    }
    return true;
  }
  // WebP: a VP8X header's alpha flag, or VP8L's alpha_is_used bit; plain VP8 (lossy) has none.
  if (bytes.length < 30) return true;
  const chunk = ascii(12, 4);
  if (chunk === 'VP8 ') return false;
  if (chunk === 'VP8X') return (bytes[20]! & 0x10) !== 0;
  if (chunk === 'VP8L') return ((view.getUint32(21, true) >>> 28) & 1) === 1;
  return true;
}

/**
 * Displayed size, format and alpha of a JPEG, PNG, WebP, GIF, TIFF or AVIF from its first bytes; undefined for
 * anything else or anything image-size cannot read (the worker then decides).
 */
export function uploadGeometry(bytes: Uint8Array): ImageGeometry | undefined {
  const sniffed = sniffImageType(bytes);
  if (sniffed === undefined) return undefined;
  // For a HEIF file with several images (a thumbnail, a grid's tiles) image-size gives the largest: the primary image
  // or the grid it makes. For a multi-page GIF or TIFF it gives the first page, which is all the worker decodes.
  let size: ReturnType<typeof imageSize>;
  try {
    size = imageSize(bytes);
  } catch {
    return undefined;
  }
  const format = FORMATS[sniffed];
  if (!(size.width > 0 && size.height > 0)) return undefined;
  // EXIF orientations 5 to 8 turn the photo by 90°: the worker's output is the turned size.
  const turned = (size.orientation ?? 1) >= 5;
  return {
    width: turned ? size.height : size.width,
    height: turned ? size.width : size.height,
    hasAlpha: mayHaveAlpha(bytes, format),
    format,
  };
}
