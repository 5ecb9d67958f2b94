import { signWebhook, WEBHOOK_EVENT_HEADER, WEBHOOK_SIGNATURE_HEADER, type WebhookEvent } from '@revive/contract';
import type { SafeHttpClient } from './source-fetch.js';
import { messageOf } from '../errors.js';

/** Attempts per webhook, the first included. @default 5 */
export const DEFAULT_WEBHOOK_MAX_ATTEMPTS = 5;
/** First retry delay; doubles per attempt, with full jitter. @default 1_000 */
export const DEFAULT_WEBHOOK_BASE_DELAY_MS = 1_000;
/** Cap on one retry delay. @default 30_000 */
export const DEFAULT_WEBHOOK_MAX_DELAY_MS = 30_000;
/** One POST. @default 10_000 */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;

export interface WebhookOptions {
  /** HMAC key (REVIVE_WEBHOOK_SECRET); without it webhooks are sent unsigned, and the log says so. */
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

/** What one delivery came to. */
export interface WebhookOutcome {
  readonly delivered: boolean;
  readonly attempts: number;
  readonly status?: number;
  readonly error?: string;
  /** Not delivered, and retrying would not help: a forbidden address or a final 4xx. */
  readonly final?: boolean;
}

/** Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"). */
export function backoffDelayMs(attempt: number, baseDelayMs: number, maxDelayMs: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(maxDelayMs, baseDelayMs * 2 ** attempt));
}

/**
 * Posts a finished job to its webhook URL, signed, with bounded retries. 2xx is success; 4xx other than 408/429
 * is final (the receiver refused it, retrying will not help); anything else is retried. Never throws: a webhook
 * failure is logged by the caller and never fails the job. The SafeHttpClient applies the SSRF rules.
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
  }

  async send(url: string, event: WebhookEvent, payload: unknown, signal?: AbortSignal): Promise<WebhookOutcome> {
    const body = JSON.stringify(payload);
    let last: WebhookOutcome = { delivered: false, attempts: 0 };
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      if (attempt > 0) {
        await sleep(backoffDelayMs(attempt - 1, this.baseDelayMs, this.maxDelayMs), signal);
        if (signal?.aborted) break;
      }
      // Signed per attempt: the timestamp is part of the signature, and a receiver may refuse old ones.
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'user-agent': 'revive-worker',
        [WEBHOOK_EVENT_HEADER.toLowerCase()]: event,
      };
      if (this.options.secret) headers[WEBHOOK_SIGNATURE_HEADER.toLowerCase()] = signWebhook(this.options.secret, body);
      try {
        const status = await this.http.post(url, body, headers, this.timeoutMs);
        if (status >= 200 && status < 300) return { delivered: true, attempts: attempt + 1, status };
        last = { delivered: false, attempts: attempt + 1, status, error: `answered ${status}` };
        if (status >= 400 && status < 500 && status !== 408 && status !== 429) return { ...last, final: true };
      } catch (error) {
        const message = messageOf(error);
        last = { delivered: false, attempts: attempt + 1, error: message };
        if ((error as { code?: string }).code === 'FORBIDDEN_URL') return { ...last, final: true };
      }
    }
    return last;
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
