import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { jobResponseSchema, type JobResponse } from './api.js';
import type { JobRecord, TenantIndexItem } from './job.js';

/*
 * Webhooks follow Standard Webhooks (standardwebhooks.com): three headers, and an HMAC-SHA256 over
 * `{webhook-id}.{webhook-timestamp}.{body}` keyed with the base64-decoded part of a `whsec_` secret, so receivers can
 * verify them with the `standardwebhooks` libraries (or Svix's) as well as with @revive/client.
 */

/** The delivery's id: the same on every attempt of one delivery, so a receiver can drop duplicates. */
export const WEBHOOK_ID_HEADER = 'webhook-id';
/** Unix seconds of this attempt; signed, so a receiver can refuse replays older than its tolerance. */
export const WEBHOOK_TIMESTAMP_HEADER = 'webhook-timestamp';
/**
 * Space-separated `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>` entries; a receiver accepts the delivery
 * when any entry matches.
 */
export const WEBHOOK_SIGNATURE_HEADER = 'webhook-signature';
/** A receiver should refuse timestamps older (or newer) than this. @default 300 (the Standard Webhooks libraries' own) */
export const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300;
/** Prefix of a webhook secret; the rest is the HMAC key, base64-encoded. */
export const WEBHOOK_SECRET_PREFIX = 'whsec_';
/** Shortest HMAC key accepted, in bytes (the Standard Webhooks spec asks for 24 to 64). */
export const MIN_WEBHOOK_KEY_BYTES = 24;
/** Longest HMAC key accepted, in bytes. */
export const MAX_WEBHOOK_KEY_BYTES = 64;

/** Header naming what happened: `job.succeeded`, `job.failed` or `job.canceled`. */
export const WEBHOOK_EVENT_HEADER = 'Revive-Event';
export type WebhookEvent = 'job.succeeded' | 'job.failed' | 'job.canceled';

