/**
 * Video limits and the first-bytes check the API and the worker share. The worker's probe (ffprobe) is the authority;
 * the API refuses early only what an upload's HEAD and first bytes already say.
 */

/** Largest video upload or download, in bytes (REVIVE_VIDEO_MAX_BYTES). @default 4 GiB */
export const DEFAULT_VIDEO_MAX_BYTES = 4 * 1024 ** 3;
/** Longest video the worker restores, in seconds (REVIVE_VIDEO_MAX_DURATION_SECONDS). @default 600 (10 minutes) */
export const DEFAULT_VIDEO_MAX_DURATION_SECONDS = 600;
/** Most pixels per frame (REVIVE_VIDEO_MAX_PIXELS_PER_FRAME). @default 3840 × 2160 (4K UHD) */
export const DEFAULT_VIDEO_MAX_PIXELS_PER_FRAME = 3840 * 2160;
/** Photos an album may hold. @default 1000 */
export const DEFAULT_ALBUM_MAX_PHOTOS = 1000;

/** Upload content types taken as videos (MP4, QuickTime, Matroska, WebM). */
export const VIDEO_CONTENT_TYPES = ['video/mp4', 'video/quicktime', 'video/x-matroska', 'video/webm'] as const;
export type VideoContentType = (typeof VIDEO_CONTENT_TYPES)[number];

/** Containers a video upload may be in, as its first bytes tell. */
export type VideoContainer = 'iso-bmff' | 'matroska';

/** Bytes the API reads of an upload to tell its container. */
export const VIDEO_HEADER_BYTES = 16;

/**
 * The container the first bytes of a file say it is: ISO BMFF (MP4, MOV: a `ftyp`, `moov`, `mdat`, `free`, `skip` or
 * `wide` box first) or EBML (Matroska, WebM); undefined for anything else (a photo named .mp4, a text file).
 */
export function sniffVideoContainer(head: Uint8Array): VideoContainer | undefined {
  if (head.length >= 4 && head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3) return 'matroska';
  if (head.length >= 8) {
    const box = String.fromCharCode(head[4]!, head[5]!, head[6]!, head[7]!);
    if (['ftyp', 'moov', 'mdat', 'free', 'skip', 'wide'].includes(box)) return 'iso-bmff';
  }
  return undefined;
}

/** S3's smallest part, except the last. */
export const S3_MIN_PART_BYTES = 5 * 1024 * 1024;
/** S3's most parts in one multipart upload. */
export const S3_MAX_PARTS = 10_000;
/**
 * Part size of a video's multipart upload (POST /uploads/multipart) when the file allows it: 512 parts for a 4 GiB
 * video, few enough presigned URLs for one API answer (about 300 KB of URLs), and small enough that a retried part
 * costs seconds. @default 8 MiB
 */
export const DEFAULT_MULTIPART_PART_BYTES = 8 * 1024 * 1024;

/**
 * The part size of a `sizeBytes` upload: `preferredPartBytes` (at least S3's 5 MiB) unless that would take more than
 * S3's 10,000 parts, then the smallest whole MiB that fits in 10,000.
 */
export function multipartPartBytes(sizeBytes: number, preferredPartBytes: number = DEFAULT_MULTIPART_PART_BYTES): number {
  const preferred = Math.max(S3_MIN_PART_BYTES, preferredPartBytes);
  if (Math.ceil(sizeBytes / preferred) <= S3_MAX_PARTS) return preferred;
  const mib = 1024 * 1024;
  return Math.ceil(sizeBytes / S3_MAX_PARTS / mib) * mib;
}

/** How many parts a `sizeBytes` upload has at `partBytes` (at least one). */
export function multipartPartCount(sizeBytes: number, partBytes: number): number {
  return Math.max(1, Math.ceil(sizeBytes / partBytes));
}

/** The byte range `[start, end)` of part `partNumber` (1-based). */
export function multipartPartRange(sizeBytes: number, partBytes: number, partNumber: number): { readonly start: number; readonly end: number } {
  const start = (partNumber - 1) * partBytes;
  return { start, end: Math.min(sizeBytes, start + partBytes) };
}
