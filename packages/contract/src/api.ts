import { z } from 'zod';
import { isWellFormedText } from './text.js';
import { UPLOAD_CONTENT_TYPES } from './image-types.js';
import { S3_MAX_PARTS, VIDEO_CONTENT_TYPES } from './video.js';
import { jobErrorCodeSchema, jobIdSchema, jobOptionsSchema, jobStatusSchema, stageTimingsSchema, WEBHOOK_DELIVERY_STATUSES } from './job.js';
import { DEFAULT_ALBUM_MAX_PHOTOS } from './video.js';

/**
 * The HTTP API's bodies. Requests are strict (an unknown field is a 400, not silently dropped); responses follow
 * Replicate's prediction shape (`id`, `status`, `created_at`, `urls.get`/`urls.cancel`) so front ends know it.
 * The OpenAPI document (`GET /openapi.json`) is generated from these schemas.
 */

/** Stable codes in problem+json bodies; a client branches on `code`, never on `title` or `detail`. */
export const API_ERROR_CODES = [
  'MALFORMED_JSON', // the body is not JSON
  'VALIDATION_FAILED', // a field has the wrong type, is missing or out of range
  'UNKNOWN_FIELD', // the body has a field the API does not know
  'UNSUPPORTED_MEDIA_TYPE', // a body that is not application/json, or JSON in a charset other than UTF-8
  'UNSUPPORTED_CONTENT_ENCODING', // a body with a Content-Encoding (gzip, br…): the API reads plain JSON only
  'PAYLOAD_TOO_LARGE', // a body over the API's limit
  'HEADERS_TOO_LARGE', // request line and headers over API Gateway's 10240 bytes
  'UNAUTHENTICATED', // no tenant: no JWT claims (or, in local mode, no x-revive-tenant header)
  'FORBIDDEN_UPLOAD_KEY', // an uploadKey outside the caller's tenant prefix
  'UPLOAD_NOT_FOUND', // an uploadKey with nothing uploaded there (not uploaded yet, or expired)
  'INVALID_IMAGE', // the upload's first bytes are not an image the worker reads (JPEG, PNG, WebP, GIF, TIFF, AVIF)
  'IMAGE_TOO_LARGE', // the upload's header says it has more pixels than the worker accepts, before or after upscale
  'OUTPUT_TOO_LARGE', // the output would be wider or taller than the requested ext can hold
  'FORBIDDEN_URL', // a source or webhook URL that is not http(s) or points at a private, loopback or metadata address
  'UNSUPPORTED_MODEL', // options.restorer or options.bgUpsampler names a model the deployed worker does not serve
  'INVALID_IDEMPOTENCY_KEY', // an Idempotency-Key header outside 1..255 printable ASCII characters
  'IDEMPOTENCY_KEY_REUSED', // the same Idempotency-Key with a different body
  'INVALID_VIDEO', // POST /videos: the upload is not a video container the worker reads (MP4, MOV, MKV, WebM)
  'VIDEO_TOO_LARGE', // POST /videos: the upload has more bytes than the worker takes (REVIVE_VIDEO_MAX_BYTES)
  'INVALID_CURSOR', // a list cursor this API did not issue
  'INVALID_UPLOAD_PARTS', // a multipart completion naming a part that was not uploaded, a wrong ETag, or parts out of order; a re-sign asking for a part the upload does not have
  'JOB_NOT_FOUND', // no such job for this tenant (another tenant's job is also "not found")
  'JOB_NOT_CANCELABLE', // only QUEUED jobs (and QUEUED or RUNNING albums and videos) can be canceled
  'ROUTE_NOT_FOUND', // no route for this method and path
  'MALFORMED_PATH', // a path whose percent-encoding does not decode (e.g. /jobs/%E0%A4%A)
  'ENQUEUE_FAILED', // the job could not be queued; retrying with the same Idempotency-Key is safe
  'SERVICE_UNAVAILABLE', // a storage or queue call failed or ran out of time before anything was written; retry
  'JOB_STATE_UNKNOWN', // a write to the job may or may not have happened; retry with the same Idempotency-Key (or GET the job)
  'TIMEOUT', // the handler took longer than API Gateway's 30 s (503), or the request body stopped arriving (408)
  'INTERNAL', // a bug; the detail says what happened
] as const;
export const apiErrorCodeSchema = z.enum(API_ERROR_CODES);
export type ApiErrorCode = z.infer<typeof apiErrorCodeSchema>;

