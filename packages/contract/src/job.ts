import { z } from 'zod';
import { workEstimateSchema } from './work.js';
import { LEGACY_PENDING_PARTITION, TABLE_SCHEMA } from './storage.js';

/** Lifecycle of a job. QUEUED → RUNNING → SUCCEEDED | FAILED; a QUEUED job, or a QUEUED or RUNNING album or video, can be CANCELED. */
export const JOB_STATUSES = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELED'] as const;
export const jobStatusSchema = z.enum(JOB_STATUSES);
export type JobStatus = z.infer<typeof jobStatusSchema>;
/** Statuses a job never leaves. */
export const TERMINAL_STATUSES: readonly JobStatus[] = ['SUCCEEDED', 'FAILED', 'CANCELED'];

/**
 * Stable failure codes a client can branch on. The worker and the API both write them into job records.
 */
export const JOB_ERROR_CODES = [
  'INVALID_MESSAGE', // the queue message did not match the contract
  'INVALID_IMAGE', // not an image, truncated, or an unsupported format
  'IMAGE_TOO_LARGE', // more input or output pixels (input × upscale²), or more working memory, than the worker accepts (decompression bombs land here)
  'OUTPUT_TOO_LARGE', // the output is wider or taller than the requested ext can hold (WebP 16383, JPEG 65500 pixels per side)
  'SOURCE_TOO_LARGE', // more bytes than the worker downloads
  'SOURCE_NOT_FOUND', // the upload key does not exist, or the URL answered 404/410
  'SOURCE_UNREACHABLE', // the URL timed out, refused, or answered a 5xx
  'SOURCE_TOO_SLOW', // the URL's body came slower than the worker's minimum rate, stalled, or outran its deadline; not retried
  'FORBIDDEN_URL', // the URL (or a redirect, or its DNS answer) points at a private, loopback, link-local or metadata address
  'NO_FACE', // no face was found and the job required one
  'UNSUPPORTED_MODEL', // the job asked for a restorer or upsampler this worker does not serve
  'ENQUEUE_FAILED', // the API wrote the record but could not send the message
  'RETRIES_EXHAUSTED', // transient failures on every delivery; the message went to the dead-letter queue
  'JOB_TIMEOUT', // the job ran past its budget (REVIVE_JOB_TIMEOUT_SECONDS plus its faces' and megapixels' share); a retry would take as long
  'DEAD_LETTERED', // the message reached the dead-letter queue before any worker wrote an outcome; final, like every FAILED
  'ALBUM_PARTLY_FAILED', // an album whose photos did not all succeed; its ZIP holds those that did, each child carries its own error
  'SEGMENT_FAILED', // a video segment failed for good (or exhausted its retries); the message names the segment and its code
  'VIDEO_UNREADABLE', // ffprobe or ffmpeg could not read the video: truncated, undecodable, or not a video (a photo renamed .mp4)
  'VIDEO_NO_VIDEO_STREAM', // the file holds no video stream (audio only, subtitles only)
  'VIDEO_TOO_LONG', // longer than the worker's maximum duration, or more frames than it takes
  'VIDEO_TOO_LARGE', // more bytes (REVIVE_VIDEO_MAX_BYTES), or frames of more pixels, than the worker's maximum
  'VIDEO_ENCODE_FAILED', // ffmpeg could not encode or assemble the restored video
  'INTERNAL', // a bug; the reason says what happened
] as const;
export const jobErrorCodeSchema = z.enum(JOB_ERROR_CODES);
export type JobErrorCode = z.infer<typeof jobErrorCodeSchema>;

/**
 * What a job is. `photo` is one photo (the only kind before albums and videos); `album` and `video` are parents whose
 * work runs as children on the same queue: an album's children are photo jobs (visible, with their own ids), a video's
 * are `video-segment` jobs (internal: listed under the video, never created by a caller).
 */
export const JOB_KINDS = ['photo', 'video', 'album', 'video-segment'] as const;
export const jobKindSchema = z.enum(JOB_KINDS);
export type JobKind = z.infer<typeof jobKindSchema>;
/** The kinds whose record counts children and ends once they all have. */
export const PARENT_KINDS: readonly JobKind[] = ['video', 'album'];

/**
 * Output encodings. `auto` keeps the input's format. An image with transparency is always written as PNG; an alpha
 * channel that is opaque everywhere is dropped at decode, so such an image gets the format asked for.
 */
