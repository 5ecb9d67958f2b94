// The multipart upload's re-signing decisions against a fake API and storage (a fetch function): which refusals count
// as an expired URL, what a failed re-sign does, and whose clock decides. The emulator-backed flow is in
// test/multipart.test.ts; the storage cannot be made to answer ExpiredToken or a throttled re-sign on demand there.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Revive } from './client.js';
import { ReviveError } from './errors.js';

const PART_BYTES = 8;
const TTL_SECONDS = 900;
const UPLOAD = { upload_key: 'uploads/t/v', upload_id: 'u1' };

type PutAnswer = (part: number, version: number) => Response;
/** The re-sign route's answer to its `call`-th request; undefined: fresh URLs. */
type ResignAnswer = (asked: number[] | undefined, call: number) => Response | undefined;

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
const problem = (status: number, code: string, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify({ type: 'about:blank', title: code, status, code }), { status, headers: { 'content-type': 'application/problem+json', ...headers } });
const s3Error = (status: number, code: string, message: string) =>
  new Response(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`, { status, headers: { 'content-type': 'application/xml' } });
const stored = (part: number, version: number) => new Response(null, { status: 200, headers: { etag: `"p${part}v${version}"` } });

/**
 * A fake API and bucket. The API's clock is `apiClockMs()`; the part URLs carry a version (0 from creation, n from the
 * n-th re-sign) so a test sees which URL each PUT used.
 */
function fake(options: {
  parts: number;
  put?: PutAnswer;
  resign?: ResignAnswer;
  apiClockMs?: () => number;
  partSizeBytes?: (call: number) => number;
}) {
  const apiClockMs = options.apiClockMs ?? (() => Date.now());
  const log: { puts: [part: number, version: number, status: number][]; resigns: (number[] | undefined)[]; completed: boolean; aborted: boolean } = {
    puts: [],
    resigns: [],
    completed: false,
    aborted: false,
  };
  const signed = (partNumbers: number[], version: number) => ({
    parts: partNumbers.map((n) => ({ part_number: n, url: `https://bucket.test/v?uploadId=u1&partNumber=${n}&version=${version}` })),
    expires_at: new Date(apiClockMs() + TTL_SECONDS * 1000).toISOString(),
    expires_in_seconds: TTL_SECONDS,
  });
  const all = Array.from({ length: options.parts }, (_, i) => i + 1);
  const fetchImpl: typeof fetch = async (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    if (url.host === 'bucket.test') {
      const part = Number(url.searchParams.get('partNumber'));
      const version = Number(url.searchParams.get('version'));
      const res = (options.put ?? stored)(part, version);
      log.puts.push([part, version, res.status]);
      return res;
    }
    switch (url.pathname) {
      case '/uploads/multipart':
        return json(201, { ...UPLOAD, part_size_bytes: PART_BYTES, ...signed(all, 0) });
      case '/uploads/multipart/parts': {
        const asked = (JSON.parse(String(init?.body)) as { partNumbers?: number[] }).partNumbers;
        log.resigns.push(asked);
        const res = options.resign?.(asked, log.resigns.length);
        if (res !== undefined) return res;
        return json(200, { part_size_bytes: options.partSizeBytes?.(log.resigns.length) ?? PART_BYTES, ...signed(asked ?? all, log.resigns.length) });
      }
      case '/uploads/multipart/complete':
        log.completed = true;
        return json(200, { upload_key: UPLOAD.upload_key });
      case '/uploads/multipart/abort':
        log.aborted = true;
        return new Response(null, { status: 204 });
      default:
        return problem(404, 'ROUTE_NOT_FOUND');
    }
  };
  return { revive: new Revive({ baseUrl: 'https://api.test', tenant: 't', fetch: fetchImpl, retryDelayMs: 1 }), log };
}

const fileOf = (parts: number) => new Blob([new Uint8Array(parts * PART_BYTES)], { type: 'video/mp4' });
/** This machine's clock, `offsetMs` from the real one (the fake API's clock stays real unless a test says otherwise). */
const shiftClock = (offsetMs: () => number) => {
  const real = Date.now.bind(Date);
  vi.spyOn(Date, 'now').mockImplementation(() => real() + offsetMs());
  return real;
};
const fast = { concurrency: 1, resignRetryDelayMs: 1, resignMaxRetryDelayMs: 4, partRetryDelayMs: 1 } as const;

afterEach(() => {
  vi.restoreAllMocks();
});

