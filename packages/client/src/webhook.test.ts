import { signWebhook } from '@revive/contract';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { verifyWebhook } from './webhook.js';

const KEY = new TextEncoder().encode('a 32-byte key for client tests!!');
const SECRET = `whsec_${Buffer.from(KEY).toString('base64')}`;
const OTHER = `whsec_${Buffer.alloc(32, 3).toString('base64')}`;
const BODY = '{"id":"x","status":"SUCCEEDED","note":"é"}';
const ID = 'msg_0b6e8f0e-5f2c-4f5e-9a7e-2d7c7d1f0a11_succeeded';
const T = 1_700_000_000;

/** The headers the worker sends (the contract's signer). */
function signed(secret = SECRET, t = T, id = ID, body = BODY): Record<string, string> {
  return { 'webhook-id': id, 'webhook-timestamp': String(t), 'webhook-signature': signWebhook(secret, id, t, body) };
}

describe('verifyWebhook (Standard Webhooks, Web Crypto)', () => {
  it("accepts the worker's signature and refuses any change to the body, id, timestamp or secret", async () => {
    expect(await verifyWebhook(BODY, signed(), SECRET, { nowSeconds: T + 10 })).toBe(true);
    expect(await verifyWebhook(new TextEncoder().encode(BODY), signed(), SECRET, { nowSeconds: T })).toBe(true);
    expect(await verifyWebhook(`${BODY} `, signed(), SECRET, { nowSeconds: T })).toBe(false);
    expect(await verifyWebhook(BODY, signed(), OTHER, { nowSeconds: T })).toBe(false);
    expect(await verifyWebhook(BODY, { ...signed(), 'webhook-timestamp': String(T + 1) }, SECRET, { nowSeconds: T })).toBe(false);
    expect(await verifyWebhook(BODY, { ...signed(), 'webhook-id': `${ID}x` }, SECRET, { nowSeconds: T })).toBe(false);
  });

  it('agrees with the standardwebhooks library both ways, and on the spec example', async () => {
    const reference = new Webhook(SECRET);
    const now = Math.floor(Date.now() / 1000);
    const theirs = { 'webhook-id': ID, 'webhook-timestamp': String(now), 'webhook-signature': reference.sign(ID, new Date(now * 1000), BODY) };
    expect(await verifyWebhook(BODY, theirs, SECRET)).toBe(true);
    expect(reference.verify(BODY, signed(SECRET, now))).toEqual(JSON.parse(BODY));
    const spec = { 'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek', 'webhook-timestamp': '1614265330', 'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' };
    expect(await verifyWebhook('{"test": 2432232314}', spec, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', { nowSeconds: 1_614_265_330 })).toBe(true);
    // The prefix is optional, as in the reference libraries.
    expect(await verifyWebhook('{"test": 2432232314}', spec, 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', { nowSeconds: 1_614_265_330 })).toBe(true);
  });

  it('reads fetch Headers and header objects in any case', async () => {
    expect(await verifyWebhook(BODY, new Headers(signed()), SECRET, { nowSeconds: T })).toBe(true);
    const upper = Object.fromEntries(Object.entries(signed()).map(([k, v]) => [k.toUpperCase(), v]));
    expect(await verifyWebhook(BODY, upper, SECRET, { nowSeconds: T })).toBe(true);
  });

  it('refuses old or future timestamps, and missing or malformed headers', async () => {
    expect(await verifyWebhook(BODY, signed(), SECRET, { nowSeconds: T + 301 })).toBe(false);
    expect(await verifyWebhook(BODY, signed(), SECRET, { nowSeconds: T - 301 })).toBe(false);
    expect(await verifyWebhook(BODY, signed(), SECRET, { nowSeconds: T + 600, toleranceSeconds: 900 })).toBe(true);
    const good = signed();
    const zeros = `v1,${Buffer.alloc(32).toString('base64')}`;
    for (const bad of [
      {},
      { ...good, 'webhook-id': '' },
      { 'webhook-id': ID, 'webhook-signature': good['webhook-signature']! },
      { 'webhook-id': ID, 'webhook-timestamp': String(T) },
      { ...good, 'webhook-timestamp': '1.7e9' },
      { ...good, 'webhook-timestamp': `-${T}` },
      { ...good, 'webhook-signature': good['webhook-signature']!.replace('v1,', 'v2,') },
      { ...good, 'webhook-signature': good['webhook-signature']!.slice(3) },
      { ...good, 'webhook-signature': 'v1,not base64!' },
      { ...good, 'webhook-signature': zeros },
      { ...good, 'webhook-signature': `${zeros.slice(0, -4)}` },
    ]) {
      expect(await verifyWebhook(BODY, bad, SECRET, { nowSeconds: T }), JSON.stringify(bad)).toBe(false);
    }
  });

  it('accepts any of several space-separated signatures (secret rotation)', async () => {
    const old = signed(OTHER)['webhook-signature']!;
    const current = signed()['webhook-signature']!;
    expect(await verifyWebhook(BODY, { ...signed(), 'webhook-signature': `${old} ${current}` }, SECRET, { nowSeconds: T })).toBe(true);
    expect(await verifyWebhook(BODY, { ...signed(), 'webhook-signature': `${current} ${old}` }, SECRET, { nowSeconds: T })).toBe(true);
    expect(await verifyWebhook(BODY, { ...signed(), 'webhook-signature': old }, SECRET, { nowSeconds: T })).toBe(false);
  });

  it('throws on a secret that is not whsec_ base64, rather than refusing every delivery', async () => {
    for (const bad of ['', 'whsec_', 'a raw passphrase', 'whsec_abc']) {
      await expect(verifyWebhook(BODY, signed(), bad, { nowSeconds: T })).rejects.toThrow(TypeError);
    }
  });
});
