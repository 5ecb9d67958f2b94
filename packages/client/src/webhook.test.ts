import { signWebhook } from '@revive/contract';
import { describe, expect, it } from 'vitest';
import { verifyWebhook } from './webhook.js';

const SECRET = 'whsec-0123456789abcdef';
const BODY = '{"id":"x","status":"SUCCEEDED","note":"é"}';
const T = 1_700_000_000;

describe('verifyWebhook (Web Crypto)', () => {
  it("accepts the worker's signature (the contract's signWebhook) and refuses any change", async () => {
    const header = signWebhook(SECRET, BODY, T);
    expect(await verifyWebhook(BODY, header, SECRET, { nowSeconds: T + 10 })).toBe(true);
    expect(await verifyWebhook(new TextEncoder().encode(BODY), header, SECRET, { nowSeconds: T })).toBe(true);
    expect(await verifyWebhook(`${BODY} `, header, SECRET, { nowSeconds: T })).toBe(false);
    expect(await verifyWebhook(BODY, header, 'whsec-another-secret-000', { nowSeconds: T })).toBe(false);
    expect(await verifyWebhook(BODY, header.replace(`t=${T}`, `t=${T + 1}`), SECRET, { nowSeconds: T })).toBe(false);
  });

  it('refuses old or future signatures, and malformed headers', async () => {
    const header = signWebhook(SECRET, BODY, T);
    expect(await verifyWebhook(BODY, header, SECRET, { nowSeconds: T + 301 })).toBe(false);
    expect(await verifyWebhook(BODY, header, SECRET, { nowSeconds: T - 301 })).toBe(false);
    expect(await verifyWebhook(BODY, header, SECRET, { nowSeconds: T + 600, toleranceSeconds: 900 })).toBe(true);
    for (const bad of [undefined, null, '', 'v1=abc', `t=${T}`, `t=${T},v1=zz`, `t=${T},v1=${'0'.repeat(64)}`, `t=1e9,v1=${'0'.repeat(64)}`]) {
      expect(await verifyWebhook(BODY, bad, SECRET, { nowSeconds: T })).toBe(false);
    }
    expect(await verifyWebhook(BODY, header, '', { nowSeconds: T })).toBe(false);
  });

  it('accepts any of several v1 entries (secret rotation)', async () => {
    const old = signWebhook('whsec-old-secret-0000000', BODY, T);
    const current = signWebhook(SECRET, BODY, T);
    expect(await verifyWebhook(BODY, `${old},${current.split(',')[1]!}`, SECRET, { nowSeconds: T })).toBe(true);
  });
});
