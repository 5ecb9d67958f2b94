import type {
  CompleteMultipartUploadResponse,
  CreateAlbumInput,
  CreateJobSource,
  CreateMultipartUploadResponse,
  CreateUploadResponse,
  CreateVideoInput,
  JobListResponse,
  JobOptionsInput,
  JobResponse,
  JobStatus,
  SignMultipartUploadPartsResponse,
  VideoContentType,
} from './types.js';
import { errorFromResponse, ReviveError, type StorageError } from './errors.js';

/** Image types the API's presigned upload accepts: the formats the worker reads (the contract's UPLOAD_CONTENT_TYPES; contract-mirrors.test.ts keeps the two equal). */
export const UPLOAD_CONTENT_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/tiff', 'image/avif'] as const;
export type UploadContentType = (typeof UPLOAD_CONTENT_TYPES)[number];

/** Video containers the API's multipart upload accepts (the contract's VIDEO_CONTENT_TYPES; contract-mirrors.test.ts keeps the two equal). */
export const VIDEO_CONTENT_TYPES = ['video/mp4', 'video/quicktime', 'video/x-matroska', 'video/webm'] as const;

/** Parts of a video upload in flight at once. @default 4 */
export const DEFAULT_UPLOAD_CONCURRENCY = 4;
/** Tries of one part (the first included) before the upload is aborted. @default 4 */
export const DEFAULT_PART_ATTEMPTS = 4;
/** Pause before a part's second try; doubled on each further try. @default 500 */
export const DEFAULT_PART_RETRY_DELAY_MS = 500;
/**
 * A video part about to start with less than this left before its URL's expiry (`expires_in_seconds` after the answer
 * came, by this machine's clock) has its URL signed again first (POST /uploads/multipart/parts): a part must start
 * before its URL expires, and the margin covers the request's way to the storage. Capped at half the URLs' lifetime,
 * so short-lived URLs are still used. @default 30_000
 */
export const DEFAULT_RESIGN_MARGIN_MS = 30_000;
/**
 * Tries of a re-sign (POST /uploads/multipart/parts) that a part needs because its URL expired; a throttled or
 * unavailable API is asked again after DEFAULT_RESIGN_RETRY_DELAY_MS, doubled each time up to
 * DEFAULT_RESIGN_MAX_RETRY_DELAY_MS (or its Retry-After, within that cap). @default 8
 */
export const DEFAULT_RESIGN_ATTEMPTS = 8;
/** Pause before a needed re-sign's second try; doubled on each further try. @default 1_000 */
export const DEFAULT_RESIGN_RETRY_DELAY_MS = 1_000;
/** The longest pause between a needed re-sign's tries (the route's throttle is shared by every tenant). @default 30_000 */
export const DEFAULT_RESIGN_MAX_RETRY_DELAY_MS = 30_000;
/** An album's photos uploaded at once. @default 4 */
export const DEFAULT_ALBUM_UPLOAD_CONCURRENCY = 4;
/** `restoreVideo` and `restoreAlbum` wait this long for the job to end (a video takes minutes). @default 3_600_000 (1 hour) */
export const DEFAULT_PARENT_WAIT_TIMEOUT_MS = 3_600_000;

/** Statuses a job never leaves. */
export const TERMINAL_STATUSES: readonly JobStatus[] = ['SUCCEEDED', 'FAILED', 'CANCELED'];

/** First pause between two polls of `jobs.wait`. @default 500 */
export const DEFAULT_WAIT_INTERVAL_MS = 500;
/** Longest pause between two polls; the pause grows by half after each poll until it. @default 5_000 */
export const DEFAULT_WAIT_MAX_INTERVAL_MS = 5_000;
/** `jobs.wait` gives up (WAIT_TIMEOUT) after this; the job itself goes on. @default 600_000 (10 minutes) */
export const DEFAULT_WAIT_TIMEOUT_MS = 600_000;
/** Extra tries of a request that failed with a retryable error (ENQUEUE_FAILED, TIMEOUT, NETWORK, 429, 502-504). @default 2 */
export const DEFAULT_MAX_RETRIES = 2;
/** Pause before the first retry when the answer had no Retry-After; doubled on each further try. @default 1_000 */
export const DEFAULT_RETRY_DELAY_MS = 1_000;
/**
 * Longest pause a Retry-After may ask for before a retry (a longer one is cut to this; `jobs.wait` also never sleeps
 * past its timeout), so a proxy's or a misconfigured "Retry-After: 3600" doesn't hang the caller. @default 60_000
 */
export const DEFAULT_MAX_RETRY_AFTER_MS = 60_000;
/** Local mode's stand-in for a JWT (`pnpm start`). */
export const TENANT_HEADER = 'x-revive-tenant';

/** A bearer token, or a function that returns a fresh one (called before each request, again once after a 401). */
export type TokenSource = string | (() => string | undefined | Promise<string | undefined>);

