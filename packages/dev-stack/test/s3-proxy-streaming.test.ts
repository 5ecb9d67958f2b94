// The local /s3 proxy streams: a 160 MiB object goes up (presigned POST) and down (presigned GET) through it with the
// server's memory growing far less than the object, and an upload it refuses for its size gets an S3 error the
// client can read (fetch, i.e. undici, against the real server), never ECONNRESET.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

import type {} from '@revive/local-aws/vitest-setup';
import { createHash } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import { request } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { CreateUploadResponse } from '@revive/contract';
import { createReviveResources, localAwsEnv, startLocalAws, type LocalAws } from '@revive/local-aws';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLocalServer, type LocalServer } from '../src/server.js';

const TENANT = 'stream-tenant';
const MiB = 1024 * 1024;
/** Big enough that whole-object buffering (several copies of it) shows far above the streaming bound. */
const LARGE_OBJECT_BYTES = 160 * MiB;
/** The small server's upload limit, for the refusals. */
const SMALL_LIMIT_BYTES = 1 * MiB;

// A collection before each measurement, so the baseline is live memory, not the previous test's garbage.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let large: LocalServer;
let small: LocalServer;
/** A server whose upload limit is above what the emulator behind it takes in one request. */
let beyondEmulator: LocalServer;
let smallEmulator: LocalAws | undefined;
/** That emulator's request body limit. */
const EMULATOR_BODY_LIMIT_BYTES = 12 * MiB;