// Canonical base64 only: Node's decoder skips characters it does not know, which would turn a typo into another key.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The HMAC key of a webhook secret, or why it is not one. The `whsec_` prefix is optional, as in the Standard Webhooks
 * libraries: a bare base64 string (such as the 48 letters and digits the CDK stack's secret holds) is the same key.
 */
function decodeWebhookSecret(secret: string): Buffer | string {
  const encoded = secret.startsWith(WEBHOOK_SECRET_PREFIX) ? secret.slice(WEBHOOK_SECRET_PREFIX.length) : secret;
  if (encoded.length === 0 || !BASE64.test(encoded)) {
    return 'a webhook secret is "whsec_" followed by base64 (a raw passphrase P becomes "whsec_" + base64(P))';
  }
  const key = Buffer.from(encoded, 'base64');
  if (key.length < MIN_WEBHOOK_KEY_BYTES || key.length > MAX_WEBHOOK_KEY_BYTES) {
    return `a webhook secret's key must be ${MIN_WEBHOOK_KEY_BYTES} to ${MAX_WEBHOOK_KEY_BYTES} bytes once base64-decoded (this one is ${key.length})`;
  }
  return key;
}

/** A webhook secret: `whsec_<base64 of 24 to 64 bytes>` (REVIVE_WEBHOOK_SECRET, the Secrets Manager secret). */
export const webhookSecretSchema = z.string().superRefine((secret, ctx) => {
  const decoded = decodeWebhookSecret(secret);
  if (typeof decoded === 'string') ctx.addIssue({ code: 'custom', message: decoded });
});

/** The HMAC key of `secret` (see webhookSecretSchema). Throws a TypeError when it is not a webhook secret. */
export function webhookKey(secret: string): Buffer {
  const decoded = decodeWebhookSecret(secret);
  if (typeof decoded === 'string') throw new TypeError(decoded);
  return decoded;
}

/**
 * The `webhook-id` of a job's delivery. Derived from the job and its event (never random), so the quick attempts and
 * every durable retry, made by other processes, carry the same id.
 */
export function webhookMessageId(jobId: string, event: WebhookEvent): string {
  return `msg_${jobId}_${event.slice('job.'.length)}`;
}

/** The `webhook-signature` value (one `v1,` entry) for `body`, the exact bytes sent as a UTF-8 string. */
export function signWebhook(secret: string, messageId: string, timestampSeconds: number, body: string): string {
  return `v1,${createHmac('sha256', webhookKey(secret)).update(`${messageId}.${timestampSeconds}.${body}`).digest('base64')}`;
}

/** The webhook body is the job exactly as `GET /jobs/{id}` returns it (`jobResponseSchema`). */
export const webhookPayloadSchema = jobResponseSchema;
export type WebhookPayload = JobResponse;

/** Links and presigned output that only the caller can make (it holds the S3 client and knows the API's base URL). */
export interface JobResponseLinks {
  /** Presigned GET URL of the result; only used when the job SUCCEEDED. */
  readonly resultUrl?: string;
  readonly resultUrlExpiresAt?: Date;
  /** Prefix of `urls.get` / `urls.cancel`, e.g. `https://api.example.com`. @default '' (paths relative to the API) */
  readonly apiBaseUrl?: string;
  /** The clock a parent's time left is counted against. @default Date.now() */
  readonly nowMs?: number;
}

/**
 * What a job's response is built from: the tenant index's item (GET /jobs) or the record; a parent's fields and a
 * child's parent are only in the record (the index does not project them).
 */
export type ShownRecord = TenantIndexItem & Partial<Pick<JobRecord, 'kind' | 'parentJobId' | 'childrenTotal' | 'childrenSucceeded' | 'childrenFailed' | 'childrenCanceled' | 'framesTotal' | 'framesDone'>>;

/** Maps a job record to the API's job shape; shared by `GET /jobs/{id}` and the worker's webhook. */
export function jobResponseFromRecord(record: ShownRecord, links: JobResponseLinks = {}): JobResponse {
  const base = links.apiBaseUrl ?? '';
  const started = record.startedAt ? Date.parse(record.startedAt) : undefined;
  const finished = record.finishedAt ? Date.parse(record.finishedAt) : undefined;
  return {
    id: record.jobId,
    status: record.status,
    kind: record.kind ?? 'photo',
    parent_id: record.parentJobId ?? null,
    input: {
      source: record.source.kind === 's3' ? { uploadKey: record.source.key } : record.source.kind === 'url' ? { url: record.source.url } : null,
      options: record.options,
    },
    progress: progressOf(record, links.nowMs ?? Date.now()),
    created_at: record.createdAt,
    started_at: record.startedAt ?? null,
    completed_at: record.finishedAt ?? null,
    output:
      deliversOutput(record) && links.resultUrl !== undefined
        ? {
            url: links.resultUrl,
            expires_at: (links.resultUrlExpiresAt ?? new Date()).toISOString(),
            width: record.resultWidth ?? null,
            height: record.resultHeight ?? null,
          }
        : null,
    error: record.errorCode ? { code: record.errorCode, message: record.errorMessage ?? record.errorCode } : null,
    faces: record.status === 'SUCCEEDED' ? (record.faces ?? []).map((f) => ({ box: f.box, score: f.score, landmarks: f.landmarks })) : null,
    metrics: {
      faces_found: record.facesFound ?? null,
      timings_ms: record.timingsMs ?? null,
      predict_time_ms: started !== undefined && finished !== undefined ? finished - started : null,
      attempts: record.attempts,
    },
    webhook: record.webhookUrl ?? null,
    webhook_delivery: record.webhookDelivery
      ? {
          status: record.webhookDelivery.status,
          attempts: record.webhookDelivery.attempts,
          http_status: record.webhookDelivery.httpStatus ?? null,
          error: record.webhookDelivery.error ?? null,
          at: record.webhookDelivery.at,
          next_attempt_at: record.webhookDelivery.nextAttemptAt ?? null,
          completed_at: record.webhookDelivery.completedAt ?? null,
        }
      : null,
    urls: {
      get: `${base}/jobs/${record.jobId}`,
      cancel: `${base}/jobs/${record.jobId}`,
      ...(record.kind === 'album' || record.kind === 'video' ? { children: `${base}/jobs/${record.jobId}/children` } : {}),
    },
  };
}

/** Whether a record's result is the caller's: a SUCCEEDED job's, and a partly failed album's ZIP of what succeeded. */
export function deliversOutput(record: Pick<JobRecord, 'status' | 'resultKey' | 'kind'>): boolean {
  if (record.resultKey === undefined) return false;
  return record.status === 'SUCCEEDED' || (record.status === 'FAILED' && record.kind === 'album');
}

/**
 * A parent's progress: children done (succeeded) and failed (failed or canceled) of the total, a video's frames, and
 * the time left at the rate so far (children ended per second since the parent started); null for a photo.
 */
function progressOf(record: ShownRecord, nowMs: number): JobResponse['progress'] {
  if (record.kind !== 'album' && record.kind !== 'video') return null;
  const total = record.childrenTotal ?? 0;
  const done = record.childrenSucceeded ?? 0;
  const failed = (record.childrenFailed ?? 0) + (record.childrenCanceled ?? 0);
  const video = record.kind === 'video';
  const framesTotal = video ? (record.framesTotal ?? null) : null;
  const framesDone = video ? (record.framesDone ?? 0) : null;
  let eta: number | null = null;
  const started = record.startedAt === undefined ? undefined : Date.parse(record.startedAt);
  if (record.status === 'RUNNING' && started !== undefined && total > 0) {
    // Frames are the finer measure of a video's work; an album's photos are counted as they end.
    const [ended, all] = framesTotal !== null && framesTotal > 0 ? [framesDone ?? 0, framesTotal] : [done + failed, total];
    if (ended > 0 && ended < all) eta = Math.round((((nowMs - started) / 1000) * (all - ended)) / ended);
  } else if (TERMINAL.has(record.status)) {
    eta = 0;
  }
  return { total, done, failed, frames_total: framesTotal, frames_done: framesDone, eta_seconds: eta };
}
const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELED']);

/** The `Revive-Event` value for a finished job. */
export function webhookEvent(status: JobRecord['status']): WebhookEvent {
  return status === 'SUCCEEDED' ? 'job.succeeded' : status === 'CANCELED' ? 'job.canceled' : 'job.failed';
}