export interface ReviveOptions {
  /** The API's base URL, e.g. `https://abc123.execute-api.eu-west-1.amazonaws.com`, or `''` for the same origin. */
  readonly baseUrl: string;
  /** JWT sent as `Authorization: Bearer <token>`. */
  readonly token?: TokenSource;
  /** Local stack only: the tenant sent as `x-revive-tenant` (the deployed API takes the tenant from the JWT). */
  readonly tenant?: string;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** @default DEFAULT_MAX_RETRIES */
  readonly maxRetries?: number;
  /** @default DEFAULT_RETRY_DELAY_MS */
  readonly retryDelayMs?: number;
  /** @default DEFAULT_MAX_RETRY_AFTER_MS */
  readonly maxRetryAfterMs?: number;
}

export interface RequestOptions {
  readonly signal?: AbortSignal;
}

export interface CreateUploadOptions extends RequestOptions {
  /** @default the file's own type when it is one of UPLOAD_CONTENT_TYPES */
  readonly contentType?: UploadContentType;
}

/** A finished upload: pass `uploadKey` as `source.uploadKey` to `jobs.create`. */
export interface Upload {
  readonly uploadKey: string;
  readonly size: number;
  readonly contentType: string;
}

export interface CreateJobInput {
  readonly source: CreateJobSource;
  readonly options?: JobOptionsInput;
  /** Receives the final job as a signed POST (check it with `verifyWebhook`). */
  readonly webhookUrl?: string;
}

export interface CreateJobOptions extends RequestOptions {
  /** Same key, same body → the same job. @default a random UUID, so the client's own retries are safe */
  readonly idempotencyKey?: string;
}

export interface ListJobsOptions extends RequestOptions {
  /** Jobs per page (1..100). @default the API's (20) */
  readonly limit?: number;
  /** Start after this page (a `next_cursor`). */
  readonly cursor?: string;
}

export interface WaitOptions extends RequestOptions {
  /** @default DEFAULT_WAIT_INTERVAL_MS */
  readonly intervalMs?: number;
  /** @default DEFAULT_WAIT_MAX_INTERVAL_MS */
  readonly maxIntervalMs?: number;
  /** @default DEFAULT_WAIT_TIMEOUT_MS */
  readonly timeoutMs?: number;
  /** Called with each polled job whose status changed (the first one included). */
  readonly onUpdate?: (job: JobResponse) => void;
  /** Called with each polled job whose status or `progress` changed (a video's segments and frames, an album's photos). */
  readonly onProgress?: (job: JobResponse) => void;
}

/** Bytes of an upload sent so far; for an album, of the photos uploaded so far. */
export interface UploadProgress {
  readonly loadedBytes: number;
  readonly totalBytes: number;
}

export interface MultipartUploadOptions extends RequestOptions {
  /** @default the file's own type when it is one of VIDEO_CONTENT_TYPES, else video/mp4 */
  readonly contentType?: VideoContentType;
  /** Parts in flight at once. @default DEFAULT_UPLOAD_CONCURRENCY */
  readonly concurrency?: number;
  /** Tries of one part before the upload is aborted. @default DEFAULT_PART_ATTEMPTS */
  readonly partAttempts?: number;
  /** @default DEFAULT_PART_RETRY_DELAY_MS */
  readonly partRetryDelayMs?: number;
  /** @default DEFAULT_RESIGN_MARGIN_MS */
  readonly resignMarginMs?: number;
  /** @default DEFAULT_RESIGN_ATTEMPTS */
  readonly resignAttempts?: number;
  /** @default DEFAULT_RESIGN_RETRY_DELAY_MS */
  readonly resignRetryDelayMs?: number;
  /** @default DEFAULT_RESIGN_MAX_RETRY_DELAY_MS */
  readonly resignMaxRetryDelayMs?: number;
  /** Called as parts finish (a part counts once it is stored). */
  readonly onUploadProgress?: (progress: UploadProgress) => void;
}

export interface RestoreVideoOptions extends WaitOptions, Omit<MultipartUploadOptions, 'signal'> {
  readonly options?: JobOptionsInput;
  /** Encoding of the restored video (`crf`: H.264's quality, lower is better and larger). */
  readonly video?: CreateVideoInput['video'];
  readonly webhookUrl?: string;
  readonly idempotencyKey?: string;
  /** Called once the upload is completed, before the job is created. */
  readonly onUploaded?: (upload: Upload) => void;
}

export interface RestoreAlbumOptions extends WaitOptions {
  readonly options?: JobOptionsInput;
  readonly webhookUrl?: string;
  readonly idempotencyKey?: string;
  /** Photos uploaded at once. @default DEFAULT_ALBUM_UPLOAD_CONCURRENCY */
  readonly concurrency?: number;
  /** Called as each photo's upload finishes. */
  readonly onUploadProgress?: (progress: UploadProgress) => void;
}

export interface ListChildrenOptions extends RequestOptions {
  /** Jobs per page (1..100). @default the API's (20) */
  readonly limit?: number;
  readonly cursor?: string;
}

