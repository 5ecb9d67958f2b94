import { z } from 'zod';
import {
  abortMultipartUploadRequestSchema,
  completeMultipartUploadRequestSchema,
  completeMultipartUploadResponseSchema,
  createMultipartUploadRequestSchema,
  createMultipartUploadResponseSchema,
  signMultipartUploadPartsRequestSchema,
  signMultipartUploadPartsResponseSchema,
  createAlbumRequestSchema,
  createJobRequestSchema,
  createVideoRequestSchema,
  createUploadRequestSchema,
  createUploadResponseSchema,
  jobListResponseSchema,
  jobResponseSchema,
  listJobsQuerySchema,
  type ApiErrorCode,
} from './api.js';
import { jobIdSchema } from './job.js';

/**
 * The HTTP status of each problem+json code. A route's documented errors are typed against it, so the OpenAPI
 * document cannot put a code under a status the API never answers it with. INTERNAL is always a 500 (a bug); storage
 * that did not answer is SERVICE_UNAVAILABLE or JOB_STATE_UNKNOWN, 503 with Retry-After.
 */
export const API_ERROR_STATUSES = {
  MALFORMED_JSON: [400],
  VALIDATION_FAILED: [400],
  UNKNOWN_FIELD: [400],
  UNSUPPORTED_MEDIA_TYPE: [415],
  PAYLOAD_TOO_LARGE: [413],
  HEADERS_TOO_LARGE: [431],
  UNAUTHENTICATED: [401],
  FORBIDDEN_UPLOAD_KEY: [403],
  UPLOAD_NOT_FOUND: [422],
  IMAGE_TOO_LARGE: [422],
  OUTPUT_TOO_LARGE: [422],
  FORBIDDEN_URL: [400],
  INVALID_IDEMPOTENCY_KEY: [400],
  IDEMPOTENCY_KEY_REUSED: [422],
  INVALID_CURSOR: [400],
  INVALID_UPLOAD_PARTS: [422],
  INVALID_VIDEO: [422],
  VIDEO_TOO_LARGE: [422],
  JOB_NOT_FOUND: [404],
  JOB_NOT_CANCELABLE: [409],
  ROUTE_NOT_FOUND: [404],
  MALFORMED_PATH: [400],
  INVALID_IMAGE: [422],
  UNSUPPORTED_MODEL: [422],
  UNSUPPORTED_CONTENT_ENCODING: [415],
  ENQUEUE_FAILED: [503],
  SERVICE_UNAVAILABLE: [503],
  JOB_STATE_UNKNOWN: [503],
  TIMEOUT: [503],
  INTERNAL: [500],
} as const satisfies Record<ApiErrorCode, readonly number[]>;

/** A status some problem+json code is answered with. */
export type ApiErrorStatus = (typeof API_ERROR_STATUSES)[ApiErrorCode][number];

/** One error a route answers with: a problem+json body whose `code` is `code`, with the HTTP status `status`. */
export type ApiRouteError = {
  readonly [C in ApiErrorCode]: {
    readonly code: C;
    readonly status: (typeof API_ERROR_STATUSES)[C][number];
    /** When the route answers it, for the document's reader. */
    readonly when: string;
    /** Response headers that come with it, by name: what each says. */
    readonly headers?: Readonly<Record<string, string>>;
  };
}[ApiErrorCode];

/** A JSON body and the name its schema has under the OpenAPI document's `components.schemas`. */
export interface ApiBody {
  readonly name: string;
  readonly schema: z.ZodType;
}