/** RFC 9457 problem details, with Revive's stable `code`. */
export const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().optional(),
  code: apiErrorCodeSchema,
  instance: z.string().optional(),
  /** Per-field validation errors (VALIDATION_FAILED, UNKNOWN_FIELD). */
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  /**
   * Whether the same request may succeed when sent again (for POST /jobs: with the same Idempotency-Key, which then
   * finds the job a first try may have created). Absent on answers that are not the API's own (the local server's).
   */
  retryable: z.boolean().optional(),
});
export type Problem = z.infer<typeof problemSchema>;

/** `POST /uploads`. The body is optional. */
export const createUploadRequestSchema = z.strictObject({
  /**
   * Pin the upload's Content-Type to one of UPLOAD_CONTENT_TYPES (the formats the worker reads). When absent the
   * presigned POST accepts any `image/*` type (an S3 POST policy cannot list several values), and POST /jobs refuses an
   * upload whose bytes are not one of those formats.
   */
  contentType: z.enum(UPLOAD_CONTENT_TYPES).optional(),
});
export type CreateUploadRequest = z.infer<typeof createUploadRequestSchema>;

/** A presigned POST: send `fields` first, then the file as the form field `file`, to `url`. */
export const createUploadResponseSchema = z.object({
  url: z.string(),
  fields: z.record(z.string(), z.string()),
  /** Pass it as `source.uploadKey` to `POST /jobs`. */
  uploadKey: z.string(),
  expires_at: z.iso.datetime(),
  max_bytes: z.number().int(),
});
export type CreateUploadResponse = z.infer<typeof createUploadResponseSchema>;

/**
 * Whitespace, control characters and the noncharacters U+FFFE and U+FFFF: never part of an upload key (the API makes
 * them: `uploads/<tenant>/<uuid>`) or of a URL (they are sent percent-encoded), and SQS refuses a message that holds
 * one, so such a string would fail the job's send after its record was written.
 */
// eslint-disable-next-line no-control-regex -- control characters are what this looks for
const SPACE_OR_CONTROL = /[\s\u0000-\u001f\u007f-\u009f\ufffe\uffff]/u;

/** A string that becomes an S3 key, a URL, a header or part of the queue message: checked once, here. */
function keySafe<S extends z.ZodString | z.ZodURL>(schema: S) {
  return schema
    .refine(isWellFormedText, 'must be well-formed Unicode text (no lone surrogate such as \\ud800)')
    .refine((value) => !SPACE_OR_CONTROL.test(value), 'must not contain spaces or control characters (percent-encode them in a URL)');
}

const httpUrlSchema = keySafe(z.url({ protocol: /^https?$/ }).max(2048));

/** The largest S3 object a multipart upload makes (S3's own limit, 5 TiB); REVIVE_VIDEO_MAX_BYTES (at most 1 TiB) is far below. */
const S3_MAX_OBJECT_BYTES = 5 * 1024 ** 4;

/** `POST /uploads/multipart`: a video to upload in parts. */
export const createMultipartUploadRequestSchema = z.strictObject({
  /** The video's container; the object is stored with it. */
  contentType: z.enum(VIDEO_CONTENT_TYPES),
  /** The file's exact size: the API presigns each part for its exact length, and refuses sizes over REVIVE_VIDEO_MAX_BYTES. */
  sizeBytes: z.number().int().min(1).max(S3_MAX_OBJECT_BYTES),
});
export type CreateMultipartUploadRequest = z.infer<typeof createMultipartUploadRequestSchema>;

/** One presigned UploadPart: PUT bytes `[(part_number − 1) × part_size_bytes, …)` of the file to `url`, and keep the ETag header. */
export const multipartUploadPartSchema = z.object({
  part_number: z.number().int().min(1).max(S3_MAX_PARTS),
  url: z.string(),
});

/** The presigned parts of a multipart upload; every part is `part_size_bytes` long except the last. */
export const createMultipartUploadResponseSchema = z.object({
  /** Pass it as `source.uploadKey` to `POST /videos` once the upload is completed. */
  upload_key: z.string(),
  upload_id: z.string(),
  part_size_bytes: z.number().int(),
  parts: z.array(multipartUploadPartSchema),
  /** When the part URLs stop working, by the API's clock: their signing second plus REVIVE_PRESIGN_TTL_SECONDS. */
  expires_at: z.iso.datetime(),
  /** Seconds of life the URLs had left when the answer left: compare it with the client's own clock, which may be off. */
  expires_in_seconds: z.number().int().min(0),
});
export type CreateMultipartUploadResponse = z.infer<typeof createMultipartUploadResponseSchema>;