export interface RestoreOptions extends WaitOptions {
  readonly contentType?: UploadContentType;
  readonly options?: JobOptionsInput;
  readonly webhookUrl?: string;
  readonly idempotencyKey?: string;
  /** Called once the upload is done, before the job is created. */
  readonly onUploaded?: (upload: Upload) => void;
}

/** A SUCCEEDED job: its `output` (the result's presigned URL and size) and `faces` are present. */
export type SucceededJob = JobResponse & { readonly status: 'SUCCEEDED'; readonly output: NonNullable<JobResponse['output']>; readonly faces: NonNullable<JobResponse['faces']> };

function abortError(signal: AbortSignal): ReviveError {
  return new ReviveError({ status: 0, code: 'ABORTED', detail: 'The operation was aborted.', cause: signal.reason });
}

/** Resolves after `ms`, or rejects with ABORTED as soon as `signal` fires. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function randomKey(): string {
  return globalThis.crypto.randomUUID();
}

/** The `<Code>` and `<Message>` of an S3 XML error body; undefined when it has no code. */
function s3Error(text: string): StorageError | undefined {
  const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1];
  const message = /<Message>([^<]+)<\/Message>/.exec(text)?.[1];
  return code === undefined ? undefined : { code, message };
}

/** A readable detail for a refusal by the storage service, from its parsed error (s3Error) when it gave one. */
function s3ErrorDetail(status: number, storage: StorageError | undefined): string {
  const { code, message } = storage ?? {};
  return code ? `The storage service refused the upload: ${code}${message ? ` (${message})` : ''}.` : `The storage service refused the upload (HTTP ${status}).`;
}

/** A job that reached its end: SUCCEEDED with an output, else a JOB_CANCELED or JOB_FAILED ReviveError carrying it. */
function succeeded(job: JobResponse): SucceededJob {
  if (job.status === 'SUCCEEDED' && job.output !== null) return job as SucceededJob;
  throw new ReviveError({
    status: 0,
    code: job.status === 'CANCELED' ? 'JOB_CANCELED' : 'JOB_FAILED',
    detail: job.error ? `${job.error.code}: ${job.error.message}` : `The job ended ${job.status}.`,
    job,
  });
}

/**
 * `fn` over `items`, at most `concurrency` at once, results in the items' order. The first failure stops new starts
 * and is thrown once the calls in flight have settled, so nothing runs on after the caller saw the error.
 */
async function mapConcurrent<T, R>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        results[index] = await fn(items[index]!);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, lane));
  if (failure !== undefined) throw failure.error;
  return results;
}

/** A presigned part URL and when it expires, by this machine's clock. */
interface PartUrl {
  readonly url: string;
  readonly expiresAtMs: number;
}

/** An answer with part URLs: POST /uploads/multipart's or POST /uploads/multipart/parts'. */
interface SignedParts {
  readonly parts: readonly { part_number: number; url: string }[];
  readonly expires_in_seconds: number;
}

/** The current presigned URL of each part of a multipart upload, replaced as parts are signed again. */
class PartUrls {
  private readonly byPart = new Map<number, PartUrl>();
  private marginMs = 0;

  constructor(
    signed: SignedParts,
    receivedAtMs: number,
    private readonly preferredMarginMs: number,
  ) {
    this.replace(signed, receivedAtMs);
  }

  /**
   * Takes an answer's URLs. Their expiry is `expires_in_seconds` from when the answer came, by this machine's clock:
   * `expires_at` is the API's clock, and a client clock off by more than the TTL would call every URL stale. The
   * margin is at most half their lifetime, so URLs that live seconds are still used.
   */
  replace(signed: SignedParts, receivedAtMs: number): void {
    const lifetimeMs = signed.expires_in_seconds * 1000;
    for (const part of signed.parts) this.byPart.set(part.part_number, { url: part.url, expiresAtMs: receivedAtMs + lifetimeMs });
    this.marginMs = Math.max(0, Math.min(this.preferredMarginMs, lifetimeMs / 2));
  }

  get(partNumber: number): PartUrl {
    const url = this.byPart.get(partNumber);
    // Only an API that answered fewer parts than asked for gets here.
    if (url === undefined) throw new ReviveError({ status: 0, code: 'HTTP_ERROR', detail: `The API sent no URL for part ${partNumber}.` });
    return url;
  }

  /** Whether a part starting now would start too close to (or after) its URL's expiry: time to sign it again. */
  stale(partNumber: number, nowMs: number): boolean {
    return nowMs >= this.get(partNumber).expiresAtMs - this.marginMs;
  }

  /** Whether the part's URL has expired: it cannot be used any more. */
  expired(partNumber: number, nowMs: number): boolean {
    return nowMs >= this.get(partNumber).expiresAtMs;
  }
}

/**
 * Whether the storage refused a part because its presigned URL expired: 403 `AccessDenied` "Request has expired" once
 * X-Amz-Date + X-Amz-Expires passed, or 400 `ExpiredToken` once the temporary credentials that signed it (a Lambda
 * role's) expired, which can come before the URL's own `expires_at`.
 */
