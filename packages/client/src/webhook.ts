/** Header carrying a webhook's signature: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`. */
export const WEBHOOK_SIGNATURE_HEADER = 'Revive-Signature';
/** Signatures older or newer than this are refused, so a captured delivery cannot be replayed later. @default 300 */
export const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300;

export interface VerifyWebhookOptions {
  /** @default DEFAULT_WEBHOOK_TOLERANCE_SECONDS */
  readonly toleranceSeconds?: number;
  /** The receiver's clock, in Unix seconds. @default now */
  readonly nowSeconds?: number;
}

const encoder = new TextEncoder();

function hexToBytes(hex: string): Uint8Array<ArrayBuffer> | undefined {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return undefined;
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/**
 * True when `header` (the `Revive-Signature` value) signs `rawBody` with `secret`, within the tolerance.
 * Pass the body exactly as received (before JSON parsing). Uses Web Crypto's HMAC verify, which compares in constant
 * time, so it runs in Node 20+, Deno, Bun, edge runtimes and browsers alike. Several `v1=` entries are accepted (a
 * sender rotating its secret signs with both).
 */
export async function verifyWebhook(
  rawBody: string | Uint8Array,
  header: string | null | undefined,
  secret: string,
  options: VerifyWebhookOptions = {},
): Promise<boolean> {
  if (!header || !secret) return false;
  const parts = header.split(',').map((p) => p.trim());
  const tText = parts.find((p) => p.startsWith('t='))?.slice(2) ?? '';
  const t = /^\d+$/.test(tText) ? Number(tText) : Number.NaN;
  if (!Number.isSafeInteger(t)) return false;
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - t) > (options.toleranceSeconds ?? DEFAULT_WEBHOOK_TOLERANCE_SECONDS)) return false;
  const body = typeof rawBody === 'string' ? encoder.encode(rawBody) : rawBody;
  const prefix = encoder.encode(`${t}.`);
  const signed = new Uint8Array(prefix.length + body.length);
  signed.set(prefix, 0);
  signed.set(body, prefix.length);
  const key = await globalThis.crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  let valid = false;
  // Every entry is checked (no early exit), so timing does not tell which entry matched.
  for (const part of parts.filter((p) => p.startsWith('v1='))) {
    const signature = hexToBytes(part.slice(3));
    if (signature === undefined || signature.length !== 32) continue;
    if (await globalThis.crypto.subtle.verify('HMAC', key, signature, signed)) valid = true;
  }
  return valid;
}