/** `POST /uploads/multipart/complete`: every part, with the ETag its PUT answered. */
export const completeMultipartUploadRequestSchema = z.strictObject({
  uploadKey: keySafe(z.string().min(1).max(1024)),
  uploadId: keySafe(z.string().min(1).max(1024)),
  parts: z
    .array(z.strictObject({ partNumber: z.number().int().min(1).max(S3_MAX_PARTS), etag: z.string().min(1).max(256) }))
    .min(1)
    .max(S3_MAX_PARTS),
});
export type CompleteMultipartUploadRequest = z.infer<typeof completeMultipartUploadRequestSchema>;

/** The completed upload. */
export const completeMultipartUploadResponseSchema = z.object({ upload_key: z.string() });
export type CompleteMultipartUploadResponse = z.infer<typeof completeMultipartUploadResponseSchema>;

/** `POST /uploads/multipart/abort`: drops the parts uploaded so far. */
export const abortMultipartUploadRequestSchema = z.strictObject({
  uploadKey: keySafe(z.string().min(1).max(1024)),
  uploadId: keySafe(z.string().min(1).max(1024)),
});
export type AbortMultipartUploadRequest = z.infer<typeof abortMultipartUploadRequestSchema>;

/**
 * `POST /uploads/multipart/parts`: fresh presigned URLs for an open upload's parts, when the first ones expire before
 * a slow connection gets to them. `sizeBytes` is the size the upload was started with: each part is signed for its
 * exact length from it.
 */
export const signMultipartUploadPartsRequestSchema = z.strictObject({
  uploadKey: keySafe(z.string().min(1).max(1024)),
  uploadId: keySafe(z.string().min(1).max(1024)),
  sizeBytes: z.number().int().min(1).max(S3_MAX_OBJECT_BYTES),
  /** The parts to sign, each once; absent: every part of the upload. */
  partNumbers: z.array(z.number().int().min(1).max(S3_MAX_PARTS)).min(1).max(S3_MAX_PARTS).optional(),
});
export type SignMultipartUploadPartsRequest = z.infer<typeof signMultipartUploadPartsRequestSchema>;

/** The parts asked for, presigned again (ascending), with the part size they were cut at and the URLs' expiry. */
export const signMultipartUploadPartsResponseSchema = z.object({
  part_size_bytes: z.number().int(),
  parts: z.array(multipartUploadPartSchema),
  /** As `POST /uploads/multipart`'s: the new URLs' expiry, by the API's clock. */
  expires_at: z.iso.datetime(),
  /** As `POST /uploads/multipart`'s: their seconds left when the answer left. */
  expires_in_seconds: z.number().int().min(0),
});
export type SignMultipartUploadPartsResponse = z.infer<typeof signMultipartUploadPartsResponseSchema>;

/** Where the photo is: a key from `POST /uploads`, or an http(s) URL the worker fetches. */
export const createJobSourceSchema = z.union([
  z.strictObject({ uploadKey: keySafe(z.string().min(1).max(1024)) }),
  z.strictObject({ url: httpUrlSchema }),
]);
export type CreateJobSource = z.infer<typeof createJobSourceSchema>;

/** `POST /jobs` (with an optional `Idempotency-Key` header). */
export const createJobRequestSchema = z.strictObject({
  source: createJobSourceSchema,
  options: jobOptionsSchema.optional(),
  /** Receives the final job as a signed POST when it ends. */
  webhookUrl: httpUrlSchema.optional(),
});
export type CreateJobRequest = z.output<typeof createJobRequestSchema>;

/** `POST /videos` (with an optional `Idempotency-Key` header). */
export const createVideoRequestSchema = z.strictObject({
  source: createJobSourceSchema,
  /** The photo options, applied to every frame (`ext` is ignored: the result is an MP4). */
  options: jobOptionsSchema.optional(),
  video: z
    .strictObject({
      /** H.264 quality, 0 (lossless) .. 51; lower is better and larger. @default DEFAULT_VIDEO_CRF (18) */
      crf: z.number().int().min(0).max(51).optional(),
    })
    .optional(),
  webhookUrl: httpUrlSchema.optional(),
});
export type CreateVideoRequest = z.output<typeof createVideoRequestSchema>;

/** `POST /albums` (with an optional `Idempotency-Key` header): one photo job per source, with shared options. */
export const createAlbumRequestSchema = z.strictObject({
  sources: z.array(createJobSourceSchema).min(1).max(DEFAULT_ALBUM_MAX_PHOTOS),
  options: jobOptionsSchema.optional(),
  /** Receives the album once, when it ends (its children send none). */
  webhookUrl: httpUrlSchema.optional(),
});
export type CreateAlbumRequest = z.output<typeof createAlbumRequestSchema>;