function isExpiredUrlRefusal(error: unknown): boolean {
  if (!(error instanceof ReviveError) || error.code !== 'UPLOAD_REJECTED' || error.storage === undefined) return false;
  if (error.status !== 400 && error.status !== 403) return false;
  const { code, message } = error.storage;
  return code === 'ExpiredToken' || (code === 'AccessDenied' && message !== undefined && /^Request has expired/.test(message));
}

/**
 * The Revive API client. One instance per API and identity; it holds no connection, so it is cheap to create.
 *
 * ```ts
 * const revive = new Revive({ baseUrl: 'https://api.example.com', token: () => auth.getIdToken() });
 * const job = await revive.restore(file, { options: { upscale: 2 } });
 * img.src = job.output.url;
 * ```
 */
export class Revive {
  readonly baseUrl: string;
  private readonly token: TokenSource | undefined;
  private readonly tenant: string | undefined;
  private readonly fetchImpl: typeof fetch;
  private readonly maxRetries: number;
  private readonly retryDelayMs: number;
  private readonly maxRetryAfterMs: number;

  /** Presigned uploads: a photo in one POST, a video in parts. */
  readonly uploads: {
    create: (file: Blob, options?: CreateUploadOptions) => Promise<Upload>;
    createMultipart: (file: Blob, options?: MultipartUploadOptions) => Promise<Upload>;
  };
  /** Video jobs. */
  readonly videos: { create: (input: CreateVideoInput, options?: CreateJobOptions) => Promise<JobResponse> };
  /** Album jobs; their photos are child jobs (`jobs.children`). */
  readonly albums: { create: (input: CreateAlbumInput, options?: CreateJobOptions) => Promise<JobResponse> };
  /** Jobs: create, get, list, cancel, wait. */
  readonly jobs: {
    create: (input: CreateJobInput, options?: CreateJobOptions) => Promise<JobResponse>;
    get: (id: string, options?: RequestOptions) => Promise<JobResponse>;
    page: (options?: ListJobsOptions) => Promise<JobListResponse>;
    list: (options?: ListJobsOptions) => AsyncGenerator<JobResponse, void, undefined>;
    cancel: (id: string, options?: RequestOptions) => Promise<JobResponse>;
    wait: (id: string, options?: WaitOptions) => Promise<JobResponse>;
    /** One page of an album's child jobs. */
    childrenPage: (id: string, options?: ListChildrenOptions) => Promise<JobListResponse>;
    /** Every child job of an album, fetching the next page only when the caller reaches it. */
    children: (id: string, options?: ListChildrenOptions) => AsyncGenerator<JobResponse, void, undefined>;
  };

  constructor(options: ReviveOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.token = options.token;
    this.tenant = options.tenant;
    const f = options.fetch ?? globalThis.fetch;
    // Browsers throw "Illegal invocation" when fetch is called detached from its global.
    this.fetchImpl = (input, init) => f.call(globalThis, input, init);
    this.maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
    this.retryDelayMs = options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS;
    this.uploads = { create: (file, o) => this.createUpload(file, o), createMultipart: (file, o) => this.createMultipartUpload(file, o) };
    this.videos = { create: (input, o) => this.createWithKey('/videos', input, o) };
    this.albums = { create: (input, o) => this.createWithKey('/albums', input, o) };
    this.jobs = {
      create: (input, o) => this.createJob(input, o),
      get: (id, o) => this.request<JobResponse>('GET', `/jobs/${encodeURIComponent(id)}`, { ...o }),
      page: (o) => this.listPage(o),
      list: (o) => this.listAll(o),
      cancel: (id, o) => this.request<JobResponse>('DELETE', `/jobs/${encodeURIComponent(id)}`, { ...o }),
      wait: (id, o) => this.wait(id, o),
      childrenPage: (id, o) => this.childrenPage(id, o),
      children: (id, o) => this.listChildren(id, o),
    };
  }

  /** Upload, create the job, wait for its end; resolves with the SUCCEEDED job, throws JOB_FAILED / JOB_CANCELED otherwise. */
  async restore(file: Blob, options: RestoreOptions = {}): Promise<SucceededJob> {
    const { signal } = options;
    const upload = await this.createUpload(file, { ...(options.contentType && { contentType: options.contentType }), ...(signal && { signal }) });
    options.onUploaded?.(upload);
    const created = await this.createJob(
      { source: { uploadKey: upload.uploadKey }, ...(options.options && { options: options.options }), ...(options.webhookUrl && { webhookUrl: options.webhookUrl }) },
      { ...(options.idempotencyKey && { idempotencyKey: options.idempotencyKey }), ...(signal && { signal }) },
    );
    return succeeded(await this.wait(created.id, options));
  }

