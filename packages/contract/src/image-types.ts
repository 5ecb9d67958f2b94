// The image formats Revive reads: one list for the API (the content types POST /uploads accepts, the check of an
// upload's first bytes in POST /jobs) and the worker (the check of every source's first bytes before it decodes).
// It is what the worker's sharp decodes: its prebuilt libvips (the worker images use it, no global libvips) reads
// JPEG, PNG, WebP, GIF, TIFF and AVIF; its libheif carries an AV1 decoder only (no HEIC), BMP would need ImageMagick,
// which it lacks. SVG it would read, but Revive refuses it on purpose (scripts, external references, any size).

/** Content type of each format Revive reads, keyed by the format's name. */
export const READABLE_IMAGE_TYPES = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  tiff: 'image/tiff',
  avif: 'image/avif',
} as const;
/** A format Revive reads. */
export type ReadableImageFormat = keyof typeof READABLE_IMAGE_TYPES;

/** Image types a presigned upload accepts: READABLE_IMAGE_TYPES' content types, in the same order. */
export const UPLOAD_CONTENT_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/tiff', 'image/avif'] as const;
export type UploadContentType = (typeof UPLOAD_CONTENT_TYPES)[number];
// Fails to compile when the two lists name different types.
const _sameTypes: [Exclude<UploadContentType, (typeof READABLE_IMAGE_TYPES)[ReadableImageFormat]>, Exclude<(typeof READABLE_IMAGE_TYPES)[ReadableImageFormat], UploadContentType>] extends [never, never]
  ? true
  : never = true;
void _sameTypes;

/** The formats as people name them, for messages: "JPEG, PNG, WebP, GIF, TIFF or AVIF". */
export const READABLE_IMAGE_NAMES = 'JPEG, PNG, WebP, GIF, TIFF or AVIF';

/** ISO-BMFF brands of AVIF (still image and sequence). */
const AVIF_BRANDS = new Set(['avif', 'avis']);

/**
 * The format named by the first bytes, or undefined when they are not one Revive reads (SVG, HEIC, BMP, text…).
 * Only the magic bytes are read: whether the rest decodes is the worker's to find out.
 */
export function sniffImageType(bytes: Uint8Array): ReadableImageFormat | undefined {
  const at = (i: number) => bytes[i] ?? -1;
  const ascii = (start: number, text: string) => [...text].every((ch, i) => at(start + i) === ch.charCodeAt(0));
  if (at(0) === 0xff && at(1) === 0xd8 && at(2) === 0xff) return 'jpeg';
  if (at(0) === 0x89 && ascii(1, 'PNG\r\n\x1a\n')) return 'png';
  if (ascii(0, 'RIFF') && ascii(8, 'WEBP')) return 'webp';
  if (ascii(0, 'GIF87a') || ascii(0, 'GIF89a')) return 'gif';
  if (ascii(0, 'II*\0') || ascii(0, 'MM\0*') || ascii(0, 'II+\0') || ascii(0, 'MM\0+')) return 'tiff';
  if (ascii(4, 'ftyp')) {
    // The major brand, then the compatible ones: an AVIF may carry the generic `mif1` as its major brand.
    const boxEnd = Math.min(bytes.length, ((at(0) << 24) | (at(1) << 16) | (at(2) << 8) | at(3)) >>> 0);
    const brand = (offset: number) => String.fromCharCode(at(offset), at(offset + 1), at(offset + 2), at(offset + 3));
    if (AVIF_BRANDS.has(brand(8))) return 'avif';
    for (let offset = 16; offset + 4 <= boxEnd; offset += 4) if (AVIF_BRANDS.has(brand(offset))) return 'avif';
  }
  return undefined;
}
