// A video's multipart upload by @revive/client against the local stack: the real API handlers, the /s3 proxy's
// presigned parts, the emulator's multipart API. A fetch wrapper only watches the calls, or fails one on purpose.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

import { randomBytes } from 'node:crypto';
import { GetObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { createReviveResources, localAwsEnv, localClients } from '@revive/local-aws';
import type {} from '@revive/local-aws/vitest-setup';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLocalServer, type LocalServer } from '../../dev-stack/src/server.js';
import { Revive, ReviveError, type UploadProgress } from '../src/index.js';

const MiB = 1024 * 1024;
const TENANT = 'client-multipart';
const aws = inject('localAws');
const clients = localClients(aws);
let server: LocalServer;
let bucket: string;
let stackEnv: Record<string, string>;

/** When a presigned URL stops working: its signing time plus its lifetime, as S3 (and the /s3 proxy) reckon it. */
const expiryOf = (url: string) => {
  const params = new URL(url).searchParams;
  const signedAt = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(params.get('X-Amz-Date') ?? '');
  if (signedAt === null) throw new Error(`Not a presigned URL: ${url}`);
  const [, y, mo, d, h, mi, sec] = signedAt.map(Number) as [number, number, number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi, sec) + Number(params.get('X-Amz-Expires')) * 1000;
};
/** Resolves once `url` has expired (and a second more, past the storage's whole-second clock). */
const expired = async (url: string) => await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiryOf(url) + 1000 - Date.now())));

/** Which part a presigned part URL is for; undefined for any other request. */
const partOf = (url: string) => (new URL(url).searchParams.has('uploadId') ? Number(new URL(url).searchParams.get('partNumber')) : undefined);
const urlOf = (input: Parameters<typeof fetch>[0]) => (typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);

beforeAll(async () => {
  const resources = await createReviveResources(aws, { prefix: `revive-client-mp-${Date.now().toString(36)}` });
  bucket = resources.bucketName;
  stackEnv = { ...localAwsEnv(aws, resources) };
  server = await startLocalServer({ env: { ...process.env, ...stackEnv }, port: 0 });
});
afterAll(async () => {
  await server?.close();
  clients.s3.destroy();
  clients.sqs.destroy();
  clients.dynamodb.destroy();
});

