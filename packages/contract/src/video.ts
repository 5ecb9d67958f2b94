// Limits of video inputs: the API refuses what it can read from the header, the worker what ffprobe tells it.

/** Largest video upload or download. @default 4 GiB */
export const DEFAULT_VIDEO_MAX_BYTES = 4 * 1024 ** 3;
/** Longest video. @default 600 (ten minutes) */
export const DEFAULT_VIDEO_MAX_DURATION_SECONDS = 600;
/** Largest frame (width × height, as stored): 4K UHD. @default 3840 × 2160 */
export const DEFAULT_VIDEO_MAX_PIXELS_PER_FRAME = 3840 * 2160;