  /**
   * Restore a video: a File or Blob is uploaded in parts (in parallel, each failed part retried, progress reported),
   * a string is an http(s) URL the worker fetches. Resolves with the SUCCEEDED job, whose `output.url` is the restored video (MP4, or Matroska `.mkv` for an MKV or WebM input);
   * throws JOB_FAILED (the job's `error.code` says why: VIDEO_TOO_LONG, SEGMENT_FAILED…) or JOB_CANCELED otherwise.
   */
  async restoreVideo(fileOrUrl: Blob | string, options: RestoreVideoOptions = {}): Promise<SucceededJob> {
    const { signal } = options;
    let source: CreateJobSource;
    if (typeof fileOrUrl === 'string') source = { url: fileOrUrl };
    else {
      const upload = await this.createMultipartUpload(fileOrUrl, options);
      options.onUploaded?.(upload);
      source = { uploadKey: upload.uploadKey };
    }
    const created = await this.createWithKey(
      '/videos',
      { source, ...(options.options && { options: options.options }), ...(options.video && { video: options.video }), ...(options.webhookUrl && { webhookUrl: options.webhookUrl }) },
      { ...(options.idempotencyKey && { idempotencyKey: options.idempotencyKey }), ...(signal && { signal }) },
    );
    return succeeded(await this.wait(created.id, { timeoutMs: DEFAULT_PARENT_WAIT_TIMEOUT_MS, ...options }));
  }

  /**
   * Restore an album: each File or Blob is uploaded (presigned POST, `concurrency` at once), each string is an http(s)
   * URL; then one album job with a child photo job per source. Resolves with the SUCCEEDED album, whose `output.url` is
   * the ZIP of the results. An album with a failed photo ends FAILED (ALBUM_PARTLY_FAILED): the ReviveError
   * (JOB_FAILED) carries the job, whose `output` still holds the ZIP of the photos that succeeded; `jobs.children`
   * lists each photo with its own output or error.
   */
  async restoreAlbum(filesOrUrls: readonly (Blob | string)[], options: RestoreAlbumOptions = {}): Promise<SucceededJob> {
    const { signal } = options;
    const totalBytes = filesOrUrls.reduce((sum, item) => sum + (typeof item === 'string' ? 0 : item.size), 0);
    let loadedBytes = 0;
    const sources = await mapConcurrent(filesOrUrls, options.concurrency ?? DEFAULT_ALBUM_UPLOAD_CONCURRENCY, async (item): Promise<CreateJobSource> => {
      if (typeof item === 'string') return { url: item };
      const upload = await this.createUpload(item, { ...(signal && { signal }) });
      loadedBytes += item.size;
      options.onUploadProgress?.({ loadedBytes, totalBytes });
      return { uploadKey: upload.uploadKey };
    });
    const created = await this.createWithKey(
      '/albums',
      { sources, ...(options.options && { options: options.options }), ...(options.webhookUrl && { webhookUrl: options.webhookUrl }) },
      { ...(options.idempotencyKey && { idempotencyKey: options.idempotencyKey }), ...(signal && { signal }) },
    );
    return succeeded(await this.wait(created.id, { timeoutMs: DEFAULT_PARENT_WAIT_TIMEOUT_MS, ...options }));
  }

