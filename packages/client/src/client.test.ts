// The client's retry, wait and abort logic against a real HTTP server that answers what the API answers in rare
// cases (ENQUEUE_FAILED, 429 with Retry-After) that the local stack cannot be made to produce on demand.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Revive } from './client.js';
import { ReviveError } from './errors.js';

const JOB_ID = '0b6e8f0e-5f2c-4f5e-9a7e-2d7c7d1f0a11';
let server: Server | undefined;

async function serve(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<string> {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => handler(req, res, body));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
afterEach(async () => {
  if (server === undefined) return;
  server.closeAllConnections();
  await new Promise((resolve) => server!.close(resolve));
  server = undefined;
});

const problem = (res: ServerResponse, status: number, code: string, headers: Record<string, string> = {}) =>
  res.writeHead(status, { 'content-type': 'application/problem+json', ...headers }).end(JSON.stringify({ type: 'about:blank', title: code, status, code }));
const job = (status: string) => ({ id: JOB_ID, status, faces: null });

describe('Revive client', () => {
  it('retries 503 ENQUEUE_FAILED with the same Idempotency-Key (generated when none is given)', async () => {
    const keys: string[] = [];
    const url = await serve((req, res) => {
      keys.push(String(req.headers['idempotency-key']));
      if (keys.length < 3) return problem(res, 503, 'ENQUEUE_FAILED', { 'retry-after': '0' });
      res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify(job('QUEUED')));
    });
    const revive = new Revive({ baseUrl: url, tenant: 't' });
    expect((await revive.jobs.create({ source: { uploadKey: 'uploads/t/a' } })).id).toBe(JOB_ID);
    expect(keys).toHaveLength(3);
    expect(new Set(keys).size).toBe(1);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);

    keys.length = 0;
    await revive.jobs.create({ source: { uploadKey: 'uploads/t/a' } }, { idempotencyKey: 'mine' });
    expect(keys).toEqual(['mine', 'mine', 'mine']);
  });

  it('gives up after maxRetries with a retryable ReviveError, and never retries a permanent one', async () => {
    let calls = 0;
    const url = await serve((req, res) => {
      calls++;
      problem(res, req.url === '/jobs' ? 503 : 400, req.url === '/jobs' ? 'ENQUEUE_FAILED' : 'VALIDATION_FAILED', { 'retry-after': '0' });
    });
    const revive = new Revive({ baseUrl: url, maxRetries: 1 });
    await expect(revive.jobs.create({ source: { uploadKey: 'k' } })).rejects.toMatchObject({ code: 'ENQUEUE_FAILED', retryable: true, status: 503 });
    expect(calls).toBe(2);
    calls = 0;
    await expect(revive.jobs.page({ limit: 1 })).rejects.toMatchObject({ code: 'VALIDATION_FAILED', retryable: false });
    expect(calls).toBe(1);
  });

  it('wait: polls until an end state, honours Retry-After on 429, backs off', async () => {
    const at: number[] = [];
    const url = await serve((_req, res) => {
      at.push(Date.now());
      if (at.length === 2) return res.writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' }).end('{"message":"Too Many Requests"}');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(job(at.length < 4 ? 'RUNNING' : 'SUCCEEDED')));
    });
    const seen: string[] = [];
    const done = await new Revive({ baseUrl: url }).jobs.wait(JOB_ID, { intervalMs: 20, onUpdate: (j) => seen.push(j.status) });
    expect(done.status).toBe('SUCCEEDED');
    expect(seen).toEqual(['RUNNING', 'SUCCEEDED']);
    expect(at).toHaveLength(4);
    // The pause after the 429 is Retry-After's second, not the 30 ms interval.
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(950);
  });

  it('wait: stops with ABORTED when the signal fires, and with WAIT_TIMEOUT after timeoutMs', async () => {
    let polls = 0;
    const url = await serve((_req, res) => {
      polls++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(job('QUEUED')));
    });
    const revive = new Revive({ baseUrl: url });
    const controller = new AbortController();
    const waiting = revive.jobs.wait(JOB_ID, { signal: controller.signal, intervalMs: 60_000, onUpdate: () => controller.abort() });
    await expect(waiting).rejects.toMatchObject({ name: 'ReviveError', code: 'ABORTED' });
    expect(polls).toBe(1);
    const late = await revive.jobs.wait(JOB_ID, { intervalMs: 10, timeoutMs: 100 }).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(ReviveError);
    expect(late).toMatchObject({ code: 'WAIT_TIMEOUT', retryable: false });
  });

  it('sends the token from a function, asks it again once after a 401', async () => {
    const seen: string[] = [];
    const url = await serve((req, res) => {
      seen.push(String(req.headers.authorization));
      if (seen.length === 1) return res.writeHead(401, { 'content-type': 'application/json' }).end('{"message":"Unauthorized"}');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(job('QUEUED')));
    });
    let n = 0;
    const revive = new Revive({ baseUrl: `${url}/`, token: async () => `jwt-${++n}` });
    await revive.jobs.get(JOB_ID);
    expect(seen).toEqual(['Bearer jwt-1', 'Bearer jwt-2']);
  });

  it('retries a 503 INTERNAL (DynamoDB throttled) with Retry-After', async () => {
    let calls = 0;
    const url = await serve((_req, res) => {
      calls++;
      if (calls === 1) return problem(res, 503, 'INTERNAL', { 'retry-after': '0' });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(job('RUNNING')));
    });
    expect((await new Revive({ baseUrl: url }).jobs.get(JOB_ID)).status).toBe('RUNNING');
    expect(calls).toBe(2);
  });

  it('cuts a long Retry-After to maxRetryAfterMs', async () => {
    const at: number[] = [];
    const url = await serve((_req, res) => {
      at.push(Date.now());
      if (at.length === 1) return res.writeHead(429, { 'retry-after': '3600', 'content-type': 'application/json' }).end('{"message":"Too Many Requests"}');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(job('QUEUED')));
    });
    // An hour asked, 200 ms allowed: the retry comes after the cap, not the hour (nor at once).
    await new Revive({ baseUrl: url, maxRetryAfterMs: 200 }).jobs.get(JOB_ID);
    expect(at).toHaveLength(2);
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(190);
    // jobs.wait never sleeps past its own timeout either.
    at.length = 0;
    const waited = await new Revive({ baseUrl: url, maxRetryAfterMs: 3_600_000 })
      .jobs.wait(JOB_ID, { timeoutMs: 300, intervalMs: 10 })
      .catch((e: unknown) => e);
    expect(waited).toMatchObject({ code: 'WAIT_TIMEOUT' });
  });

  it('retries a throttled POST /uploads (presigning creates nothing), then uploads', async () => {
    const calls: string[] = [];
    let base = '';
    const url = await serve((req, res) => {
      calls.push(`${req.method} ${req.url}`);
      if (req.url === '/uploads') {
        if (calls.filter((c) => c === 'POST /uploads').length === 1) {
          return res.writeHead(429, { 'retry-after': '0', 'content-type': 'application/json' }).end('{"message":"Too Many Requests"}');
        }
        return res
          .writeHead(201, { 'content-type': 'application/json' })
          .end(JSON.stringify({ uploadKey: 'uploads/t/a', url: `${base}/bucket`, fields: { key: 'uploads/t/a' }, max_bytes: 1024, expires_at: '2030-01-01T00:00:00Z' }));
      }
      res.writeHead(204).end();
    });
    base = url;
    const upload = await new Revive({ baseUrl: url, tenant: 't' }).uploads.create(new Blob([new Uint8Array(8)], { type: 'image/png' }));
    expect(upload.uploadKey).toBe('uploads/t/a');
    expect(calls).toEqual(['POST /uploads', 'POST /uploads', 'POST /bucket']);
  });

  it('restoreAlbum: uploads the files, passes URLs through, creates one album in the given order, reports progress, and throws JOB_FAILED with the partly failed album', async () => {
    const calls: { line: string; body: string; key?: string | undefined }[] = [];
    let base = '';
    let uploads = 0;
    let polls = 0;
    const progress = (done: number, failed: number) => ({ total: 3, done, failed, frames_total: null, frames_done: null, eta_seconds: null });
    const url = await serve((req, res, body) => {
      calls.push({ line: `${req.method} ${req.url}`, body, key: req.headers['idempotency-key'] as string | undefined });
      const reply = (status: number, value: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      if (req.url === '/uploads') {
        const key = `uploads/t/${++uploads}`;
        return reply(201, { uploadKey: key, url: `${base}/bucket`, fields: { key }, max_bytes: 1024, expires_at: '2030-01-01T00:00:00Z' });
      }
      if (req.url === '/bucket') return res.writeHead(204).end();
      if (req.url === '/albums') return reply(202, { ...job('QUEUED'), kind: 'album', progress: progress(0, 0) });
      polls++;
      if (polls < 3) return reply(200, { ...job('RUNNING'), kind: 'album', progress: progress(polls, 0) });
      return reply(200, {
        ...job('FAILED'),
        kind: 'album',
        progress: progress(2, 1),
        error: { code: 'ALBUM_PARTLY_FAILED', message: '2 of 3 photos restored, 1 failed' },
        output: { url: `${base}/results/album.zip`, expires_at: '2030-01-01T00:00:00Z', width: null, height: null },
      });
    });
    base = url;
    const uploaded: number[] = [];
    const seen: string[] = [];
    const files = [new Blob([new Uint8Array(10)], { type: 'image/jpeg' }), 'https://example.com/b.jpg', new Blob([new Uint8Array(30)], { type: 'image/png' })];
    const error = await new Revive({ baseUrl: url, tenant: 't' })
      .restoreAlbum(files, { concurrency: 1, intervalMs: 5, options: { upscale: 1 }, onUploadProgress: (p) => uploaded.push(p.loadedBytes), onProgress: (j) => seen.push(`${j.status} ${j.progress?.done}/${j.progress?.failed}`) })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReviveError);
    expect(error).toMatchObject({ code: 'JOB_FAILED', job: { error: { code: 'ALBUM_PARTLY_FAILED' } } });
    // The ZIP of the photos that succeeded is still the album's output.
    expect((error as ReviveError).job?.output?.url).toBe(`${base}/results/album.zip`);
    expect(uploaded).toEqual([10, 40]);
    const album = calls.find((c) => c.line === 'POST /albums')!;
    expect(JSON.parse(album.body)).toEqual({ sources: [{ uploadKey: 'uploads/t/1' }, { url: 'https://example.com/b.jpg' }, { uploadKey: 'uploads/t/2' }], options: { upscale: 1 } });
    expect(album.key).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen).toEqual(['RUNNING 1/0', 'RUNNING 2/0', 'FAILED 2/1']);
  });

  it('restoreVideo: a URL goes to POST /videos with the encoding options; resolves with the SUCCEEDED video', async () => {
    const bodies: Record<string, string> = {};
    const url = await serve((req, res, body) => {
      bodies[`${req.method} ${req.url}`] = body;
      const video = { ...job(req.method === 'POST' ? 'QUEUED' : 'SUCCEEDED'), kind: 'video', output: { url: 'https://x/v.mp4', expires_at: '2030-01-01T00:00:00Z', width: 2560, height: 1440 }, faces: [] };
      res.writeHead(req.method === 'POST' ? 202 : 200, { 'content-type': 'application/json' }).end(JSON.stringify(video));
    });
    const done = await new Revive({ baseUrl: url, tenant: 't' }).restoreVideo('https://example.com/v.mp4', { video: { crf: 20 }, options: { upscale: 2 }, intervalMs: 5 });
    expect(done.output.url).toBe('https://x/v.mp4');
    expect(JSON.parse(bodies['POST /videos']!)).toEqual({ source: { url: 'https://example.com/v.mp4' }, options: { upscale: 2 }, video: { crf: 20 } });
    expect(Object.keys(bodies)).toEqual(['POST /videos', `GET /jobs/${JOB_ID}`]);
  });

  it('reports NETWORK (retryable) when nothing answers', async () => {
    const revive = new Revive({ baseUrl: 'http://127.0.0.1:9', maxRetries: 0 });
    await expect(revive.jobs.get(JOB_ID)).rejects.toMatchObject({ code: 'NETWORK', status: 0, retryable: true });
  });
});