/** One face the worker found, in the INPUT photo's pixels (not the upscaled output's): draw it over the original. */
export const jobFaceSchema = z.object({
  /** `[x1, y1, x2, y2]`: left, top, right and bottom edges. */
  box: z.tuple([z.number(), z.number(), z.number(), z.number()]).describe("[x1, y1, x2, y2] in the input photo's pixels"),
  /** The detector's confidence, 0..1. */
  score: z.number().describe("The detector's confidence, 0..1"),
  /** Eyes, nose tip and mouth corners as `[x, y]`, in the same pixels. */
  landmarks: z.array(z.tuple([z.number(), z.number()])).describe('Eyes, nose tip and mouth corners as [x, y], in the same pixels'),
});
export type JobFace = z.infer<typeof jobFaceSchema>;

/** A job as the API returns it. */
export const jobResponseSchema = z.object({
  id: jobIdSchema,
  status: jobStatusSchema,
  /** `photo`, `video` or `album`; a video's children (GET /jobs/{id}/children) are `video-segment`. */
  kind: z.enum(['photo', 'video', 'album', 'video-segment']),
  /** The album (or video) this job belongs to; null for a job created on its own. */
  parent_id: jobIdSchema.nullable(),
  /** An album's `source` is null: its photos are its children (`urls.children`). */
  input: z.object({ source: createJobSourceSchema.nullable(), options: jobOptionsSchema }),
  /**
   * An album's or a video's progress (null for a photo): `total` children (photos, or segments of the video), `done`
   * that succeeded, `failed` that failed or were canceled; a video's frames; the seconds left at the rate so far.
   */
  progress: z
    .object({
      total: z.number().int(),
      done: z.number().int(),
      failed: z.number().int(),
      frames_total: z.number().int().nullable(),
      frames_done: z.number().int().nullable(),
      eta_seconds: z.number().nullable(),
    })
    .nullable(),
  created_at: z.iso.datetime(),
  started_at: z.iso.datetime().nullable(),
  completed_at: z.iso.datetime().nullable(),
  /** Present once the job SUCCEEDED; `url` is presigned and expires at `expires_at`. */
  output: z
    .object({
      url: z.string(),
      expires_at: z.iso.datetime(),
      width: z.number().int().nullable(),
      height: z.number().int().nullable(),
    })
    .nullable(),
  error: z.object({ code: jobErrorCodeSchema, message: z.string() }).nullable(),
  /** Present once the job SUCCEEDED (`[]` when no face was found); null before, and for failed or canceled jobs. */
  faces: z.array(jobFaceSchema).nullable().describe('Faces found, in input pixels; present once SUCCEEDED ([] when none), else null'),
  metrics: z.object({
    faces_found: z.number().int().nullable(),
    /** Milliseconds per pipeline stage. */
    timings_ms: stageTimingsSchema.nullable(),
    /** From start to finish of the last attempt. */
    predict_time_ms: z.number().nullable(),
    attempts: z.number().int(),
  }),
  webhook: z.string().nullable(),
  /**
   * Where the webhook stands (WEBHOOK_DELIVERY_STATUSES: DELIVERING while retries are scheduled, then DELIVERED, FAILED
   * or REFUSED), POSTs made, the receiver's last HTTP status or the error, the last attempt's time, the next one's
   * (while DELIVERING) and when it became final; null before one was tried.
   */
  webhook_delivery: z
    .object({
      status: z.enum(WEBHOOK_DELIVERY_STATUSES),
      attempts: z.number().int(),
      http_status: z.number().int().nullable(),
      error: z.string().nullable(),
      at: z.iso.datetime(),
      next_attempt_at: z.iso.datetime().nullable().optional(),
      completed_at: z.iso.datetime().nullable().optional(),
    })
    .nullable()
    .optional(),
  /** `children` (albums and videos only): its photo jobs or segments, `GET /jobs/{id}/children`. */
  urls: z.object({ get: z.string(), cancel: z.string(), children: z.string().optional() }),
});
export type JobResponse = z.infer<typeof jobResponseSchema>;

/** `GET /jobs`: newest first; pass `next_cursor` back as `cursor` for the next page. */
export const jobListResponseSchema = z.object({
  jobs: z.array(jobResponseSchema),
  next_cursor: z.string().nullable(),
});
export type JobListResponse = z.infer<typeof jobListResponseSchema>;

/** @default 20 */
export const DEFAULT_LIST_LIMIT = 20;
/** Largest page `GET /jobs` returns. */
export const MAX_LIST_LIMIT = 100;

/** `GET /jobs` query string. */
export const listJobsQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(MAX_LIST_LIMIT).default(DEFAULT_LIST_LIMIT).describe('Jobs on a page'),
  cursor: z.string().min(1).max(2048).optional().describe("The previous page's next_cursor"),
});
export type ListJobsQuery = z.output<typeof listJobsQuerySchema>;