export const OUTPUT_EXTS = ['auto', 'jpg', 'png', 'webp'] as const;
export const outputExtSchema = z.enum(OUTPUT_EXTS);
export type OutputExt = z.infer<typeof outputExtSchema>;

/** @default 2 */
export const DEFAULT_UPSCALE = 2;
/** @default 1 (the restored face only) */
export const DEFAULT_BLEND = 1;
/** Upper bound on `upscale`: the output of a 16-megapixel photo at 4x is already 256 megapixels. */
export const MAX_UPSCALE = 4;
/**
 * Faces restored per photo when neither the job nor the worker says otherwise: the largest ones (by box area), the
 * rest are counted and left as the background has them. A group photo of 50 faces is ≈ 50 restorer runs. @default 50
 */
export const DEFAULT_MAX_FACES = 50;
/** Largest `maxFaces` a job may ask for; the worker's REVIVE_MAX_FACES caps it further. @default 1000 */
export const MAX_FACES_LIMIT = 1000;

/** Catalogue ids, or the name of a model the worker was configured with. */
export const modelIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'a model id: lower-case letters, digits, ".", "_" and "-"');

/** What a caller may ask of one restoration. Every field is optional; defaults are applied by `jobOptionsSchema`. */
export const jobOptionsSchema = z
  .strictObject({
    /** Output scale of the whole photo. @default 2 */
    upscale: z.number().int().min(1).max(MAX_UPSCALE).default(DEFAULT_UPSCALE),
    /** Restorer id; must be one the worker serves. @default the worker's configured restorer */
    restorer: modelIdSchema.optional(),
    /** Restore only the face closest to the centre. @default false */
    onlyCenterFace: z.boolean().default(false),
    /** 0 keeps the original face, 1 the restored one. @default 1 */
    blend: z.number().min(0).max(1).default(DEFAULT_BLEND),
    /** CodeFormer-style fidelity (0 = quality, 1 = fidelity); ignored by restorers without a weight input. @default 0.5 */
    fidelity: z.number().min(0).max(1).optional(),
    /** Output encoding. @default 'auto' */
    ext: outputExtSchema.default('auto'),
    /** Background super-resolution model id; when absent the background is upscaled with bicubic (Catmull-Rom) interpolation. */
    bgUpsampler: modelIdSchema.optional(),
    /** Fail the job with NO_FACE when no face is found, instead of returning the upscaled photo. @default false */
    requireFace: z.boolean().default(false),
    /**
     * Restore at most this many faces, the largest; the others stay as the background upscale has them and are
     * counted in the record (`facesDetected` − `facesRestored`). The worker's REVIVE_MAX_FACES caps it.
     * @default the worker's REVIVE_MAX_FACES (DEFAULT_MAX_FACES)
     */
    maxFaces: z.number().int().min(1).max(MAX_FACES_LIMIT).optional(),
  });
export type JobOptions = z.output<typeof jobOptionsSchema>;
export type JobOptionsInput = z.input<typeof jobOptionsSchema>;

/**
 * Tenant ids come from JWT claims; each is one segment of S3 keys and result URLs, so the alphabet is limited and
 * the dot segments `.` and `..` (which every HTTP client normalises away) are refused.
 */
export const tenantIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._@|:+-]+$/, 'a tenant id: letters, digits and . _ @ | : + -')
  .refine((id) => id !== '.' && id !== '..', 'a tenant id must not be . or .. (it is one path segment)');
export const jobIdSchema = z.string().regex(/^[0-9a-f-]{36}$/, 'a job id (UUID)');

/** Where the photo comes from: an object in Revive's bucket, or a public https URL. */
export const jobSourceSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('s3'), key: z.string().min(1).max(1024) }),
  z.strictObject({ kind: z.literal('url'), url: z.url({ protocol: /^https?$/ }).max(2048) }),
]);
export type JobSource = z.infer<typeof jobSourceSchema>;


/** A record's source: a photo's or video's (as its message has it), or an album's count of photos (its children carry theirs). */
export const recordSourceSchema = z.union([jobSourceSchema, z.strictObject({ kind: z.literal('album'), photos: z.number().int().positive() })]);
export type RecordSource = z.infer<typeof recordSourceSchema>;

