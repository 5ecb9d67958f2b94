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