  /**
   * A video's multipart upload: POST /uploads/multipart, each part PUT to its presigned URL (`concurrency` at once,
   * each retried up to `partAttempts` tries), then POST /uploads/multipart/complete. A part must start before its URL
   * expires, and an hour-long upload outlives the URLs: a part about to start within `resignMarginMs` of its URL's
   * expiry (`expires_in_seconds` after the answer, by this machine's clock), or one whose PUT the storage refuses as
   * expired (403 AccessDenied "Request has expired", or 400 ExpiredToken once the signing credentials expired), has the
   * parts not yet stored signed again (POST /uploads/multipart/parts) and goes on; the parts already stored stay. A
   * re-sign that fails while the URL in hand still works is tried again before a later part; one needed for a dead URL
   * is tried `resignAttempts` times, and then fails the upload with the API's error (RATE_LIMITED,
   * SERVICE_UNAVAILABLE, NETWORK, UPLOAD_NOT_FOUND...). A part that fails every try, or an abort, aborts the upload
   * (its parts are dropped) and throws.
   */
  private async createMultipartUpload(file: Blob, options: MultipartUploadOptions = {}): Promise<Upload> {
    const { signal } = options;
    const known = (VIDEO_CONTENT_TYPES as readonly string[]).includes(file.type) ? (file.type as VideoContentType) : undefined;
    const contentType = options.contentType ?? known ?? 'video/mp4';
    const upload = await this.request<CreateMultipartUploadResponse>('POST', '/uploads/multipart', {
      body: { contentType, sizeBytes: file.size },
      // Starting an upload that is never completed costs nothing (the bucket drops it after a day): safe to retry.
      retryNonIdempotent: true,
      ...(signal && { signal }),
    });
    const ids = { uploadKey: upload.upload_key, uploadId: upload.upload_id };
    const urls = new PartUrls(upload, Date.now(), options.resignMarginMs ?? DEFAULT_RESIGN_MARGIN_MS);
    const stored = new Set<number>();
    let resigning: Promise<void> | undefined;
    // One request at a time for every part that needs it: parts that find the URLs stale together share its answer.
    const resignOnce = () =>
      (resigning ??= (async () => {
        const remaining = upload.parts.map((part) => part.part_number).filter((partNumber) => !stored.has(partNumber));
        const fresh = await this.request<SignMultipartUploadPartsResponse>('POST', '/uploads/multipart/parts', {
          body: { ...ids, sizeBytes: file.size, ...(remaining.length < upload.parts.length && { partNumbers: remaining }) },
          // Signing changes nothing, so it is safe to send again; resign() below paces the tries.
          retryNonIdempotent: true,
          retries: 0,
          ...(signal && { signal }),
        });
        if (fresh.part_size_bytes !== upload.part_size_bytes) {
          // Slicing at the old size would send bytes the new URLs are not signed for: every part would be refused.
          throw new ReviveError({
            status: 0,
            code: 'HTTP_ERROR',
            detail: `The API signed the parts again for ${fresh.part_size_bytes}-byte parts; the upload was started with ${upload.part_size_bytes}-byte parts.`,
          });
        }
        urls.replace(fresh, Date.now());
      })().finally(() => {
        resigning = undefined;
      }));
    const resignAttempts = Math.max(1, options.resignAttempts ?? DEFAULT_RESIGN_ATTEMPTS);
    const resignDelayMs = options.resignRetryDelayMs ?? DEFAULT_RESIGN_RETRY_DELAY_MS;
    const resignMaxDelayMs = options.resignMaxRetryDelayMs ?? DEFAULT_RESIGN_MAX_RETRY_DELAY_MS;
    /**
     * Signs the parts not stored yet again, for `partNumber` about to start (`refused`: its URL was refused as
     * expired). While the URL in hand still works, a re-sign that fails for now (throttled, unavailable, network)
     * costs nothing: the part goes with it and the next part to start tries again. Once the URL is dead the re-sign is
     * tried with growing pauses; only when it cannot be had does the part, and the upload, fail with its error.
     */
    const resign = async (partNumber: number, refused: boolean): Promise<void> => {
      const before = urls.get(partNumber);
      for (let attempt = 1; ; attempt++) {
        try {
          await resignOnce();
          return;
        } catch (error) {
          if (!(error instanceof ReviveError) || !error.retryable) throw error;
          // Another part's re-sign may have renewed this one meanwhile.
          if (urls.get(partNumber) !== before) return;
          if (!refused && !urls.expired(partNumber, Date.now())) return;
          if (attempt >= resignAttempts) throw error;
          const backoffMs = resignDelayMs * 2 ** (attempt - 1);
          const retryAfterMs = (error.retryAfterSeconds ?? 0) * 1000;
          await sleep(Math.min(resignMaxDelayMs, Math.max(backoffMs, retryAfterMs)), signal);
        }
      }
    };
    let loadedBytes = 0;
    try {
      const parts = await mapConcurrent(upload.parts, options.concurrency ?? DEFAULT_UPLOAD_CONCURRENCY, async (part) => {
        const start = (part.part_number - 1) * upload.part_size_bytes;
        const body = file.slice(start, Math.min(file.size, start + upload.part_size_bytes));
        if (urls.stale(part.part_number, Date.now())) await resign(part.part_number, false);
        const used = urls.get(part.part_number);
        let etag: string;
        try {
          etag = await this.putPart(used.url, body, part.part_number, options);
        } catch (error) {
          if (!isExpiredUrlRefusal(error)) throw error;
          // Another part may have signed this one again meanwhile.
          if (urls.get(part.part_number) === used) await resign(part.part_number, true);
          etag = await this.putPart(urls.get(part.part_number).url, body, part.part_number, options);
        }
        stored.add(part.part_number);
        loadedBytes += body.size;
        options.onUploadProgress?.({ loadedBytes, totalBytes: file.size });
        return { partNumber: part.part_number, etag };
      });
      const done = await this.request<CompleteMultipartUploadResponse>('POST', '/uploads/multipart/complete', {
        body: { ...ids, parts },
        // Completing twice is harmless: after a lost answer, the API answers a second try with the same parts 200 again.
        retryNonIdempotent: true,
        ...(signal && { signal }),
      });
      return { uploadKey: done.upload_key, size: file.size, contentType };
    } catch (error) {
      // Best effort: the bucket's lifecycle rule drops what this leaves behind after a day.
      await this.request('POST', '/uploads/multipart/abort', { body: ids, retryNonIdempotent: true, expectBody: false }).catch(() => undefined);
      throw error;
    }
  }

