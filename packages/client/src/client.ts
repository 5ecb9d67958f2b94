import type { CreateJobSource, CreateUploadResponse, JobListResponse, JobOptionsInput, JobResponse, JobStatus } from './types.js';
import { errorFromResponse, ReviveError } from './errors.js';

/** Image types the API's presigned upload accepts: the formats the worker reads (the contract's UPLOAD_CONTENT_TYPES; contract-mirrors.test.ts keeps the two equal). */
export const UPLOAD_CONTENT_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/tiff', 'image/avif'] as const;
export type UploadContentType = (typeof UPLOAD_CONTENT_TYPES)[number];

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

/** The storage service's XML error `<Code>`, for a readable UPLOAD_REJECTED detail. */
function s3ErrorDetail(status: number, text: string): string {
  const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1];
  const message = /<Message>([^<]+)<\/Message>/.exec(text)?.[1];
  return code ? `The storage service refused the upload: ${code}${message ? ` (${message})` : ''}.` : `The storage service refused the upload (HTTP ${status}).`;
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

  /** Presigned uploads. */
  readonly uploads: { create: (file: Blob, options?: CreateUploadOptions) => Promise<Upload> };
  /** Jobs: create, get, list, cancel, wait. */
  readonly jobs: {
    create: (input: CreateJobInput, options?: CreateJobOptions) => Promise<JobResponse>;
    get: (id: string, options?: RequestOptions) => Promise<JobResponse>;
    page: (options?: ListJobsOptions) => Promise<JobListResponse>;
    list: (options?: ListJobsOptions) => AsyncGenerator<JobResponse, void, undefined>;
    cancel: (id: string, options?: RequestOptions) => Promise<JobResponse>;
    wait: (id: string, options?: WaitOptions) => Promise<JobResponse>;
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
    this.uploads = { create: (file, o) => this.createUpload(file, o) };
    this.jobs = {
      create: (input, o) => this.createJob(input, o),
      get: (id, o) => this.request<JobResponse>('GET', `/jobs/${encodeURIComponent(id)}`, { ...o }),
      page: (o) => this.listPage(o),
      list: (o) => this.listAll(o),
      cancel: (id, o) => this.request<JobResponse>('DELETE', `/jobs/${encodeURIComponent(id)}`, { ...o }),
      wait: (id, o) => this.wait(id, o),
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
    const job = await this.wait(created.id, options);
    if (job.status === 'SUCCEEDED' && job.output !== null) return job as SucceededJob;
    throw new ReviveError({
      status: 0,
      code: job.status === 'CANCELED' ? 'JOB_CANCELED' : 'JOB_FAILED',
      detail: job.error ? `${job.error.code}: ${job.error.message}` : `The job ended ${job.status}.`,
      job,
    });
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
      throw new ReviveError({ status: res.status, code, detail: s3ErrorDetail(res.status, text) });
    }
    await res.body?.cancel().catch(() => undefined);
    return { uploadKey: upload.uploadKey, size: file.size, contentType: sentType };
  }

  private async createJob(input: CreateJobInput, options: CreateJobOptions = {}): Promise<JobResponse> {
    return await this.request<JobResponse>('POST', '/jobs', {
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

  private async wait(id: string, options: WaitOptions = {}): Promise<JobResponse> {
    const { signal } = options;
    const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;
    const maxIntervalMs = options.maxIntervalMs ?? DEFAULT_WAIT_MAX_INTERVAL_MS;
    const deadline = Date.now() + timeoutMs;
    let intervalMs = options.intervalMs ?? DEFAULT_WAIT_INTERVAL_MS;
    let lastStatus: JobStatus | undefined;
    for (;;) {
      let pauseMs = intervalMs;
      try {
        const job = await this.request<JobResponse>('GET', `/jobs/${encodeURIComponent(id)}`, { ...(signal && { signal }), retries: 0 });
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
    init: { body?: unknown; headers?: Record<string, string>; signal?: AbortSignal; retries?: number; retryNonIdempotent?: boolean },
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
        if (res.ok) return (await res.json()) as T;
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