async function createUpload(server: LocalServer): Promise<CreateUploadResponse> {
  const res = await fetch(`${server.url}/uploads`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-revive-tenant': TENANT }, body: '{}' });
  expect(res.status).toBe(201);
  return (await res.json()) as CreateUploadResponse;
}

/** Chunk `i` of a generated file: a byte pattern that differs per chunk, so a reordered or lost chunk changes the hash. */
function chunkOf(i: number, bytes: number): Uint8Array {
  const chunk = new Uint8Array(bytes);
  for (let j = 0; j < bytes; j += 4096) chunk[j] = (i * 31 + j / 4096) & 0xff;
  return chunk;
}

/**
 * A multipart/form-data body for a presigned POST, generated chunk by chunk (never whole in memory), with its exact
 * length and the sha256 of the file part.
 */
function streamingForm(fields: Record<string, string>, fileBytes: number, chunkBytes = MiB) {
  const boundary = `----revive-test-${Date.now().toString(36)}`;
  let head = '';
  for (const [name, value] of Object.entries({ ...fields, 'Content-Type': 'image/jpeg' })) {
    head += `--${boundary}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  }
  head += `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="big.jpg"\r\ncontent-type: image/jpeg\r\n\r\n`;
  const tail = `\r\n--${boundary}--\r\n`;
  const hash = createHash('sha256');
  const chunks = Math.ceil(fileBytes / chunkBytes);
  for (let i = 0; i < chunks; i++) hash.update(chunkOf(i, Math.min(chunkBytes, fileBytes - i * chunkBytes)));
  const sha256 = hash.digest('hex');
  let i = -1;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i === -1) controller.enqueue(new TextEncoder().encode(head));
      else if (i < chunks) controller.enqueue(chunkOf(i, Math.min(chunkBytes, fileBytes - i * chunkBytes)));
      else {
        controller.enqueue(new TextEncoder().encode(tail));
        controller.close();
      }
      i++;
    },
  });
  return { body, contentType: `multipart/form-data; boundary=${boundary}`, length: Buffer.byteLength(head) + fileBytes + Buffer.byteLength(tail), sha256 };
}

/** This process's open descriptors on upload spool files (the server runs in it). */
function spoolFds(): string[] {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).includes('revive-s3-upload-');
    } catch {
      return false;
    }
  });
}

/** The spool descriptors left once closing has had its turn (a closing stream takes a few ticks; bounded at 10 s). */
async function spoolFdsAfterClose(): Promise<string[]> {
  const deadline = Date.now() + 10_000;
  while (spoolFds().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return spoolFds();
}

/** POSTs a streamed form with node:http (Content-Length set, each chunk written after the previous one drained). */
async function postStream(url: string, form: ReturnType<typeof streamingForm>): Promise<{ status: number; text: string }> {
  const target = new URL(url);
  return await new Promise((resolve, reject) => {
    const req = request(
      { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers: { 'content-type': form.contentType, 'content-length': String(form.length) } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    void (async () => {
      for await (const chunk of form.body as unknown as AsyncIterable<Uint8Array>) {
        if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
      }
      req.end();
    })().catch(reject);
  });
}

/**
 * Peak growth of this process's live JS heap plus Buffer memory while `work` runs: collected and sampled every 200 ms,
 * so garbage chunks waiting for a collection do not count, and what a whole-object buffer holds does.
 */
async function peakMemoryGrowth<T>(work: () => Promise<T>): Promise<{ result: T; growthBytes: number; maxRssGrowthBytes: number }> {
  const used = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  gc();
  const base = used();
  const maxRssBase = process.resourceUsage().maxRSS * 1024;
  let peak = base;
  const timer = setInterval(() => {
    gc();
    peak = Math.max(peak, used());
  }, 200);
  try {
    const result = await work();
    gc();
    peak = Math.max(peak, used());
    return { result, growthBytes: peak - base, maxRssGrowthBytes: process.resourceUsage().maxRSS * 1024 - maxRssBase };
  } finally {
    clearInterval(timer);
  }
}

beforeAll(async () => {
  const aws = inject('localAws');
  const resources = await createReviveResources(aws, { prefix: `revive-stream-${Date.now().toString(36)}` });
  const env = { ...process.env, ...localAwsEnv(aws, resources) };
  large = await startLocalServer({ env: { ...env, REVIVE_UPLOAD_MAX_BYTES: String(LARGE_OBJECT_BYTES) }, port: 0 });
  small = await startLocalServer({ env: { ...env, REVIVE_UPLOAD_MAX_BYTES: String(SMALL_LIMIT_BYTES) }, port: 0 });
  // Its own emulator, with a small body limit: the proxy stores in parts, so uploads are not bound by it.
  smallEmulator = await startLocalAws({ dynamo: 'dynalite', s3BodyLimitBytes: EMULATOR_BODY_LIMIT_BYTES });
  const smallResources = await createReviveResources(smallEmulator, { prefix: `revive-parts-${Date.now().toString(36)}` });
  beyondEmulator = await startLocalServer({ env: { ...process.env, ...localAwsEnv(smallEmulator, smallResources), REVIVE_UPLOAD_MAX_BYTES: String(4 * EMULATOR_BODY_LIMIT_BYTES) }, port: 0 });
});

afterAll(async () => {
  await large?.close();
  await small?.close();
  await beyondEmulator?.close();
  await smallEmulator?.stop();
});

describe('the /s3 proxy streams uploads and downloads', () => {
  it(`passes a ${LARGE_OBJECT_BYTES / MiB} MiB object up and down with the server's memory growing far less than the object`, async () => {
    const upload = await createUpload(large);
    const form = streamingForm(upload.fields, LARGE_OBJECT_BYTES);
    // node:http, written with backpressure: fetch (undici) holds on to a streamed request body's chunks in this
    // process, which would count against the server here.
    const up = await peakMemoryGrowth(() => postStream(upload.url, form));
    expect(up.result.status, up.result.text).toBe(204);
    const url = await large.deps.bucket.presignDownload(upload.uploadKey, 60);
    const down = await peakMemoryGrowth(async () => {
      const res = await fetch(url);
      const hash = createHash('sha256');
      let bytes = 0;
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        hash.update(chunk);
        bytes += chunk.length;
      }
      return { status: res.status, length: res.headers.get('content-length'), bytes, sha256: hash.digest('hex') };
    });
    console.log(
      `${LARGE_OBJECT_BYTES / MiB} MiB through /s3: upload peak heap+buffers +${(up.growthBytes / MiB).toFixed(1)} MiB (max RSS +${(up.maxRssGrowthBytes / MiB).toFixed(1)} MiB), ` +
        `download +${(down.growthBytes / MiB).toFixed(1)} MiB (max RSS +${(down.maxRssGrowthBytes / MiB).toFixed(1)} MiB)`,
    );
    expect(down.result).toEqual({ status: 200, length: String(LARGE_OBJECT_BYTES), bytes: LARGE_OBJECT_BYTES, sha256: form.sha256 });
    // Whole-object buffering holds at least one copy (160 MiB) for the whole transfer; streaming holds a few chunks
    // in flight (measured: 6–26 MiB up, 1–16 MiB down).
    expect(up.growthBytes).toBeLessThan(LARGE_OBJECT_BYTES / 3);
    expect(down.growthBytes).toBeLessThan(LARGE_OBJECT_BYTES / 3);
  }, 180_000);
});

