import { createHmac, timingSafeEqual } from 'node:crypto';
import { jobResponseSchema, type JobResponse } from './api.js';
import type { JobRecord, TenantIndexItem } from './job.js';

/**
 * Header that carries a webhook's signature: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`.
 * Signing the timestamp with the body lets a receiver refuse replays older than its tolerance.
 */
export const WEBHOOK_SIGNATURE_HEADER = 'Revive-Signature';
/** A receiver should refuse signatures older (or newer) than this. @default 300 */
export const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300;

/** Header naming what happened: `job.succeeded`, `job.failed` or `job.canceled`. */
export const WEBHOOK_EVENT_HEADER = 'Revive-Event';
export type WebhookEvent = 'job.succeeded' | 'job.failed' | 'job.canceled';

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
}

/** Maps a job record to the API's job shape; shared by `GET /jobs/{id}` and the worker's webhook. */
export function jobResponseFromRecord(record: TenantIndexItem, links: JobResponseLinks = {}): JobResponse {
  const base = links.apiBaseUrl ?? '';
  const started = record.startedAt ? Date.parse(record.startedAt) : undefined;
  const finished = record.finishedAt ? Date.parse(record.finishedAt) : undefined;
  return {
    id: record.jobId,
    status: record.status,
    input: {
      source: record.source.kind === 's3' ? { uploadKey: record.source.key } : { url: record.source.url },
      options: record.options,
    },
    created_at: record.createdAt,
    started_at: record.startedAt ?? null,
    completed_at: record.finishedAt ?? null,
    output:
      record.status === 'SUCCEEDED' && links.resultUrl !== undefined
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
    urls: { get: `${base}/jobs/${record.jobId}`, cancel: `${base}/jobs/${record.jobId}` },
  };
}

/** The `Revive-Event` value for a finished job. */
export function webhookEvent(status: JobRecord['status']): WebhookEvent {
  return status === 'SUCCEEDED' ? 'job.succeeded' : status === 'CANCELED' ? 'job.canceled' : 'job.failed';
}

function hmacHex(secret: string, timestampSeconds: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestampSeconds}.${body}`).digest('hex');
}

/** The `Revive-Signature` header value for `body` (the exact bytes sent, as a UTF-8 string). */
export function signWebhook(secret: string, body: string, timestampSeconds: number = Math.floor(Date.now() / 1000)): string {
  return `t=${timestampSeconds},v1=${hmacHex(secret, timestampSeconds, body)}`;
}

export interface VerifyWebhookOptions {
  /** @default DEFAULT_WEBHOOK_TOLERANCE_SECONDS */
  readonly toleranceSeconds?: number;
  /** The receiver's clock. @default now */
  readonly nowSeconds?: number;
}

/**
 * True when `header` is a valid signature of `body` with `secret`, made within the tolerance. Compares in constant
 * time; accepts several `v1=` entries so a sender can sign with an old and a new secret while rotating.
 */
export function verifyWebhook(secret: string, body: string, header: string | null | undefined, options: VerifyWebhookOptions = {}): boolean {
  if (!header) return false;
  const parts = header.split(',').map((p) => p.trim());
  const t = Number(parts.find((p) => p.startsWith('t='))?.slice(2));
  if (!Number.isInteger(t)) return false;
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - t) > (options.toleranceSeconds ?? DEFAULT_WEBHOOK_TOLERANCE_SECONDS)) return false;
  const expected = Buffer.from(hmacHex(secret, t, body), 'hex');
  return parts
    .filter((p) => p.startsWith('v1='))
    .some((p) => {
      const given = Buffer.from(p.slice(3), 'hex');
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
}