  /**
   * PUTs one part; resolves with its ETag. A network failure or a 5xx/429 answer is tried again, up to `partAttempts`
   * tries; a 4xx (an expired or altered URL) or a 2xx without an ETag (a bucket CORS rule that hides it) would fail the
   * same way again, and is thrown at once.
   */
  private async putPart(url: string, body: Blob, partNumber: number, options: MultipartUploadOptions): Promise<string> {
    const { signal } = options;
    const attempts = Math.max(1, options.partAttempts ?? DEFAULT_PART_ATTEMPTS);
    const delayMs = options.partRetryDelayMs ?? DEFAULT_PART_RETRY_DELAY_MS;
    for (let attempt = 1; ; attempt++) {
      let res: Response | undefined;
      let error: ReviveError;
      try {
        res = await this.fetchImpl(url, { method: 'PUT', body, ...(signal && { signal }) });
      } catch (cause) {
        if (signal?.aborted) throw abortError(signal);
        error = new ReviveError({ status: 0, code: 'NETWORK', detail: `Part ${partNumber}: could not reach ${new URL(url).origin}: ${(cause as Error).message}`, cause });
      }
      if (res !== undefined) {
        const etag = res.headers.get('etag');
        if (res.ok && etag) {
          await res.body?.cancel().catch(() => undefined);
          return etag;
        }
        const storage = s3Error(await res.text().catch(() => ''));
        const detail = res.ok
          ? `Part ${partNumber}: the storage service answered without an ETag header (the bucket's CORS rule must expose it).`
          : `Part ${partNumber}: ${s3ErrorDetail(res.status, storage)}`;
        error = new ReviveError({ status: res.status, code: 'UPLOAD_REJECTED', detail, storage: res.ok ? undefined : storage });
        if (res.ok || !(res.status >= 500 || res.status === 429)) throw error;
      }
      if (attempt >= attempts) throw error!;
      await sleep(delayMs * 2 ** (attempt - 1), signal);
    }
  }

  private async createUpload(file: Blob, options: CreateUploadOptions = {}): Promise<Upload> {
    const known = (UPLOAD_CONTENT_TYPES as readonly string[]).includes(file.type) ? (file.type as UploadContentType) : undefined;
    const contentType = options.contentType ?? known;
    // Presigning creates nothing, so a throttled (429) or failed POST /uploads is safe to send again.
    const upload = await this.request<CreateUploadResponse>('POST', '/uploads', {
      body: contentType ? { contentType } : {},
      retryNonIdempotent: true,
      ...(options.signal && { signal: options.signal }),
    });
    if (file.size > upload.max_bytes) {
      throw new ReviveError({ status: 0, code: 'UPLOAD_TOO_LARGE', detail: `The file has ${file.size} bytes; uploads take at most ${upload.max_bytes}.` });
    }
    // S3 reads the policy's fields first and ignores every field after the file: the file must be last.
    const form = new FormData();
    for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
    const sentType = contentType ?? (file.type.startsWith('image/') ? file.type : 'application/octet-stream');
    form.append('Content-Type', sentType);
    form.append('file', file);
    let res: Response;
    try {
      res = await this.fetchImpl(upload.url, { method: 'POST', body: form, ...(options.signal && { signal: options.signal }) });
    } catch (error) {
      if (options.signal?.aborted) throw abortError(options.signal);
      throw new ReviveError({ status: 0, code: 'NETWORK', detail: `Could not reach ${new URL(upload.url).origin}: ${(error as Error).message}`, cause: error });
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      const code = /<Code>EntityTooLarge<\/Code>/.test(text) ? 'UPLOAD_TOO_LARGE' : 'UPLOAD_REJECTED';
      throw new ReviveError({ status: res.status, code, detail: s3ErrorDetail(res.status, s3Error(text)) });
    }
    await res.body?.cancel().catch(() => undefined);
    return { uploadKey: upload.uploadKey, size: file.size, contentType: sentType };
  }

  private async createJob(input: CreateJobInput, options: CreateJobOptions = {}): Promise<JobResponse> {
    return await this.createWithKey('/jobs', input, options);
  }

  /** POST /jobs, /videos or /albums, with an Idempotency-Key so that the client's own retries are safe. */
  private async createWithKey(path: string, input: unknown, options: CreateJobOptions = {}): Promise<JobResponse> {
    return await this.request<JobResponse>('POST', path, {
      body: input,
      // One key for every try: a retry after ENQUEUE_FAILED or a lost answer finds the job the first try made.
      headers: { 'idempotency-key': options.idempotencyKey ?? randomKey() },
      retryNonIdempotent: true,
      ...(options.signal && { signal: options.signal }),
    });
  }