describe('a refused oversize upload gets its S3 error, not ECONNRESET', () => {
  const OVERSIZE_BYTES = 64 * MiB;

  it('with Content-Length: answered before the body is read, and fetch reads the EntityTooLarge error', async () => {
    const upload = await createUpload(small);
    const form = new FormData();
    for (const [k, v] of Object.entries(upload.fields)) form.append(k, v);
    form.append('Content-Type', 'image/jpeg');
    form.append('file', new Blob([new Uint8Array(OVERSIZE_BYTES)], { type: 'image/jpeg' }), 'big.jpg');
    const res = await fetch(upload.url, { method: 'POST', body: form });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('<Code>EntityTooLarge</Code>');
  });

  it('chunked (no Content-Length): the proxy stops at the limit and fetch still reads the EntityTooLarge error', async () => {
    const upload = await createUpload(small);
    const form = streamingForm(upload.fields, OVERSIZE_BYTES, 256 * 1024);
    const res = await fetch(upload.url, { method: 'POST', headers: { 'content-type': form.contentType }, body: form.body, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('<Code>EntityTooLarge</Code>');
  });

  it('the up-front refusal does not wait for the body: a client that sends only the headers gets it', async () => {
    const upload = await createUpload(small);
    const target = new URL(upload.url);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=x', 'content-length': String(OVERSIZE_BYTES) } },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => {
            req.destroy();
            resolve({ status: res.statusCode ?? 0, body });
          });
        },
      );
      req.on('error', reject);
      // Headers only: the body never comes, so only an answer that does not read it arrives.
      req.flushHeaders();
    });
    expect(answer.status).toBe(400);
    expect(answer.body).toContain('<Code>EntityTooLarge</Code>');
    // Without the up-front check the proxy waits for a body that never comes: this ceiling is that failure.
  }, 60_000);

  it('refuses a file over the policy\'s range, streamed, and stores nothing', async () => {
    const upload = await createUpload(small);
    // Just over the policy's maximum, within the proxy's form limit: the refusal comes from the policy check.
    const form = streamingForm(upload.fields, SMALL_LIMIT_BYTES + 1, 64 * 1024);
    const res = await fetch(upload.url, { method: 'POST', headers: { 'content-type': form.contentType }, body: form.body, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('<Code>EntityTooLarge</Code>');
    const got = await fetch(await small.deps.bucket.presignDownload(upload.uploadKey, 60));
    expect(got.status).toBe(404);
  });

  it("an upload larger than the emulator takes in one request is stored in parts, whole", async () => {
    const upload = await createUpload(beyondEmulator);
    const form = streamingForm(upload.fields, EMULATOR_BODY_LIMIT_BYTES * 2 + 12_345);
    const res = await postStream(upload.url, form);
    expect(res.status, res.text).toBe(204);
    const got = await fetch(await beyondEmulator.deps.bucket.presignDownload(upload.uploadKey, 60));
    expect(got.status).toBe(200);
    expect(createHash('sha256').update(Buffer.from(await got.arrayBuffer())).digest('hex')).toBe(form.sha256);
    expect(await spoolFdsAfterClose()).toEqual([]);
  }, 120_000);

  it('a client that goes away mid-file leaves no spool file open', async () => {
    const upload = await createUpload(large);
    const form = streamingForm(upload.fields, 8 * MiB, 256 * 1024);
    const target = new URL(upload.url);
    const req = request({
      host: target.hostname,
      port: target.port,
      path: target.pathname,
      method: 'POST',
      headers: { 'content-type': form.contentType, 'content-length': String(form.length) },
    });
    req.on('error', () => undefined);
    let sent = 0;
    for await (const chunk of form.body as unknown as AsyncIterable<Uint8Array>) {
      if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
      sent += chunk.length;
      if (sent > 2 * MiB) break;
    }
    // The server has a spool file open for this upload now; then the client vanishes.
    expect(await spoolFdsAfterClose()).toEqual([]);
    const opened = Date.now() + 10_000;
    while (spoolFds().length === 0 && Date.now() < opened) await new Promise((r) => setTimeout(r, 20));
    expect(spoolFds().length).toBeGreaterThan(0);
    req.destroy();
    expect(await spoolFdsAfterClose()).toEqual([]);
  });
});
