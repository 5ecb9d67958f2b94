// The API's bodies, declared here rather than imported from @revive/contract: the contract is private and its types
// are zod inferences (`z.infer<typeof schema>`), so declarations that named them would need the contract and zod in
// every app that installs the client. types.test.ts checks, at compile time, that each one is exactly the contract's:
// a field the API adds or renames fails `pnpm typecheck` until it is declared here too.
import type { API_ERROR_CODES } from './errors.js';

/** Stable codes of the API's problem+json bodies; branch on them, never on `title` or `detail`. */
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

/** Lifecycle of a job: QUEUED → RUNNING → SUCCEEDED | FAILED; a QUEUED job, or a QUEUED or RUNNING album or video, can be CANCELED. */
export type JobStatus = 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELED';

/** Stable codes of a FAILED job's `error.code`. */
export type JobErrorCode =
  | 'INVALID_MESSAGE'
  | 'INVALID_IMAGE'
  | 'IMAGE_TOO_LARGE'
  | 'OUTPUT_TOO_LARGE'
  | 'SOURCE_TOO_LARGE'
  | 'SOURCE_NOT_FOUND'
  | 'SOURCE_UNREACHABLE'
  | 'SOURCE_TOO_SLOW'
  | 'FORBIDDEN_URL'
  | 'NO_FACE'
  | 'UNSUPPORTED_MODEL'
  | 'ENQUEUE_FAILED'
  | 'RETRIES_EXHAUSTED'
  | 'JOB_TIMEOUT'
  | 'DEAD_LETTERED'
  | 'INTERNAL'
  // Videos and albums.
  | 'ALBUM_PARTLY_FAILED'
  | 'SEGMENT_FAILED'
  | 'VIDEO_UNREADABLE'
  | 'VIDEO_NO_VIDEO_STREAM'
  | 'VIDEO_TOO_LONG'
  | 'VIDEO_TOO_LARGE'
  | 'VIDEO_ENCODE_FAILED';

/**
 * Output encodings: `auto` keeps the input's format. An image with transparency is always written as PNG; an alpha
 * channel that is opaque everywhere is dropped at decode, so such an image gets the format asked for.
 */
export type OutputExt = 'auto' | 'jpg' | 'png' | 'webp';

/** RFC 9457 problem details, with Revive's stable `code`. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string | undefined;
  code: ApiErrorCode;
  instance?: string | undefined;
  /** Per-field validation errors (VALIDATION_FAILED, UNKNOWN_FIELD). */
  errors?: { path: string; message: string }[] | undefined;
  /** Whether the same request may succeed when sent again (for POST /jobs: with the same Idempotency-Key). */
  retryable?: boolean | undefined;
}

/** `POST /uploads`: a presigned POST. Send `fields` first, then the file as the form field `file`, to `url`. */
export interface CreateUploadResponse {
  url: string;
  fields: Record<string, string>;
  /** Pass it as `source.uploadKey` to `POST /jobs`. */
  uploadKey: string;
  /** ISO-8601. */
  expires_at: string;
  max_bytes: number;
}

/** Where the photo is: a key from `POST /uploads`, or an http(s) URL the worker fetches. */
export type CreateJobSource = { uploadKey: string } | { url: string };

/** Containers a video upload may declare. */
export type VideoContentType = 'video/mp4' | 'video/quicktime' | 'video/x-matroska' | 'video/webm';

/** `POST /uploads/multipart`. */
export interface CreateMultipartUploadRequest {
  contentType: VideoContentType;
  /** The file's exact size in bytes. */
  sizeBytes: number;
}

/** `POST /uploads/multipart`: PUT each part to its `url` (every part is `part_size_bytes` long but the last), keep each ETag. */
export interface CreateMultipartUploadResponse {
  /** Pass it as `source.uploadKey` to `POST /videos` once completed. */
  upload_key: string;
  upload_id: string;
  part_size_bytes: number;
  parts: { part_number: number; url: string }[];
  /** ISO-8601: the part URLs' expiry, by the API's clock. */
  expires_at: string;
  /** The URLs' seconds left when the answer left: measure it with this machine's clock. */
  expires_in_seconds: number;
}

/** `POST /uploads/multipart/parts`: the parts of an open upload, presigned again. */
export interface SignMultipartUploadPartsRequest {
  uploadKey: string;
  uploadId: string;
  /** The size the upload was started with. */
  sizeBytes: number;
  /** The parts to sign; absent: every part. */
  partNumbers?: number[] | undefined;
}

/** `POST /uploads/multipart/parts`'s answer: fresh URLs for the asked parts, ascending. */
export interface SignMultipartUploadPartsResponse {
  part_size_bytes: number;
  parts: { part_number: number; url: string }[];
  /** ISO-8601: the new URLs' expiry, by the API's clock. */
  expires_at: string;
  /** The new URLs' seconds left when the answer left. */
  expires_in_seconds: number;
}

/** `POST /uploads/multipart/complete`. */
export interface CompleteMultipartUploadRequest {
  uploadKey: string;
  uploadId: string;
  parts: { partNumber: number; etag: string }[];
}

/** `POST /uploads/multipart/complete`'s answer. */
export interface CompleteMultipartUploadResponse {
  upload_key: string;
}

