// Revive's webhooks follow Standard Webhooks (standardwebhooks.com): what this verifies, the `standardwebhooks`
// libraries (and Svix's) verify too, so a receiver may use either.

/** The delivery's id: the same on every attempt of one delivery (retries included), so a receiver can drop duplicates. */
export const WEBHOOK_ID_HEADER = 'webhook-id';
/** Unix seconds of this attempt, covered by the signature. */
export const WEBHOOK_TIMESTAMP_HEADER = 'webhook-timestamp';
/** Space-separated `v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">` entries. */
export const WEBHOOK_SIGNATURE_HEADER = 'webhook-signature';
/** What happened: `job.succeeded`, `job.failed` or `job.canceled` (not signed; the body's `status` is). */
export const WEBHOOK_EVENT_HEADER = 'revive-event';
/** Prefix of a webhook secret; the rest is the HMAC key, base64-encoded. */
export const WEBHOOK_SECRET_PREFIX = 'whsec_';
/** Timestamps older or newer than this are refused, so a captured delivery cannot be replayed later. @default 300 */
export const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300;

/** A webhook's event, as the `revive-event` header names it. */
export type WebhookEvent = 'job.succeeded' | 'job.failed' | 'job.canceled';

/**
 * The request's headers: a fetch `Headers` (Request.headers in edge runtimes, Next.js, Hono) or a plain object (Node's
 * `req.headers`, Express's, Lambda's `event.headers`); names are matched without regard to case.
 */
export type WebhookHeaders = { get(name: string): string | null } | Readonly<Record<string, string | readonly string[] | undefined>>;

export interface VerifyWebhookOptions {
  /** @default DEFAULT_WEBHOOK_TOLERANCE_SECONDS */
  readonly toleranceSeconds?: number;
  /** The receiver's clock, in Unix seconds. @default now */
  readonly nowSeconds?: number;
}

const encoder = new TextEncoder();
// Canonical base64 only: atob ignores whitespace and missing padding, which would let a mangled value through.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function base64ToBytes(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!BASE64.test(text)) return undefined;
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof headers.get === 'function') return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  const record = headers as Readonly<Record<string, string | readonly string[] | undefined>>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return typeof value === 'string' ? value : undefined;
}

/**
 * The HMAC key of a webhook secret: `whsec_` then base64 (the prefix is optional, as in the Standard Webhooks
 * libraries). Throws a TypeError for anything else: a misconfigured receiver should fail loudly (a 5xx, which the
 * sender retries), not refuse every delivery as forged.
 */
function webhookKeyBytes(secret: string): Uint8Array<ArrayBuffer> {
  const key = base64ToBytes(secret.startsWith(WEBHOOK_SECRET_PREFIX) ? secret.slice(WEBHOOK_SECRET_PREFIX.length) : secret);
  if (key === undefined || key.length === 0) throw new TypeError('A Revive webhook secret is "whsec_" followed by base64.');
  return key;
}

/**
 * True when the Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`) sign `rawBody` with
 * `secret` (`whsec_…`), and the timestamp is within the tolerance of now. Pass the body exactly as received, before any
 * JSON parsing. Uses Web Crypto's HMAC verify, which compares in constant time, so it runs in Node 20+, Deno, Bun, edge
 * runtimes and browsers alike. Any one matching `v1,` entry is enough (a sender rotating its secret signs with both).
 * Deliveries are at least once: drop a `webhook-id` already handled.
 * @throws TypeError when `secret` is not a webhook secret.
 */
export async function verifyWebhook(rawBody: string | Uint8Array, headers: WebhookHeaders, secret: string, options: VerifyWebhookOptions = {}): Promise<boolean> {
  const key = await globalThis.crypto.subtle.importKey('raw', webhookKeyBytes(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const id = header(headers, WEBHOOK_ID_HEADER);
  const timestamp = header(headers, WEBHOOK_TIMESTAMP_HEADER);
  const signatures = header(headers, WEBHOOK_SIGNATURE_HEADER);
  if (!id || !timestamp || !signatures || !/^\d+$/.test(timestamp)) return false;
  const t = Number(timestamp);
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (!Number.isSafeInteger(t) || Math.abs(now - t) > (options.toleranceSeconds ?? DEFAULT_WEBHOOK_TOLERANCE_SECONDS)) return false;
  const body = typeof rawBody === 'string' ? encoder.encode(rawBody) : rawBody;
  const prefix = encoder.encode(`${id}.${t}.`);
  const signed = new Uint8Array(prefix.length + body.length);
  signed.set(prefix, 0);
  signed.set(body, prefix.length);
  let valid = false;
  // Every entry is checked (no early exit), so timing does not tell which entry matched.
  for (const entry of signatures.split(' ')) {
    if (!entry.startsWith('v1,')) continue;
    const signature = base64ToBytes(entry.slice(3));
    if (signature === undefined || signature.length !== 32) continue;
    if (await globalThis.crypto.subtle.verify('HMAC', key, signature, signed)) valid = true;
  }
  return valid;
}
