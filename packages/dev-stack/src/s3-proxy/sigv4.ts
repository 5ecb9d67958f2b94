import { createHmac } from 'node:crypto';

/**
 * The SigV4 primitives both signing paths rest on: the POST policy is signed with the derived key directly, and
 * the presigned GET's request time is parsed from its `X-Amz-Date`.
 */

/** HMAC-SHA256 of `data` under `key`, the step SigV4 repeats to derive its signing key. */
export function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/** SigV4 signing key for (date, region, service). */
export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

/** `20261128T101500Z` → epoch ms; NaN when it is not in SigV4's basic format. */
export function parseAmzDate(value: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  return m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) : Number.NaN;
}