  private async listPage(options: ListJobsOptions = {}): Promise<JobListResponse> {
    const query = new URLSearchParams();
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.cursor !== undefined) query.set('cursor', options.cursor);
    const qs = query.toString();
    return await this.request<JobListResponse>('GET', `/jobs${qs ? `?${qs}` : ''}`, { ...(options.signal && { signal: options.signal }) });
  }

  /** Every job, newest first, fetching the next page only when the caller reaches it. */
  private async *listAll(options: ListJobsOptions = {}): AsyncGenerator<JobResponse, void, undefined> {
    let cursor = options.cursor;
    do {
      const page = await this.listPage({ ...options, ...(cursor !== undefined && { cursor }) });
      yield* page.jobs;
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined);
  }

  private async childrenPage(id: string, options: ListChildrenOptions = {}): Promise<JobListResponse> {
    const query = new URLSearchParams();
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.cursor !== undefined) query.set('cursor', options.cursor);
    const qs = query.toString();
    return await this.request<JobListResponse>('GET', `/jobs/${encodeURIComponent(id)}/children${qs ? `?${qs}` : ''}`, { ...(options.signal && { signal: options.signal }) });
  }

  private async *listChildren(id: string, options: ListChildrenOptions = {}): AsyncGenerator<JobResponse, void, undefined> {
    let cursor = options.cursor;
    do {
      const page = await this.childrenPage(id, { ...options, ...(cursor !== undefined && { cursor }) });
      yield* page.jobs;
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined);
  }

  private async wait(id: string, options: WaitOptions = {}): Promise<JobResponse> {
    const { signal } = options;
    const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;
    const maxIntervalMs = options.maxIntervalMs ?? DEFAULT_WAIT_MAX_INTERVAL_MS;
    const deadline = Date.now() + timeoutMs;
    let intervalMs = options.intervalMs ?? DEFAULT_WAIT_INTERVAL_MS;
    let lastStatus: JobStatus | undefined;
    let lastProgress: string | undefined;
    for (;;) {
      let pauseMs = intervalMs;
      try {
        const job = await this.request<JobResponse>('GET', `/jobs/${encodeURIComponent(id)}`, { ...(signal && { signal }), retries: 0 });
        const progress = JSON.stringify(job.progress ?? null);
        if (job.status !== lastStatus || progress !== lastProgress) options.onProgress?.(job);
        lastProgress = progress;
        if (job.status !== lastStatus) {
          lastStatus = job.status;
          options.onUpdate?.(job);
        }
        if (TERMINAL_STATUSES.includes(job.status)) return job;
      } catch (error) {
        // A throttled or briefly unreachable API should not end a wait; anything else (404, 401) should.
        if (!(error instanceof ReviveError) || !error.retryable) throw error;
        if (error.retryAfterSeconds !== undefined) pauseMs = Math.max(pauseMs, Math.min(error.retryAfterSeconds * 1000, this.maxRetryAfterMs));
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new ReviveError({ status: 0, code: 'WAIT_TIMEOUT', detail: `Job ${id} did not finish within ${timeoutMs} ms (last status: ${lastStatus ?? 'unknown'}).` });
      await sleep(Math.min(pauseMs, left), signal);
      intervalMs = Math.min(maxIntervalMs, Math.round(intervalMs * 1.5));
    }
  }

  private async authHeaders(): Promise<Record<string, string>> {
    const headers: Record<string, string> = {};
    if (this.tenant !== undefined) headers[TENANT_HEADER] = this.tenant;
    const token = typeof this.token === 'function' ? await this.token() : this.token;
    if (token) headers.authorization = `Bearer ${token}`;
    return headers;
  }

  private async request<T>(
    method: string,
    path: string,
    init: { body?: unknown; headers?: Record<string, string>; signal?: AbortSignal; retries?: number; retryNonIdempotent?: boolean; expectBody?: boolean },
  ): Promise<T> {
    const retries = init.retries ?? this.maxRetries;
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      let error: ReviveError;
      let res: Response | undefined;
      try {
        res = await this.fetchImpl(`${this.baseUrl}${path}`, {
          method,
          headers: { accept: 'application/json', ...(init.body !== undefined && { 'content-type': 'application/json' }), ...(await this.authHeaders()), ...init.headers },
          ...(init.body !== undefined && { body: JSON.stringify(init.body) }),
          ...(init.signal && { signal: init.signal }),
        });
      } catch (cause) {
        if (init.signal?.aborted) throw abortError(init.signal);
        if (cause instanceof ReviveError) throw cause;
        error = new ReviveError({ status: 0, code: 'NETWORK', detail: `Could not reach the API: ${(cause as Error).message}`, cause });
      }
      if (res !== undefined) {
        if (res.ok) {
          if (init.expectBody === false || res.status === 204) {
            await res.body?.cancel().catch(() => undefined);
            return undefined as T;
          }
          return (await res.json()) as T;
        }
        error = await errorFromResponse(res);
        // A token function may hold an expired JWT: ask it once more before giving up.
        if (res.status === 401 && typeof this.token === 'function' && !refreshed) {
          refreshed = true;
          continue;
        }
      }
      // POST /jobs is only retried because it always carries an Idempotency-Key; POST /uploads because it creates nothing.
      const safe = method === 'GET' || method === 'DELETE' || init.retryNonIdempotent === true;
      if (!safe || !error!.retryable || attempt >= retries) throw error!;
      const retryAfterMs = error!.retryAfterSeconds !== undefined ? Math.min(error!.retryAfterSeconds * 1000, this.maxRetryAfterMs) : undefined;
      await sleep(retryAfterMs ?? this.retryDelayMs * 2 ** attempt, init.signal);
    }
  }
}
