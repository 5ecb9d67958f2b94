import { z } from 'zod';
import { jobErrorCodeSchema, jobIdSchema, jobOptionsSchema, jobStatusSchema, stageTimingsSchema, WEBHOOK_DELIVERY_STATUSES } from './job.js';

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
  'UNSUPPORTED_MEDIA_TYPE', // a body that is not application/json
  'PAYLOAD_TOO_LARGE', // a body over the API's limit
  'HEADERS_TOO_LARGE', // request line and headers over API Gateway's 10240 bytes
  'UNAUTHENTICATED', // no tenant: no JWT claims (or, in local mode, no x-revive-tenant header)
  'FORBIDDEN_UPLOAD_KEY', // an uploadKey outside the caller's tenant prefix
  'UPLOAD_NOT_FOUND', // an uploadKey with nothing uploaded there (not uploaded yet, or expired)
  'IMAGE_TOO_LARGE', // the upload's header says it has more pixels than the worker accepts, before or after upscale
  'OUTPUT_TOO_LARGE', // the output would be wider or taller than the requested ext can hold
  'FORBIDDEN_URL', // a source or webhook URL that is not http(s) or points at a private, loopback or metadata address
  'INVALID_IDEMPOTENCY_KEY', // an Idempotency-Key header outside 1..255 printable ASCII characters
  'IDEMPOTENCY_KEY_REUSED', // the same Idempotency-Key with a different body
  'INVALID_CURSOR', // a list cursor this API did not issue
  'JOB_NOT_FOUND', // no such job for this tenant (another tenant's job is also "not found")
  'JOB_NOT_CANCELABLE', // only QUEUED jobs can be canceled
  'ROUTE_NOT_FOUND', // no route for this method and path
  'MALFORMED_PATH', // a path whose percent-encoding does not decode (e.g. /jobs/%E0%A4%A)
  'ENQUEUE_FAILED', // the job could not be queued; retrying with the same Idempotency-Key is safe
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
});
export type Problem = z.infer<typeof problemSchema>;

/** Image types a presigned upload accepts. */
export const UPLOAD_CONTENT_TYPES = ['image/jpeg', 'image/png', 'image/webp'] as const;

/** `POST /uploads`. The body is optional: `{}` allows any image content type. */
export const createUploadRequestSchema = z.strictObject({
  /** Pin the upload's Content-Type; when absent any `image/*` type is allowed. */
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

const httpUrlSchema = z.url({ protocol: /^https?$/ }).max(2048);

/** Where the photo is: a key from `POST /uploads`, or an http(s) URL the worker fetches. */
export const createJobSourceSchema = z.union([
  z.strictObject({ uploadKey: z.string().min(1).max(1024) }),
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
  input: z.object({ source: createJobSourceSchema, options: jobOptionsSchema }),
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
  urls: z.object({ get: z.string(), cancel: z.string() }),
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
  limit: z.coerce.number().int().min(1).max(MAX_LIST_LIMIT).default(DEFAULT_LIST_LIMIT),
  cursor: z.string().min(1).max(2048).optional(),
});
export type ListJobsQuery = z.output<typeof listJobsQuerySchema>;