/** `POST /videos`: a video job (restored frame by frame, its audio and subtitles kept). */
export interface CreateVideoInput {
  source: CreateJobSource;
  options?: JobOptionsInput | undefined;
  /** Encoding of the restored video: `crf` is H.264's constant rate factor (lower is better and larger). */
  video?: { crf?: number | undefined } | undefined;
  webhookUrl?: string | undefined;
}

/** `POST /albums`: one child photo job per source (1..1000), with shared options. */
export interface CreateAlbumInput {
  sources: CreateJobSource[];
  options?: JobOptionsInput | undefined;
  webhookUrl?: string | undefined;
}

/**
 * What a job restores: one photo, a video, or an album (one child photo job per photo). `video-segment` is a unit of
 * a video's work, a child of the video job.
 */
export type JobKind = 'photo' | 'video' | 'album' | 'video-segment';

/**
 * A video's or an album's progress: units are segments for a video, photos for an album. The frame counts and the
 * estimate of the time left are null where unknown (an album has no frames).
 */
export interface JobProgress {
  total: number;
  done: number;
  failed: number;
  frames_total: number | null;
  frames_done: number | null;
  eta_seconds: number | null;
}

/** What a caller may ask of one restoration; every field is optional. */
export interface JobOptionsInput {
  /** Output scale of the whole photo, 1 to 4. @default 2 */
  upscale?: number | undefined;
  /** Restorer id; must be one the worker serves. @default the worker's configured restorer */
  restorer?: string | undefined;
  /** Restore only the face closest to the centre. @default false */
  onlyCenterFace?: boolean | undefined;
  /** 0 keeps the original face, 1 the restored one. @default 1 */
  blend?: number | undefined;
  /** CodeFormer-style fidelity (0 = quality, 1 = fidelity); ignored by restorers without a weight input. @default 0.5 */
  fidelity?: number | undefined;
  /** Output encoding. @default 'auto' */
  ext?: OutputExt | undefined;
  /** Background super-resolution model id; when absent the background is upscaled with bicubic (Catmull-Rom) interpolation. */
  bgUpsampler?: string | undefined;
  /** Fail the job with NO_FACE when no face is found, instead of returning the upscaled photo. @default false */
  requireFace?: boolean | undefined;
  /** Restore at most this many faces, the largest first (1–1000). @default the worker's REVIVE_MAX_FACES (50) */
  maxFaces?: number | undefined;
}

/** A job's options once the API applied the defaults. */
export interface JobOptions {
  upscale: number;
  restorer?: string | undefined;
  onlyCenterFace: boolean;
  blend: number;
  fidelity?: number | undefined;
  ext: OutputExt;
  bgUpsampler?: string | undefined;
  requireFace: boolean;
  maxFaces?: number | undefined;
}

/** One face the worker found, in the INPUT photo's pixels (not the upscaled output's): draw it over the original. */
export interface JobFace {
  /** `[x1, y1, x2, y2]`: left, top, right and bottom edges. */
  box: [number, number, number, number];
  /** The detector's confidence, 0..1. */
  score: number;
  /** Eyes, nose tip and mouth corners as `[x, y]`, in the same pixels. */
  landmarks: [number, number][];
}

/** Where a job's webhook stands: DELIVERING while retries are scheduled; the others are final. */
export type WebhookDeliveryStatus = 'DELIVERING' | 'DELIVERED' | 'FAILED' | 'REFUSED';

/** A job as the API returns it (and as its webhook's body carries it). Times are ISO-8601. */
export interface JobResponse {
  id: string;
  status: JobStatus;
  /** What was asked: an album has no `source` of its own (its children each have one). */
  input: { source: CreateJobSource | null; options: JobOptions };
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  /** Present once the job SUCCEEDED; `url` is presigned and expires at `expires_at`. */
  output: { url: string; expires_at: string; width: number | null; height: number | null } | null;
  error: { code: JobErrorCode; message: string } | null;
  /** Present once the job SUCCEEDED (`[]` when no face was found); null before, and for failed or canceled jobs. */
  faces: JobFace[] | null;
  metrics: {
    faces_found: number | null;
    /** Milliseconds per pipeline stage. */
    timings_ms: Record<string, number> | null;
    /** From start to finish of the last attempt. */
    predict_time_ms: number | null;
    attempts: number;
  };
  webhook: string | null;
  /**
   * Where the webhook stands: POSTs made, the receiver's last HTTP status or the error, the last attempt's time, the
   * next one's (while DELIVERING) and when it became final; null before one was tried.
   */
  webhook_delivery?:
    | {
        status: WebhookDeliveryStatus;
        attempts: number;
        http_status: number | null;
        error: string | null;
        at: string;
        next_attempt_at?: string | null | undefined;
        completed_at?: string | null | undefined;
      }
    | null
    | undefined;
  urls: {
    get: string;
    cancel: string;
    /** An album's or a video's children (`GET /jobs/{id}/children`). */
    children?: string | undefined;
  };
  kind: JobKind;
  /** The album (or video) a child job belongs to; null for any other job. */
  parent_id: string | null;
  /** A video's or an album's progress; null for a photo. */
  progress: JobProgress | null;
}

/** `GET /jobs`: newest first; pass `next_cursor` back as `cursor` for the next page. */
export interface JobListResponse {
  jobs: JobResponse[];
  next_cursor: string | null;
}