/** A successful answer of a route. */
export interface ApiRouteResponse {
  readonly status: 200 | 201 | 202 | 204;
  readonly description: string;
  /** The JSON body; absent where it has no contract schema (the OpenAPI document itself). */
  readonly body?: ApiBody;
  /** Response headers, by name: what each says. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** One route of the job API: what the CDK app, the local server and the OpenAPI document need to know of it. */
export interface ApiRoute {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** API Gateway path, with `{id}` parameters. */
  readonly path: string;
  /** Name of the file in packages/api/src/handlers (and of the Lambda function). */
  readonly handler:
    | 'create-upload'
    | 'create-multipart-upload'
    | 'complete-multipart-upload'
    | 'abort-multipart-upload'
    | 'sign-multipart-upload-parts'
    | 'create-job'
    | 'create-video'
    | 'create-album'
    | 'get-job'
    | 'list-jobs'
    | 'list-children'
    | 'cancel-job'
    | 'openapi';
  /** Public routes have no JWT authorizer. */
  readonly public?: boolean;
  /** The OpenAPI operationId (what generated clients name the call). */
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  /** One property per `{name}` in `path`. */
  readonly pathParameters?: z.ZodObject;
  /** The query string, as the handler validates it. */
  readonly query?: z.ZodObject;
  /** Request headers the handler reads, by their HTTP name. */
  readonly headers?: z.ZodObject;
  /** The JSON request body, as the handler validates it; `required: false` when an empty body is accepted. */
  readonly requestBody?: ApiBody & { readonly required: boolean };
  readonly responses: readonly [ApiRouteResponse, ...ApiRouteResponse[]];
  /** Every problem+json answer of the route's handler. */
  readonly errors: readonly ApiRouteError[];
}

/**
 * `Idempotency-Key`: printable ASCII without spaces; 255 characters hold UUIDs and the longest keys clients commonly
 * send.
 */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

const jobPath = z.object({ id: jobIdSchema.describe("The job's id, from POST /jobs") });
const job: ApiBody = { name: 'Job', schema: jobResponseSchema };

const UNAUTHENTICATED: ApiRouteError = {
  code: 'UNAUTHENTICATED',
  status: 401,
  when: 'the JWT has no usable tenant claim (locally: no x-revive-tenant header)',
};
const BUG: ApiRouteError = { code: 'INTERNAL', status: 500, when: 'a bug; `detail` says what happened' };
const RETRY_AFTER = { 'Retry-After': 'Seconds to wait before retrying' } as const;
/** A read or a write that changed nothing could not be made: retrying is safe. */
const STORAGE_DOWN: ApiRouteError = {
  code: 'SERVICE_UNAVAILABLE',
  status: 503,
  when: 'the job table or the bucket did not answer in time, and nothing was changed; retry later',
  headers: RETRY_AFTER,
};
/** A write whose outcome is unknown. */
const STATE_UNKNOWN: ApiRouteError = {
  code: 'JOB_STATE_UNKNOWN',
  status: 503,
  when: 'a write got no clear answer and may or may not have been applied: retry with the same Idempotency-Key (or GET `instance` to see)',
  headers: RETRY_AFTER,
};
/** What `parseJsonBody` answers for a body it cannot take. */
const JSON_BODY_ERRORS: readonly ApiRouteError[] = [
  { code: 'MALFORMED_JSON', status: 400, when: 'the body is not JSON, or not UTF-8' },
  { code: 'UNSUPPORTED_CONTENT_ENCODING', status: 415, when: 'a body with a Content-Encoding (gzip, …): send plain JSON' },
  { code: 'VALIDATION_FAILED', status: 400, when: 'a field has the wrong type, is missing or out of range; `errors` lists each' },
  { code: 'UNKNOWN_FIELD', status: 400, when: 'the body has a field the API does not know' },
  { code: 'UNSUPPORTED_MEDIA_TYPE', status: 415, when: 'a body whose Content-Type is not application/json, or whose charset is not UTF-8' },
  { code: 'PAYLOAD_TOO_LARGE', status: 413, when: 'a body larger than the API parses' },
];
const JOB_NOT_FOUND: ApiRouteError = {
  code: 'JOB_NOT_FOUND',
  status: 404,
  when: "no job with this id for the caller's tenant (another tenant's job, or an id that is not a job id, is not found either)",
};

const IDEMPOTENCY_HEADER = z.object({
  'Idempotency-Key': z
    .string()
    .regex(IDEMPOTENCY_KEY_PATTERN)
    .optional()
    .describe('Makes retries safe: the same key and body give the same job (for the job table\'s retention)'),
});
const CREATED_JOB: ApiRouteResponse = {
  status: 202,
  description: 'The job: new, or the same job for a repeated Idempotency-Key.',
  body: job,
  headers: { Location: "The job's URL", 'Idempotent-Replayed': '`true` when an earlier request with this Idempotency-Key created the job' },
};
/** What every create answers besides its own refusals. */
const CREATE_ERRORS: readonly ApiRouteError[] = [
  ...JSON_BODY_ERRORS,
  { code: 'FORBIDDEN_URL', status: 400, when: 'a source URL or webhookUrl is not http(s), or points at a private, loopback or metadata address' },
  { code: 'INVALID_IDEMPOTENCY_KEY', status: 400, when: 'an Idempotency-Key outside 1..255 printable ASCII characters' },
  UNAUTHENTICATED,
  { code: 'FORBIDDEN_UPLOAD_KEY', status: 403, when: "an uploadKey is not under the caller's tenant" },
  { code: 'UPLOAD_NOT_FOUND', status: 422, when: 'nothing was uploaded at an uploadKey, or the upload expired' },
  { code: 'IDEMPOTENCY_KEY_REUSED', status: 422, when: 'the Idempotency-Key was used with a different body' },
  { code: 'UNSUPPORTED_MODEL', status: 422, when: 'options name a restorer or background upsampler the deployed worker does not have' },
  { code: 'ENQUEUE_FAILED', status: 503, when: 'the job could not be queued (it is FAILED); retry with the same Idempotency-Key', headers: RETRY_AFTER },
  STORAGE_DOWN,
  STATE_UNKNOWN,
  BUG,
];

/**
 * The API's routes. One table for the CDK app (HTTP API routes), the local server (its router) and the OpenAPI
 * document (packages/api/src/openapi.ts builds it from this table alone), so the deployed API, the local one and their
 * description cannot drift apart.
 */
export const API_ROUTES: readonly ApiRoute[] = [
  {
    method: 'POST',
    path: '/uploads',
    handler: 'create-upload',
    operationId: 'createUpload',
    summary: 'Get a presigned POST to upload a photo',
    description:
      'Send `fields` first, then the photo as the form field `file`, to `url`, before `expires_at`; the storage refuses files over `max_bytes` and types other than images. Pass `uploadKey` to POST /jobs.',
    requestBody: { name: 'CreateUploadRequest', schema: createUploadRequestSchema, required: false },
    responses: [{ status: 201, description: 'Form fields and URL for the upload.', body: { name: 'CreateUploadResponse', schema: createUploadResponseSchema } }],
    errors: [...JSON_BODY_ERRORS, UNAUTHENTICATED, BUG],
  },
  {
    method: 'POST',
    path: '/uploads/multipart',
    handler: 'create-multipart-upload',
    operationId: 'createMultipartUpload',
    summary: 'Start a multipart upload of a video, with a presigned URL per part',
    description:
      'PUT each part (bytes `(part_number − 1) × part_size_bytes` up to the next part or the end of the file) to its `url` before `expires_at`, in any order and in parallel; keep the `ETag` header each PUT answers, then POST /uploads/multipart/complete. Each URL is signed for its part\'s exact length. Photos use POST /uploads.',
    requestBody: { name: 'CreateMultipartUploadRequest', schema: createMultipartUploadRequestSchema, required: true },
    responses: [{ status: 201, description: 'The upload and its presigned parts.', body: { name: 'CreateMultipartUploadResponse', schema: createMultipartUploadResponseSchema } }],
    errors: [
      ...JSON_BODY_ERRORS,
      UNAUTHENTICATED,
      { code: 'VIDEO_TOO_LARGE', status: 422, when: '`sizeBytes` is over the video size limit (REVIVE_VIDEO_MAX_BYTES, 4 GiB by default)' },
      { code: 'SERVICE_UNAVAILABLE', status: 503, when: 'the bucket did not answer in time; retry later', headers: RETRY_AFTER },
      BUG,
    ],
  },
  {
    method: 'POST',
    path: '/uploads/multipart/parts',
    handler: 'sign-multipart-upload-parts',
    operationId: 'signMultipartUploadParts',
    summary: "Presign an open multipart upload's parts again",
    description:
      "Fresh URLs for the parts named in `partNumbers` (every part when absent), valid until the new `expires_at` (`expires_in_seconds` from the answer, by the caller's own clock): ask before a part would start after the first URLs' expiry, or when a part's PUT is refused as expired: 403 with S3 code `AccessDenied` and message \"Request has expired\", or 400 `ExpiredToken` once the credentials that signed it expired, which can be before `expires_at`. Pass the `sizeBytes` the upload was started with; each URL is signed for its part's exact length, as at creation. Parts already uploaded stay uploaded.",
    requestBody: { name: 'SignMultipartUploadPartsRequest', schema: signMultipartUploadPartsRequestSchema, required: true },
    responses: [{ status: 200, description: 'The parts, presigned again.', body: { name: 'SignMultipartUploadPartsResponse', schema: signMultipartUploadPartsResponseSchema } }],
    errors: [
      ...JSON_BODY_ERRORS,
      UNAUTHENTICATED,
      { code: 'FORBIDDEN_UPLOAD_KEY', status: 403, when: "uploadKey is not under the caller's tenant" },
      { code: 'VIDEO_TOO_LARGE', status: 422, when: '`sizeBytes` is over the video size limit (REVIVE_VIDEO_MAX_BYTES)' },
      { code: 'INVALID_UPLOAD_PARTS', status: 422, when: 'a number in `partNumbers` is past the last part of a `sizeBytes` upload' },
      { code: 'UPLOAD_NOT_FOUND', status: 422, when: 'no such open multipart upload: a wrong uploadId, or one completed, aborted or expired' },
      { code: 'SERVICE_UNAVAILABLE', status: 503, when: 'the bucket did not answer in time; retry later', headers: RETRY_AFTER },
      BUG,
    ],
  },
  {
    method: 'POST',
    path: '/uploads/multipart/complete',
    handler: 'complete-multipart-upload',
    operationId: 'completeMultipartUpload',
    summary: 'Complete a multipart upload',
    description: 'Name every part with the ETag its PUT answered, in ascending order. The upload key then holds the video: pass it to POST /videos.',
    requestBody: { name: 'CompleteMultipartUploadRequest', schema: completeMultipartUploadRequestSchema, required: true },
    responses: [{ status: 200, description: 'The completed upload.', body: { name: 'CompleteMultipartUploadResponse', schema: completeMultipartUploadResponseSchema } }],
    errors: [
      ...JSON_BODY_ERRORS,
      UNAUTHENTICATED,
      { code: 'FORBIDDEN_UPLOAD_KEY', status: 403, when: "uploadKey is not under the caller's tenant" },
      { code: 'UPLOAD_NOT_FOUND', status: 422, when: 'no such multipart upload: a wrong uploadId, or one aborted or expired (completing again with the same parts after a lost answer is 200)' },
      { code: 'INVALID_UPLOAD_PARTS', status: 422, when: 'a part was not uploaded, an ETag does not match its part, the parts are not in ascending order, or a part other than the last is under 5 MiB' },
      { code: 'VIDEO_TOO_LARGE', status: 422, when: 'the completed object is over the video size limit (it is deleted)' },
      { code: 'SERVICE_UNAVAILABLE', status: 503, when: 'the bucket did not answer in time; retry with the same body', headers: RETRY_AFTER },
      BUG,
    ],
  },
  {
    method: 'POST',
    path: '/uploads/multipart/abort',
    handler: 'abort-multipart-upload',
    operationId: 'abortMultipartUpload',
    summary: 'Abort a multipart upload',
    description: 'Drops the parts uploaded so far. Uploads never completed nor aborted are dropped by the bucket after a day anyway.',
    requestBody: { name: 'AbortMultipartUploadRequest', schema: abortMultipartUploadRequestSchema, required: true },
    responses: [{ status: 204, description: 'The upload is aborted (or was already gone).' }],
    errors: [
      ...JSON_BODY_ERRORS,
      UNAUTHENTICATED,
      { code: 'FORBIDDEN_UPLOAD_KEY', status: 403, when: "uploadKey is not under the caller's tenant" },
      { code: 'SERVICE_UNAVAILABLE', status: 503, when: 'the bucket did not answer in time; retry with the same body', headers: RETRY_AFTER },
      BUG,
    ],
  },
  {
    method: 'POST',
    path: '/jobs',
    handler: 'create-job',
    operationId: 'createJob',
    summary: 'Create a restoration job',
    description:
      'The job is QUEUED and runs once; poll GET /jobs/{id} or pass `webhookUrl`. With an Idempotency-Key, repeating the same request returns the same job instead of a second one.',
    headers: z.object({
      'Idempotency-Key': z
        .string()
        .regex(IDEMPOTENCY_KEY_PATTERN)
        .optional()
        .describe('Makes retries safe: the same key and body give the same job (for the job table\'s retention)'),
    }),
    requestBody: { name: 'CreateJobRequest', schema: createJobRequestSchema, required: true },
    responses: [
      {
        status: 202,
        description: 'The job: new, or the same job for a repeated Idempotency-Key.',
        body: job,
        headers: { Location: "The job's URL", 'Idempotent-Replayed': '`true` when an earlier request with this Idempotency-Key created the job' },
      },
    ],
    errors: [
      ...JSON_BODY_ERRORS,
      { code: 'FORBIDDEN_URL', status: 400, when: 'source.url or webhookUrl is not http(s), or points at a private, loopback or metadata address' },
      { code: 'INVALID_IDEMPOTENCY_KEY', status: 400, when: 'an Idempotency-Key outside 1..255 printable ASCII characters' },
      UNAUTHENTICATED,
      { code: 'FORBIDDEN_UPLOAD_KEY', status: 403, when: "source.uploadKey is not under the caller's tenant" },
      { code: 'UPLOAD_NOT_FOUND', status: 422, when: 'nothing was uploaded at source.uploadKey, or the upload expired' },
      { code: 'IMAGE_TOO_LARGE', status: 422, when: "the upload's header says it has more input or output pixels than the worker accepts" },
      { code: 'OUTPUT_TOO_LARGE', status: 422, when: 'the output would be wider or taller than the requested `ext` can hold' },
      { code: 'IDEMPOTENCY_KEY_REUSED', status: 422, when: 'the Idempotency-Key was used with a different body' },
      { code: 'INVALID_IMAGE', status: 422, when: 'the upload is not an image the worker reads (JPEG, PNG, WebP, GIF, TIFF, AVIF)' },
      { code: 'UNSUPPORTED_MODEL', status: 422, when: 'options name a restorer or background upsampler the deployed worker does not have' },
      { code: 'ENQUEUE_FAILED', status: 503, when: 'the job could not be queued (it is FAILED); retry with the same Idempotency-Key', headers: RETRY_AFTER },
      STORAGE_DOWN,
      STATE_UNKNOWN,
      BUG,
    ],
  },
  {
    method: 'POST',
    path: '/videos',
    handler: 'create-video',
    operationId: 'createVideo',
    summary: 'Create a video restoration job',
    description:
      'The video (MP4, MOV, MKV or WebM; upload it with POST /uploads/multipart) is probed, split into segments that the workers restore side by side, and reassembled with its audio and subtitles untouched. `progress` counts segments and frames; `output.url` is the restored video once SUCCEEDED: an MP4 for MP4 and MOV input, Matroska (.mkv) for MKV and WebM input. A video the worker cannot take (too long, too large, no video stream, undecodable) ends FAILED with a VIDEO_* code.',
    headers: IDEMPOTENCY_HEADER,
    requestBody: { name: 'CreateVideoRequest', schema: createVideoRequestSchema, required: true },
    responses: [CREATED_JOB],
    errors: [
      ...CREATE_ERRORS,
      { code: 'INVALID_VIDEO', status: 422, when: 'the upload is not a video container the worker reads (MP4, MOV, MKV, WebM): a photo, a text file' },
      { code: 'VIDEO_TOO_LARGE', status: 422, when: 'the upload has more bytes than the worker takes (REVIVE_VIDEO_MAX_BYTES)' },
    ],
  },
  {
    method: 'POST',
    path: '/albums',
    handler: 'create-album',
    operationId: 'createAlbum',
    summary: 'Create an album: one photo job per source, with shared options',
    description:
      'Each photo is an ordinary job (its own id, `parent_id` set, listed by GET /jobs/{id}/children). The album ends once every photo has: SUCCEEDED when all succeeded, else FAILED with ALBUM_PARTLY_FAILED; either way `output.url` is a ZIP of the photos that succeeded. One webhook, for the album.',
    headers: IDEMPOTENCY_HEADER,
    requestBody: { name: 'CreateAlbumRequest', schema: createAlbumRequestSchema, required: true },
    responses: [CREATED_JOB],
    errors: [...CREATE_ERRORS, { code: 'INVALID_IMAGE', status: 422, when: 'an upload in `sources` is not an image the worker reads; `detail` names it' }],
  },
  {
    method: 'GET',
    path: '/jobs/{id}/children',
    handler: 'list-children',
    operationId: 'listChildren',
    summary: "An album's photo jobs, or a video's segments, in order",
    description: 'Pass `next_cursor` back as `cursor` for the next page; it is null on the last page. A photo has no children (an empty list).',
    pathParameters: jobPath,
    query: listJobsQuerySchema,
    responses: [{ status: 200, description: 'A page of children.', body: { name: 'JobList', schema: jobListResponseSchema } }],
    errors: [
      { code: 'VALIDATION_FAILED', status: 400, when: '`limit` is not a whole number in range, or `cursor` is empty or too long' },
      { code: 'UNKNOWN_FIELD', status: 400, when: 'a query parameter other than `limit` and `cursor`' },
      { code: 'INVALID_CURSOR', status: 400, when: 'a `cursor` this API did not return' },
      UNAUTHENTICATED,
      JOB_NOT_FOUND,
      STORAGE_DOWN,
      BUG,
    ],
  },
  {
    method: 'GET',
    path: '/jobs',
    handler: 'list-jobs',
    operationId: 'listJobs',
    summary: "The caller's jobs, newest first",
    description: 'Pass `next_cursor` back as `cursor` for the next page; it is null on the last page.',
    query: listJobsQuerySchema,
    responses: [{ status: 200, description: 'A page of jobs.', body: { name: 'JobList', schema: jobListResponseSchema } }],
    errors: [
      { code: 'VALIDATION_FAILED', status: 400, when: '`limit` is not a whole number in range, or `cursor` is empty or too long' },
      { code: 'UNKNOWN_FIELD', status: 400, when: 'a query parameter other than `limit` and `cursor`' },
      { code: 'INVALID_CURSOR', status: 400, when: 'a `cursor` this API did not return to the caller' },
      UNAUTHENTICATED,
      STORAGE_DOWN,
      BUG,
    ],
  },
  {
    method: 'GET',
    path: '/jobs/{id}',
    handler: 'get-job',
    operationId: 'getJob',
    summary: 'A job',
    description: "SUCCEEDED jobs carry a presigned result URL (`output.url`, until `output.expires_at`) and the faces found, in the input photo's pixels.",
    pathParameters: jobPath,
    responses: [{ status: 200, description: 'The job.', body: job }],
    errors: [UNAUTHENTICATED, JOB_NOT_FOUND, STORAGE_DOWN, BUG],
  },
  {
    method: 'DELETE',
    path: '/jobs/{id}',
    handler: 'cancel-job',
    operationId: 'cancelJob',
    summary: 'Cancel a QUEUED job, or a QUEUED or RUNNING album or video',
    description:
      'The worker skips a CANCELED job. A photo that already started runs to its end. An album or a video can be canceled while it runs: its photos or segments not started yet are skipped, those under way finish, and the album or video ends CANCELED. A cancel sends no webhook: this answer is the confirmation.',
    pathParameters: jobPath,
    responses: [{ status: 200, description: 'The canceled job.', body: job }],
    errors: [
      UNAUTHENTICATED,
      JOB_NOT_FOUND,
      { code: 'JOB_NOT_CANCELABLE', status: 409, when: 'the job ended, or is a photo the worker started' },
      STORAGE_DOWN,
      STATE_UNKNOWN,
      BUG,
    ],
  },
  {
    method: 'GET',
    path: '/openapi.json',
    handler: 'openapi',
    public: true,
    operationId: 'openapi',
    summary: 'This document (OpenAPI 3.1)',
    responses: [{ status: 200, description: 'The OpenAPI 3.1 document of this API, with this server as `servers[0]`.' }],
    errors: [BUG],
  },
];
