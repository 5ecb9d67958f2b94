import { signWebhook, WEBHOOK_EVENT_HEADER, WEBHOOK_ID_HEADER, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER, webhookKey, type WebhookEvent } from '@revive/contract';
import type { SafeHttpClient } from './source-fetch.js';
import { messageOf } from '@revive/pipeline/errors';

/**
 * Quick attempts in the process that finished the job, the first included; what they leave undelivered goes to the
 * durable schedule (webhook-retries.ts). @default 3
 */
export const DEFAULT_WEBHOOK_MAX_ATTEMPTS = 3;
/** First quick retry delay; doubles per attempt, with full jitter. @default 1_000 */
export const DEFAULT_WEBHOOK_BASE_DELAY_MS = 1_000;
/** Cap on one quick retry delay. @default 4_000 */
export const DEFAULT_WEBHOOK_MAX_DELAY_MS = 4_000;
/** One POST. @default 10_000 */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;
/**
 * Delays of the durable retries after the quick ones, each from the attempt before: 30 s, 2 min, 10 min, 30 min, 1 h,
 * 3 h, 6 h, 12 h, so a receiver gets 11 attempts over about 23 h (Stripe retries over days, Replicate over minutes;
 * a day covers a receiver that is down overnight). Each is jittered by ±WEBHOOK_RETRY_JITTER. @default see the list
 */
export const DEFAULT_WEBHOOK_RETRY_DELAYS_SECONDS: readonly number[] = [30, 120, 600, 1_800, 3_600, 10_800, 21_600, 43_200];
/** Relative jitter of a durable retry delay, so that the retries of many jobs failed together spread out. */
export const WEBHOOK_RETRY_JITTER = 0.1;

export interface WebhookOptions {
  /**
   * Signing secret, `whsec_<base64>` (REVIVE_WEBHOOK_SECRET, validated by webhookSecretSchema); without it webhooks are
   * sent unsigned, and the log says so.
   */
  readonly secret: string | undefined;
  /** @default DEFAULT_WEBHOOK_MAX_ATTEMPTS */
  readonly maxAttempts?: number;
  /** @default DEFAULT_WEBHOOK_BASE_DELAY_MS */
  readonly baseDelayMs?: number;
  /** @default DEFAULT_WEBHOOK_MAX_DELAY_MS */
  readonly maxDelayMs?: number;
  /** @default DEFAULT_WEBHOOK_TIMEOUT_MS */
  readonly timeoutMs?: number;
}

/** One delivery: what it is about and its body. Every attempt of it, quick or durable, carries the same `id`. */
export interface WebhookMessage {
  /** The `webhook-id` header: webhookMessageId(jobId, event), so that receivers can drop duplicates. */
  readonly id: string;
  readonly event: WebhookEvent;
  /** Sent as JSON. */
  readonly payload: unknown;
}

/** What one delivery came to. */
export interface WebhookOutcome {
  readonly delivered: boolean;
  readonly attempts: number;
  readonly status?: number;
  readonly error?: string;
  /** Not delivered, and retrying would not help: a forbidden address, a 3xx or a final 4xx. */
  readonly final?: boolean;
}

/** What one answer means: delivered, final (never retried), or worth another attempt. */
export type WebhookAnswerClass = 'delivered' | 'final' | 'retry';

/**
 * Classifies a receiver's HTTP status. 2xx is delivered. 3xx is final: a redirect is never followed (the signed body
 * would go to an address the caller did not register, past the SSRF check of the one it did), and it will not change
 * by itself. 4xx is final (the receiver refused it) except 408 and 429, which ask for a retry. 5xx, and anything
 * else, is retried.
 */
export function classifyWebhookStatus(status: number): WebhookAnswerClass {
  if (status >= 200 && status < 300) return 'delivered';
  if (status >= 300 && status < 400) return 'final';
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) return 'final';
  return 'retry';
}

/** A failed POST (no answer): a forbidden address is final; timeouts, refused or reset connections are retried. */
export function classifyWebhookError(error: unknown): WebhookAnswerClass {
  return (error as { code?: string }).code === 'FORBIDDEN_URL' ? 'final' : 'retry';
}

/** Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"). */
export function backoffDelayMs(attempt: number, baseDelayMs: number, maxDelayMs: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(maxDelayMs, baseDelayMs * 2 ** attempt));
}

/**
 * The delay before durable retry `index` (0-based) of `delaysSeconds`, jittered by ±WEBHOOK_RETRY_JITTER; undefined
 * once the schedule has run out. Whole seconds, at least 1.
 */
export function webhookRetryDelaySeconds(index: number, delaysSeconds: readonly number[] = DEFAULT_WEBHOOK_RETRY_DELAYS_SECONDS, random: () => number = Math.random): number | undefined {
  const base = delaysSeconds[index];
  if (base === undefined) return undefined;
  return Math.max(1, Math.round(base * (1 + WEBHOOK_RETRY_JITTER * (2 * random() - 1))));
}

/**
 * Posts a finished job to its webhook URL, signed per Standard Webhooks (webhook-id, webhook-timestamp,
 * webhook-signature; see @revive/contract's webhook.ts). `send` makes the quick in-process attempts with backoff;
 * `attemptOnce` makes one (the durable retries). Classification: classifyWebhookStatus / classifyWebhookError. Never
 * throws: a webhook failure never fails the job. The SafeHttpClient applies the SSRF rules and follows no redirect.
 */
export class WebhookSender {
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly http: SafeHttpClient,
    private readonly options: WebhookOptions,
  ) {
    this.maxAttempts = options.maxAttempts ?? DEFAULT_WEBHOOK_MAX_ATTEMPTS;
    this.baseDelayMs = options.baseDelayMs ?? DEFAULT_WEBHOOK_BASE_DELAY_MS;
    this.maxDelayMs = options.maxDelayMs ?? DEFAULT_WEBHOOK_MAX_DELAY_MS;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
    // A secret that is not one fails here, at start, rather than as a signature no receiver accepts.
    if (options.secret !== undefined) webhookKey(options.secret);
  }

  async send(url: string, message: WebhookMessage, signal?: AbortSignal): Promise<WebhookOutcome> {
    const body = JSON.stringify(message.payload);
    let last: WebhookOutcome = { delivered: false, attempts: 0 };
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      if (attempt > 0) {
        await sleep(backoffDelayMs(attempt - 1, this.baseDelayMs, this.maxDelayMs), signal);
        if (signal?.aborted) break;
      }
      const one = await this.post(url, message, body);
      last = { ...one, attempts: attempt + 1 };
      if (one.delivered || one.final) return last;
    }
    return last;
  }

  /** One POST; `attempts` in the outcome is 1. */
  async attemptOnce(url: string, message: WebhookMessage): Promise<WebhookOutcome> {
    return { ...(await this.post(url, message, JSON.stringify(message.payload))), attempts: 1 };
  }

  private async post(url: string, message: WebhookMessage, body: string): Promise<Omit<WebhookOutcome, 'attempts'>> {
    // Signed per attempt: the timestamp is part of the signature, and a receiver refuses old ones.
    const timestampSeconds = Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'revive-worker',
      [WEBHOOK_ID_HEADER]: message.id,
      [WEBHOOK_TIMESTAMP_HEADER]: String(timestampSeconds),
      [WEBHOOK_EVENT_HEADER.toLowerCase()]: message.event,
    };
    if (this.options.secret) headers[WEBHOOK_SIGNATURE_HEADER] = signWebhook(this.options.secret, message.id, timestampSeconds, body);
    try {
      const status = await this.http.post(url, body, headers, this.timeoutMs);
      const verdict = classifyWebhookStatus(status);
      if (verdict === 'delivered') return { delivered: true, status };
      const reason = verdict === 'final' && status < 400 ? `answered ${status} (a redirect, which is not followed)` : `answered ${status}`;
      return { delivered: false, status, error: reason, ...(verdict === 'final' && { final: true }) };
    } catch (error) {
      return { delivered: false, error: messageOf(error), ...(classifyWebhookError(error) === 'final' && { final: true }) };
    }
  }
}

async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