/** The SQS message body. Version 1. */
export const jobMessageSchema = z.strictObject({
  version: z.literal(1),
  jobId: jobIdSchema,
  tenantId: tenantIdSchema,
  /** A photo's or a video's source; an album's fan-in message carries the album's (`kind: 'album'`). */
  source: recordSourceSchema,
  options: jobOptionsSchema,
  webhookUrl: z.url({ protocol: /^https?$/ }).max(2048).optional(),
  /** ISO-8601 time the API sent the message; the worker reports queue wait from it. */
  enqueuedAt: z.iso.datetime(),
  /** The work this message carries, for scaling on work (see work.ts); absent from older senders. */
  estimatedWork: workEstimateSchema.optional(),
  /** @default 'photo'. A `video` message probes and fans out; an `album` message (only the parent sweeper sends one) fans in. */
  kind: jobKindSchema.optional(),
  /** Set on an album's photo or a video's segment: the parent whose progress its end counts on. */
  parentJobId: jobIdSchema.optional(),
  /** A video segment's frames (video-segment messages only). */
  segment: z
    .strictObject({
      index: z.number().int().nonnegative(),
      startFrame: z.number().int().nonnegative(),
      frameCount: z.number().int().positive(),
      warmupFrames: z.number().int().nonnegative(),
    })
    .optional(),
  /** A video's encoder quality (video and video-segment messages). */
  videoCrf: z.number().int().min(0).max(51).optional(),
});
export type JobMessage = z.output<typeof jobMessageSchema>;

/** Milliseconds spent in each pipeline stage. */
export const stageTimingsSchema = z.record(z.string(), z.number().nonnegative());
export type StageTimings = z.infer<typeof stageTimingsSchema>;

/** One face the worker found, in the input photo's pixel coordinates. */
export const faceSchema = z.object({
  box: z.tuple([z.number(), z.number(), z.number(), z.number()]),
  score: z.number(),
  landmarks: z.array(z.tuple([z.number(), z.number()])).length(5),
});
export type FaceSummary = z.infer<typeof faceSchema>;

/**
 * Where a finished job's webhook stands. DELIVERING: not delivered yet, a retry is scheduled at `nextAttemptAt` (retries
 * are durable, on the webhook-retry queue, spread over about a day); DELIVERED: a 2xx; FAILED: retries ran out (or could
 * not be scheduled); REFUSED: a final answer (a 3xx, which is never followed, or a 4xx other than 408/429) or a
 * forbidden address. Every state but DELIVERING is final.
 */
export const WEBHOOK_DELIVERY_STATUSES = ['DELIVERING', 'DELIVERED', 'FAILED', 'REFUSED'] as const;
export const webhookDeliverySchema = z.object({
  status: z.enum(WEBHOOK_DELIVERY_STATUSES),
  /** POSTs made so far. */
  attempts: z.number().int().nonnegative(),
  /** The receiver's last HTTP status, when it answered. */
  httpStatus: z.number().int().optional(),
  /** Why the last attempt did not deliver. */
  error: z.string().optional(),
  /** Time of the last attempt. */
  at: z.iso.datetime(),
  /** While DELIVERING: when the next attempt is due. */
  nextAttemptAt: z.iso.datetime().optional(),
  /** Once final (DELIVERED, FAILED, REFUSED): when it became so. */
  completedAt: z.iso.datetime().optional(),
  /**
   * Internal, while DELIVERING: the attempt whose retry message is known to be sent. A redelivered message finds it
   * and does not send a second one (two messages for one attempt would double every later POST).
   */
  retryScheduledFor: z.number().int().positive().optional(),
});
export type WebhookDelivery = z.infer<typeof webhookDeliverySchema>;

