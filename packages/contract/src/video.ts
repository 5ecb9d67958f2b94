// Video limits and the multipart upload's arithmetic, shared by the API (which refuses what it can read before a
// job exists), the worker (which probes every video before fanning it out) and the client SDK (which splits a file
// into the parts the API presigned).

/** Largest video: 4 GiB, about 10 minutes of 4K H.264 at a camera's bitrate. @default 4 * 1024 ** 3 */
export const DEFAULT_VIDEO_MAX_BYTES = 4 * 1024 ** 3;
/** Longest video. @default 600 */
export const DEFAULT_VIDEO_MAX_DURATION_SECONDS = 600;
/** Largest frame: 4K UHD (3840×2160). @default 8_294_400 */
export const DEFAULT_VIDEO_MAX_PIXELS_PER_FRAME = 3840 * 2160;

/** Containers a video upload may declare: MP4, MOV, MKV and WebM. */
export const VIDEO_UPLOAD_CONTENT_TYPES = ['video/mp4', 'video/quicktime', 'video/x-matroska', 'video/webm'] as const;
export type VideoUploadContentType = (typeof VIDEO_UPLOAD_CONTENT_TYPES)[number];

/** S3's smallest part, except the last. */
export const S3_MIN_PART_BYTES = 5 * 1024 * 1024;
/** S3's most parts in one multipart upload. */
export const S3_MAX_PARTS = 10_000;
/**
 * Part size of a multipart upload when the file allows it: 512 parts for a 4 GiB video, few enough presigned URLs
 * for one API answer (about 300 KB of URLs), and small enough that a retried part costs seconds. @default 8 MiB
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

/** How many parts a `sizeBytes` upload has at `partBytes` (at least one: an empty file is one empty part). */
export function multipartPartCount(sizeBytes: number, partBytes: number): number {
  return Math.max(1, Math.ceil(sizeBytes / partBytes));
}

/** The byte range `[start, end)` of part `partNumber` (1-based). */
export function multipartPartRange(sizeBytes: number, partBytes: number, partNumber: number): { readonly start: number; readonly end: number } {
  const start = (partNumber - 1) * partBytes;
  return { start, end: Math.min(sizeBytes, start + partBytes) };
}