describe('uploads.createMultipart re-signing', () => {
  it('signs a part again when the storage refuses its URL as expired: 400 ExpiredToken (dead credentials) or 403 "Request has expired"', async () => {
    for (const refusal of [() => s3Error(400, 'ExpiredToken', 'The provided token has expired.'), () => s3Error(403, 'AccessDenied', 'Request has expired')]) {
      const { revive, log } = fake({ parts: 2, put: (part, version) => (part === 2 && version === 0 ? refusal() : stored(part, version)) });
      await revive.uploads.createMultipart(fileOf(2), fast);
      expect(log.puts).toEqual([
        [1, 0, 200],
        [2, 0, refusal().status],
        [2, 1, 200],
      ]);
      expect(log.resigns).toEqual([[2]]);
      expect(log.completed).toBe(true);
    }
  });

  it('fails at once, keeping the storage code, for a refusal that is not an expiry', async () => {
    const { revive, log } = fake({ parts: 2, put: (part, version) => (part === 2 ? s3Error(403, 'AccessDenied', 'Access Denied') : stored(part, version)) });
    const error = await revive.uploads.createMultipart(fileOf(2), fast).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReviveError);
    expect(error).toMatchObject({ code: 'UPLOAD_REJECTED', status: 403, storage: { code: 'AccessDenied', message: 'Access Denied' } });
    expect(log.resigns).toEqual([]);
    expect(log.aborted).toBe(true);
  });

  it('goes on with URLs that still work when an early re-sign fails, and tries again before the next part', async () => {
    // Once part 1 is stored, time jumps to 20 s before the URLs' expiry: within the 30 s margin, so each later part
    // wants a re-sign first, and the URLs in hand still work. The first three re-signs fail (more than the client's
    // request retries), the fourth works.
    let late = false;
    shiftClock(() => (late ? (TTL_SECONDS - 20) * 1000 : 0));
    const { revive, log } = fake({
      parts: 5,
      put: (part, version) => {
        late = true;
        return stored(part, version);
      },
      resign: (_asked, call) => (call <= 3 ? problem(503, 'SERVICE_UNAVAILABLE', { 'retry-after': '0' }) : undefined),
    });
    const upload = await revive.uploads.createMultipart(fileOf(5), { ...fast, resignMarginMs: 30_000 });
    expect(upload.uploadKey).toBe(UPLOAD.upload_key);
    expect(log.resigns).toEqual([[2, 3, 4, 5], [3, 4, 5], [4, 5], [5]]);
    expect(log.puts).toEqual([
      [1, 0, 200],
      [2, 0, 200],
      [3, 0, 200],
      [4, 0, 200],
      [5, 4, 200],
    ]);
    expect(log.completed).toBe(true);
  });

  it('asks again with pauses for a re-sign a dead URL needs, and fails with the API\'s own code when none comes', async () => {
    const expiredOnce = (part: number, version: number) => (version === 0 ? s3Error(403, 'AccessDenied', 'Request has expired') : stored(part, version));
    const throttledTwice = fake({ parts: 1, put: expiredOnce, resign: (_asked, call) => (call <= 2 ? problem(429, 'RATE_LIMITED') : undefined) });
    await throttledTwice.revive.uploads.createMultipart(fileOf(1), fast);
    expect(throttledTwice.log.resigns).toHaveLength(3);
    expect(throttledTwice.log.puts).toEqual([
      [1, 0, 403],
      [1, 3, 200],
    ]);

    const throttled = fake({ parts: 1, put: expiredOnce, resign: () => problem(429, 'RATE_LIMITED') });
    const error = await throttled.revive.uploads.createMultipart(fileOf(1), { ...fast, resignAttempts: 4 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'RATE_LIMITED', status: 429 });
    expect(throttled.log.resigns).toHaveLength(4);
    expect(throttled.log.aborted).toBe(true);

    // A refusal that will not change (the upload is gone) is not asked again.
    const gone = fake({ parts: 1, put: expiredOnce, resign: () => problem(422, 'UPLOAD_NOT_FOUND') });
    await expect(gone.revive.uploads.createMultipart(fileOf(1), fast)).rejects.toMatchObject({ code: 'UPLOAD_NOT_FOUND', status: 422 });
    expect(gone.log.resigns).toHaveLength(1);
  });

  it("measures the URLs' life with this machine's clock, so a clock hours ahead of the API's does not re-sign before every part", async () => {
    // The API's clock is real; this one is two hours ahead, so `expires_at` looks long past here.
    const real = shiftClock(() => 2 * 3600_000);
    const { revive, log } = fake({ parts: 3, apiClockMs: real });
    await revive.uploads.createMultipart(fileOf(3), fast);
    expect(log.resigns).toEqual([]);
    expect(log.puts.map(([part, version]) => [part, version])).toEqual([
      [1, 0],
      [2, 0],
      [3, 0],
    ]);
  });

  it('fails with a clear error, sending no part at the old size, when a re-sign answers another part size', async () => {
    const { revive, log } = fake({
      parts: 2,
      put: (part, version) => (version === 0 && part === 2 ? s3Error(403, 'AccessDenied', 'Request has expired') : stored(part, version)),
      partSizeBytes: () => 2 * PART_BYTES,
    });
    const error = await revive.uploads.createMultipart(fileOf(2), fast).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'HTTP_ERROR', detail: expect.stringContaining(`${2 * PART_BYTES}-byte parts`) });
    expect(log.puts).toEqual([
      [1, 0, 200],
      [2, 0, 403],
    ]);
    expect(log.aborted).toBe(true);
  });
});