/** The DynamoDB item for a job. Attribute names are part of the contract: the table's keys, GSI and TTL use them. */
export const jobRecordSchema = z.object({
  jobId: jobIdSchema,
  tenantId: tenantIdSchema,
  status: jobStatusSchema,
  source: recordSourceSchema,
  options: jobOptionsSchema,
  webhookUrl: z.string().optional(),
  /** @default 'photo' (records written before albums and videos have none). */
  kind: jobKindSchema.optional(),
  /** A child's parent (an album's photo, a video's segment). */
  parentJobId: jobIdSchema.optional(),
  /** A child's place among its parent's children (0-based): its id is childJobId(parent, index). */
  childIndex: z.number().int().nonnegative().optional(),
  /** A child whose end was counted on its parent: set in the same transaction as the parent's count, so it counts once. */
  countedOnParent: z.boolean().optional(),
  /** A parent's children: how many, and how many ended in each way (each child counted once, see countedOnParent). */
  childrenTotal: z.number().int().nonnegative().optional(),
  childrenSucceeded: z.number().int().nonnegative().optional(),
  childrenFailed: z.number().int().nonnegative().optional(),
  childrenCanceled: z.number().int().nonnegative().optional(),
  /** A video's frames, and those its finished segments restored. */
  framesTotal: z.number().int().nonnegative().optional(),
  framesDone: z.number().int().nonnegative().optional(),
  /** A video's encoder quality. */
  videoCrf: z.number().int().min(0).max(51).optional(),
  /** A video segment's frames. */
  segment: jobMessageSchema.shape.segment,
  /** Hash of the create request, so that an Idempotency-Key reused with another body is refused. */
  requestHash: z.string().optional(),
  idempotencyKey: z.string().optional(),
  /** Deliveries the worker has started. */
  attempts: z.number().int().nonnegative(),
  createdAt: z.iso.datetime(),
  startedAt: z.iso.datetime().optional(),
  finishedAt: z.iso.datetime().optional(),
  /** Lease of the worker running the job; another worker may take over once it has passed. */
  leaseOwner: z.string().optional(),
  leaseExpiresAt: z.number().int().optional(),
  timingsMs: stageTimingsSchema.optional(),
  /** Faces restored, the length of `faces` (kept under this name for existing readers; equals `facesRestored`). */
  facesFound: z.number().int().nonnegative().optional(),
  /** Every face the detector found, restored or not (over `maxFaces`, or not the centre face with `onlyCenterFace`). */
  facesDetected: z.number().int().nonnegative().optional(),
  /** Faces restored: at most the job's `maxFaces`, the largest first. */
  facesRestored: z.number().int().nonnegative().optional(),
  /** The restored faces. */
  faces: z.array(faceSchema).optional(),
  resultKey: z.string().optional(),
  resultWidth: z.number().int().optional(),
  resultHeight: z.number().int().optional(),
  errorCode: jobErrorCodeSchema.optional(),
  errorMessage: z.string().optional(),
  /** What became of the last webhook post for this job; absent until one was tried. */
  webhookDelivery: webhookDeliverySchema.optional(),
  /**
   * Present (with `enqueuePendingSince`) from the API's put until its message is known to be sent: the key of the
   * sparse `TABLE_SCHEMA.pendingIndex` that the enqueue sweeper reads.
   */
  enqueuePending: z
    .string()
    .refine(
      (v) =>
        v === LEGACY_PENDING_PARTITION ||
        (new RegExp(`^${TABLE_SCHEMA.pendingIndex.partitionPrefix}\\d+$`).test(v) &&
          Number(v.slice(TABLE_SCHEMA.pendingIndex.partitionPrefix.length)) < TABLE_SCHEMA.pendingIndex.shards),
      'an outbox shard key',
    )
    .optional(),
  /** Epoch milliseconds the record was put (or re-queued) before its message was sent. */
  enqueuePendingSince: z.number().int().nonnegative().optional(),
  /**
   * The work the job's message declares (see work.ts): a photo's from its header, an album's photo whose header was
   * read, a video segment's frames. Kept so that a re-sent message declares it too.
   */
  estimatedWork: workEstimateSchema.optional(),
  /** Epoch seconds; DynamoDB's TTL deletes the record after it. */
  expiresAt: z.number().int(),
});
export type JobRecord = z.infer<typeof jobRecordSchema>;

/**
 * What the `byTenant` index holds of a record: the table and index keys and `TABLE_SCHEMA.tenantIndex.projected`,
 * which is everything `GET /jobs` (jobResponseFromRecord) reads.
 */
export const tenantIndexItemSchema = jobRecordSchema.pick({
  jobId: true,
  tenantId: true,
  createdAt: true,
  status: true,
  source: true,
  options: true,
  webhookUrl: true,
  webhookDelivery: true,
  attempts: true,
  startedAt: true,
  finishedAt: true,
  timingsMs: true,
  facesFound: true,
  faces: true,
  resultKey: true,
  resultWidth: true,
  resultHeight: true,
  errorCode: true,
  errorMessage: true,
});
export type TenantIndexItem = z.infer<typeof tenantIndexItemSchema>;