describe('uploads.createMultipart', () => {
  it('uploads the parts in parallel up to the concurrency, retries a part that failed once, reports progress, and stores the file', async () => {
    const file = new Blob([randomBytes(3 * 8 * MiB + 5 * MiB)], { type: 'video/webm' });
    let inFlight = 0;
    let mostInFlight = 0;
    const tries = new Map<number, number>();
    const watched: typeof fetch = async (input, init) => {
      const part = partOf(urlOf(input));
      if (part === undefined) return await fetch(input, init);
      tries.set(part, (tries.get(part) ?? 0) + 1);
      // What undici throws when the connection drops mid-request.
      if (part === 2 && tries.get(part) === 1) throw new TypeError('fetch failed');
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      try {
        return await fetch(input, init);
      } finally {
        inFlight--;
      }
    };
    const progress: UploadProgress[] = [];
    const revive = new Revive({ baseUrl: server.url, tenant: TENANT, fetch: watched });
    const upload = await revive.uploads.createMultipart(file, { concurrency: 2, partRetryDelayMs: 10, onUploadProgress: (p) => progress.push(p) });

    expect(upload).toMatchObject({ size: file.size, contentType: 'video/webm' });
    expect(upload.uploadKey.startsWith(`uploads/${TENANT}/`)).toBe(true);
    expect([...tries.entries()].sort(([a], [b]) => a - b)).toEqual([[1, 1], [2, 2], [3, 1], [4, 1]]);
    expect(mostInFlight).toBe(2);
    expect(progress.map((p) => p.totalBytes)).toEqual(Array(4).fill(file.size));
    expect(progress.map((p) => p.loadedBytes)).toEqual([...progress.map((p) => p.loadedBytes)].sort((a, b) => a - b));
    expect(progress.at(-1)!.loadedBytes).toBe(file.size);
    const stored = await clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key: upload.uploadKey }));
    expect(stored.ContentType).toBe('video/webm');
    expect(Buffer.from(await stored.Body!.transformToByteArray()).equals(Buffer.from(await file.arrayBuffer()))).toBe(true);
  });

  it('aborts the upload when a part fails every try, and throws the storage service\'s refusal', async () => {
    const file = new Blob([randomBytes(6 * MiB)], { type: 'video/mp4' });
    let partTries = 0;
    let aborted: { uploadKey: string; uploadId: string; status: number } | undefined;
    const failing: typeof fetch = async (input, init) => {
      const url = urlOf(input);
      if (partOf(url) === 1) {
        partTries++;
        return new Response('<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>', { status: 503 });
      }
      const res = await fetch(input, init);
      if (url.endsWith('/uploads/multipart/abort')) aborted = { ...(JSON.parse(String(init?.body)) as { uploadKey: string; uploadId: string }), status: res.status };
      return res;
    };
    const revive = new Revive({ baseUrl: server.url, tenant: TENANT, fetch: failing });
    const error = await revive.uploads.createMultipart(file, { partAttempts: 3, partRetryDelayMs: 10 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReviveError);
    expect(error).toMatchObject({ code: 'UPLOAD_REJECTED', status: 503 });
    expect((error as ReviveError).detail).toContain('SlowDown');
    expect(partTries).toBe(3);
    expect(aborted?.status).toBe(204);
    // The emulator dropped the upload: a part sent to it now is refused.
    await expect(
      clients.s3.send(new UploadPartCommand({ Bucket: bucket, Key: aborted!.uploadKey, UploadId: aborted!.uploadId, PartNumber: 2, Body: new Uint8Array(1) })),
    ).rejects.toMatchObject({ name: 'NoSuchUpload' });
  });

  it('does not retry a part the storage refuses for good (an altered URL), and a video over the size limit is refused before any part', async () => {
    const file = new Blob([randomBytes(1000)], { type: 'video/quicktime' });
    let partTries = 0;
    const altering: typeof fetch = async (input, init) => {
      const url = urlOf(input);
      if (partOf(url) === undefined) return await fetch(input, init);
      partTries++;
      const altered = new URL(url);
      altered.searchParams.set('partNumber', '9');
      return await fetch(altered, init);
    };
    const revive = new Revive({ baseUrl: server.url, tenant: TENANT, fetch: altering });
    await expect(revive.uploads.createMultipart(file, { partRetryDelayMs: 10 })).rejects.toMatchObject({ code: 'UPLOAD_REJECTED', status: 403 });
    expect(partTries).toBe(1);

    const small = await startLocalServer({ env: { ...process.env, ...stackEnv, REVIVE_VIDEO_MAX_BYTES: '999' }, port: 0 });
    try {
      partTries = 0;
      const limited = new Revive({ baseUrl: small.url, tenant: TENANT, fetch: altering });
      await expect(limited.uploads.createMultipart(file)).rejects.toMatchObject({ code: 'VIDEO_TOO_LARGE', status: 422, retryable: false });
      expect(partTries).toBe(0);
    } finally {
      await small.close();
    }
  });

  it('signs the parts not yet stored again when their URLs expired, before a part starts or after its PUT is refused, and completes the upload', async () => {
    // URLs that live seconds, so that they expire for real while the test holds parts back. Both paths are forced by
    // waiting on each URL's own expiry (X-Amz-Date + X-Amz-Expires), not by timing: part 1's answer comes back only
    // once the first URLs expired (so part 2 must be signed again before it starts), and part 3's first PUT leaves
    // only once the URL it was given expired (so the storage refuses it). A slow machine may add re-signs; the
    // assertions are what must hold whatever the timing.
    const shortLived = await startLocalServer({ env: { ...process.env, ...stackEnv, REVIVE_PRESIGN_TTL_SECONDS: '5' }, port: 0 });
    try {
      const file = new Blob([randomBytes(2 * 8 * MiB + MiB)], { type: 'video/mp4' });
      type Event = { kind: 'put'; part: number; url: string; status: number; text: string } | { kind: 'resign'; partNumbers: number[] | undefined };
      const events: Event[] = [];
      const holding: typeof fetch = async (input, init) => {
        const url = urlOf(input);
        if (url.endsWith('/uploads/multipart/parts')) events.push({ kind: 'resign', partNumbers: (JSON.parse(String(init?.body)) as { partNumbers?: number[] }).partNumbers });
        const part = partOf(url);
        if (part === undefined) return await fetch(input, init);
        if (part === 3 && !events.some((event) => event.kind === 'put' && event.part === 3)) await expired(url);
        const res = await fetch(input, init);
        events.push({ kind: 'put', part, url, status: res.status, text: await res.clone().text() });
        if (part === 1) await expired(url);
        return res;
      };
      const revive = new Revive({ baseUrl: shortLived.url, tenant: TENANT, fetch: holding });
      const upload = await revive.uploads.createMultipart(file, { concurrency: 1, resignMarginMs: 0 });

      const puts = events.flatMap((event, index) => (event.kind === 'put' ? [{ ...event, index }] : []));
      const resigns = events.flatMap((event, index) => (event.kind === 'resign' ? [{ ...event, index }] : []));
      const storedBefore = (index: number) => new Set(puts.filter((put) => put.index < index && put.status === 200).map((put) => put.part));
      // The early re-sign: before part 2's first PUT, for part 2 and only parts not stored yet.
      const firstPart2 = puts.find((put) => put.part === 2)!;
      expect(resigns[0]!.index).toBeLessThan(firstPart2.index);
      expect(resigns[0]!.partNumbers).toContain(2);
      for (const { index, partNumbers } of resigns) for (const n of partNumbers ?? []) expect(storedBefore(index).has(n)).toBe(false);
      // The after-refusal re-sign: part 3 was refused at least once, every refusal was an expiry, and each was
      // followed by a re-sign that included the refused part before that part was sent again.
      const refused = puts.filter((put) => put.status !== 200);
      expect(refused.map((put) => put.part)).toContain(3);
      for (const refusal of refused) {
        expect([refusal.status, refusal.text]).toEqual([403, expect.stringContaining('Request has expired')]);
        const next = puts.find((put) => put.part === refusal.part && put.index > refusal.index)!;
        expect(resigns.some((r) => r.index > refusal.index && r.index < next.index && (r.partNumbers ?? [refusal.part]).includes(refusal.part))).toBe(true);
        expect(expiryOf(next.url)).toBeGreaterThan(expiryOf(refusal.url));
      }
      // Every part's last PUT was stored, and the object is the file.
      for (const part of [1, 2, 3]) expect(puts.filter((put) => put.part === part).at(-1)?.status).toBe(200);
      const stored = await clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key: upload.uploadKey }));
      expect(Buffer.from(await stored.Body!.transformToByteArray()).equals(Buffer.from(await file.arrayBuffer()))).toBe(true);
    } finally {
      await shortLived.close();
    }
  });

  it("serves POST /uploads/multipart/parts: its URLs go through the /s3 proxy, each for its part's exact length only", async () => {
    const headers = { 'content-type': 'application/json', 'x-revive-tenant': TENANT };
    const bytes = randomBytes(6 * MiB + 10);
    const created = await fetch(`${server.url}/uploads/multipart`, { method: 'POST', headers, body: JSON.stringify({ contentType: 'video/mp4', sizeBytes: bytes.length }) });
    const upload = (await created.json()) as { upload_key: string; upload_id: string; part_size_bytes: number };
    const ids = { uploadKey: upload.upload_key, uploadId: upload.upload_id };
    const res = await fetch(`${server.url}/uploads/multipart/parts`, { method: 'POST', headers, body: JSON.stringify({ ...ids, sizeBytes: bytes.length, partNumbers: [1] }) });
    expect(res.status).toBe(200);
    const [part] = ((await res.json()) as { parts: { part_number: number; url: string }[] }).parts;
    expect(new URL(part!.url).pathname.startsWith('/s3/')).toBe(true);
    // The file is one part: its URL takes all of it and nothing shorter.
    const shorter = await fetch(part!.url, { method: 'PUT', body: bytes.subarray(0, bytes.length - 1) });
    expect([shorter.status, await shorter.text()]).toEqual([403, expect.stringContaining('SignatureDoesNotMatch')]);
    const exact = await fetch(part!.url, { method: 'PUT', body: bytes });
    expect(exact.status).toBe(200);
    await fetch(`${server.url}/uploads/multipart/abort`, { method: 'POST', headers, body: JSON.stringify(ids) });
  });
});
