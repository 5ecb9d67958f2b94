import { rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError, WorkerError } from '@revive/pipeline/errors';
import { sniffImageType } from '@revive/contract';
import { SafeHttpClient, type Resolver } from './source-fetch.js';

// Bytes that start like a PNG; the fetcher only checks the magic, decoding is the pipeline's job.
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(200, 7)]);

async function listen(server: Server, host: string): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return (server.address() as AddressInfo).port;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return error instanceof WorkerError ? error.code : `not a WorkerError: ${String(error)}`;
  }
}

describe('SafeHttpClient', () => {
  // 127.0.0.2 plays the allowed "public" host; 127.0.0.1 is loopback and stays refused.
  let allowedPort = 0;
  let loopbackPort = 0;
  const allowed = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/photo.png') return res.writeHead(200, { 'content-type': 'image/png' }).end(PNG);
    if (url.pathname === '/untyped') return res.writeHead(200).end(PNG);
    if (url.pathname === '/html') return res.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>');
    if (url.pathname === '/fake.png') return res.writeHead(200, { 'content-type': 'image/png' }).end('GIF? no, text');
    if (url.pathname === '/big') return res.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.concat([PNG, Buffer.alloc(5_000)]));
    if (url.pathname === '/big.mp4') return res.writeHead(200, { 'content-type': 'video/mp4' }).end(Buffer.alloc(5_000));
    if (url.pathname === '/big-chunked.mp4') {
      res.writeHead(200, { 'content-type': 'video/mp4', 'transfer-encoding': 'chunked' });
      res.write(Buffer.alloc(600));
      res.write(Buffer.alloc(600));
      return res.end();
    }
    if (url.pathname === '/big-chunked') {
      res.writeHead(200, { 'content-type': 'image/png', 'transfer-encoding': 'chunked' });
      res.write(PNG);
      res.write(Buffer.alloc(5_000));
      return res.end();
    }
    if (url.pathname === '/to-photo') return res.writeHead(302, { location: '/photo.png' }).end();
    if (url.pathname === '/to-loopback') return res.writeHead(302, { location: `http://127.0.0.1:${loopbackPort}/photo.png` }).end();
    if (url.pathname === '/to-metadata') return res.writeHead(301, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
    if (url.pathname === '/loop') return res.writeHead(302, { location: '/loop' }).end();
    if (url.pathname === '/missing') return res.writeHead(404).end();
    if (url.pathname === '/slow') return void setTimeout(() => res.writeHead(200, { 'content-type': 'image/png' }).end(PNG), 3_000);
    // The body in `chunk`-byte pieces every `every` ms, `total` bytes after the PNG magic (then the end), or forever.
    if (url.pathname === '/drip') {
      const chunk = Number(url.searchParams.get('chunk'));
      const total = Number(url.searchParams.get('total') ?? Infinity);
      res.writeHead(200, { 'content-type': 'image/png' });
      res.write(PNG.subarray(0, 8));
      let sent = 0;
      const timer = setInterval(() => {
        if (sent >= total) {
          clearInterval(timer);
          return void res.end();
        }
        res.write(Buffer.alloc(chunk, 7));
        sent += chunk;
      }, Number(url.searchParams.get('every')));
      return void res.on('close', () => clearInterval(timer));
    }
    if (url.pathname === '/stall') {
      res.writeHead(200, { 'content-type': 'image/png' });
      return void res.write(PNG);
    }
    if (url.pathname === '/hook') {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      return req.on('end', () => res.writeHead(body.length > 0 ? 204 : 400).end());
    }
    res.writeHead(500).end();
  });
  const loopback = createServer((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(PNG));
  const client = new SafeHttpClient({ allowCidrs: ['127.0.0.2/32'], maxBytes: 1_000, timeoutMs: 1_000 });

  beforeAll(async () => {
    allowedPort = await listen(allowed, '127.0.0.2');
    loopbackPort = await listen(loopback, '127.0.0.1');
  });
  afterAll(async () => {
    await client.close();
    allowed.close();
    loopback.close();
  });

  it('downloads an image from an allowed address, following a same-host redirect', async () => {
    expect(Buffer.from(await client.fetchImage(`http://127.0.0.2:${allowedPort}/photo.png`)).equals(PNG)).toBe(true);
    expect(Buffer.from(await client.fetchImage(`http://127.0.0.2:${allowedPort}/to-photo`)).equals(PNG)).toBe(true);
    expect(Buffer.from(await client.fetchImage(`http://127.0.0.2:${allowedPort}/untyped`)).equals(PNG)).toBe(true);
  });

  it('refuses loopback, metadata and private literals before connecting', async () => {
    expect(await codeOf(client.fetchImage(`http://127.0.0.1:${loopbackPort}/photo.png`))).toBe('FORBIDDEN_URL');
    expect(await codeOf(client.fetchImage('http://169.254.169.254/latest/meta-data/'))).toBe('FORBIDDEN_URL');
    expect(await codeOf(client.fetchImage('http://[::1]:9/x'))).toBe('FORBIDDEN_URL');
    expect(await codeOf(client.fetchImage('http://[::ffff:127.0.0.1]:9/x'))).toBe('FORBIDDEN_URL');
    // The WHATWG parser turns decimal and hex hosts into dotted quads, which are then checked.
    expect(await codeOf(client.fetchImage('http://2130706433:9/x'))).toBe('FORBIDDEN_URL');
    expect(await codeOf(client.fetchImage('http://0x7f.1:9/x'))).toBe('FORBIDDEN_URL');
    expect(await codeOf(client.fetchImage('file:///etc/passwd'))).toBe('FORBIDDEN_URL');
  });

  it('checks every redirect hop', async () => {
    expect(await codeOf(client.fetchImage(`http://127.0.0.2:${allowedPort}/to-loopback`))).toBe('FORBIDDEN_URL');
    expect(await codeOf(client.fetchImage(`http://127.0.0.2:${allowedPort}/to-metadata`))).toBe('FORBIDDEN_URL');
    expect(await codeOf(client.fetchImage(`http://127.0.0.2:${allowedPort}/loop`))).toBe('SOURCE_UNREACHABLE');
  });

  it('checks the address DNS returns at connect time (rebinding)', async () => {
    // A resolver that answers an allowed address first and loopback after: only the connect-time answer counts.
    let calls = 0;
    const rebinding: Resolver = (_host, _options, callback) => {
      calls += 1;
      callback(null, [{ address: '127.0.0.1', family: 4 }]);
    };
    const rebound = new SafeHttpClient({ allowCidrs: ['127.0.0.2/32'], timeoutMs: 1_000, resolver: rebinding });
    try {
      expect(await codeOf(rebound.fetchImage(`http://photos.example.test:${loopbackPort}/photo.png`))).toBe('FORBIDDEN_URL');
      expect(calls).toBeGreaterThan(0);
    } finally {
      await rebound.close();
    }
    const honest: Resolver = (_host, _options, callback) => callback(null, [{ address: '127.0.0.2', family: 4 }]);
    const ok = new SafeHttpClient({ allowCidrs: ['127.0.0.2/32'], timeoutMs: 1_000, resolver: honest });
    try {
      expect(Buffer.from(await ok.fetchImage(`http://photos.example.test:${allowedPort}/photo.png`)).equals(PNG)).toBe(true);
    } finally {
      await ok.close();
    }
  });

  it('fails a video over its byte limit with the same code as the API (VIDEO_TOO_LARGE), declared or counted', async () => {
    const file = path.join(tmpdir(), `revive-fetch-${process.pid}.mp4`);
    try {
      for (const route of ['/big.mp4', '/big-chunked.mp4']) {
        expect(await codeOf(client.fetchVideoToFile(`http://127.0.0.2:${allowedPort}${route}`, file, 1_000, new AbortController().signal))).toBe('VIDEO_TOO_LARGE');
      }
    } finally {
      await rm(file, { force: true });
    }
  });

  it('caps bytes, checks content and times out', async () => {
    expect(await codeOf(client.fetchImage(`http://127.0.0.2:${allowedPort}/big`))).toBe('SOURCE_TOO_LARGE');
    expect(await codeOf(client.fetchImage(`http://127.0.0.2:${allowedPort}/big-chunked`))).toBe('SOURCE_TOO_LARGE');
    expect(await codeOf(client.fetchImage(`http://127.0.0.2:${allowedPort}/html`))).toBe('INVALID_IMAGE');
    expect(await codeOf(client.fetchImage(`http://127.0.0.2:${allowedPort}/fake.png`))).toBe('INVALID_IMAGE');
    expect(await codeOf(client.fetchImage(`http://127.0.0.2:${allowedPort}/missing`))).toBe('SOURCE_NOT_FOUND');
    const slow = client.fetchImage(`http://127.0.0.2:${allowedPort}/slow`);
    await expect(slow).rejects.toMatchObject({ code: 'SOURCE_UNREACHABLE', retryable: true });
  });

  describe('a source body that comes too slowly', () => {
    // 1,000 bytes per second averaged over 500 ms windows: a window needs 500 bytes.
    const rated = (options: { deadlineMs?: number; timeoutMs?: number; minBytesPerSecond?: number } = {}) =>
      new SafeHttpClient({ allowCidrs: ['127.0.0.2/32'], minBytesPerSecond: 1_000, rateWindowMs: 500, deadlineMs: 60_000, timeoutMs: 30_000, ...options });
    const clients: SafeHttpClient[] = [];
    const client = (options?: Parameters<typeof rated>[0]) => {
      const c = rated(options);
      clients.push(c);
      return c;
    };
    afterAll(async () => {
      await Promise.all(clients.map((c) => c.close()));
    });

    it('fails a drip of one byte at a time as the permanent SOURCE_TOO_SLOW, after one window', async () => {
      const started = performance.now();
      const error = await client().fetchImage(`http://127.0.0.2:${allowedPort}/drip?chunk=1&every=50`).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PermanentError);
      expect(error).toMatchObject({ code: 'SOURCE_TOO_SLOW', message: expect.stringMatching(/sent \d+ bytes in 0.5 s.*at least 1000 bytes per second \(REVIVE_SOURCE_MIN_BYTES_PER_SECOND\)/) });
      // Well before the 30 s between chunks that undici would wait, and the 60 s deadline.
      expect(performance.now() - started).toBeLessThan(10_000);
    });

    it('downloads a body that comes in pieces but above the rate', async () => {
      // 200 bytes every 20 ms is 10,000 bytes per second, ten times the minimum, over two windows.
      const bytes = await client().fetchImage(`http://127.0.0.2:${allowedPort}/drip?chunk=200&every=20&total=10000`);
      expect(bytes.byteLength).toBe(8 + 10_000);
    });

    it('fails a body that stalls after its first bytes as SOURCE_TOO_SLOW, with or without the rate check', async () => {
      expect(await client().fetchImage(`http://127.0.0.2:${allowedPort}/stall`).catch((e: unknown) => e)).toMatchObject({ code: 'SOURCE_TOO_SLOW', retryable: false });
      // Rate check off: undici's pause between chunks (timeoutMs) still ends it, as the same permanent failure.
      const noRate = client({ minBytesPerSecond: 0, timeoutMs: 500 });
      expect(await noRate.fetchImage(`http://127.0.0.2:${allowedPort}/stall`).catch((e: unknown) => e)).toMatchObject({ code: 'SOURCE_TOO_SLOW', retryable: false, message: expect.stringContaining('stopped sending') });
    });

    it('fails a download past the deadline as SOURCE_TOO_SLOW, however fast each window is', async () => {
      // 5,000 bytes per second for 4 s against a 1 s deadline.
      const error = await client({ deadlineMs: 1_000 }).fetchImage(`http://127.0.0.2:${allowedPort}/drip?chunk=100&every=20&total=20000`).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PermanentError);
      expect(error).toMatchObject({ code: 'SOURCE_TOO_SLOW', message: expect.stringContaining('within 1 s (REVIVE_SOURCE_DEADLINE_SECONDS)') });
    });
  });

  it('never reaches a denied endpoint, whatever the allow-list, by literal or by name; other ports stay open', async () => {
    // The local stack's case: 127.0.0.0/8 allowed for a test receiver, its own emulator's port denied.
    const denying = new SafeHttpClient({ allowCidrs: ['127.0.0.0/8'], denyEndpoints: [`127.0.0.1:${loopbackPort}`], timeoutMs: 1_000 });
    try {
      for (const url of [`http://127.0.0.1:${loopbackPort}/photo.png`, `http://127.0.0.3:${loopbackPort}/photo.png`, `http://localhost:${loopbackPort}/photo.png`]) {
        await expect(denying.fetchImage(url), url).rejects.toMatchObject({ code: 'FORBIDDEN_URL', message: expect.stringContaining('REVIVE_URL_DENY_ENDPOINTS') });
      }
      // A redirect from an allowed host to the denied port is refused too.
      await expect(denying.fetchImage(`http://127.0.0.2:${allowedPort}/to-loopback`)).rejects.toMatchObject({ code: 'FORBIDDEN_URL' });
      await expect(denying.post(`http://localhost:${loopbackPort}/hook`, '{}', {})).rejects.toMatchObject({ code: 'FORBIDDEN_URL' });
      expect(Buffer.from(await denying.fetchImage(`http://127.0.0.2:${allowedPort}/photo.png`)).equals(PNG)).toBe(true);
    } finally {
      await denying.close();
    }
  });

  it('posts with the same rules', async () => {
    expect(await client.post(`http://127.0.0.2:${allowedPort}/hook`, '{"a":1}', { 'content-type': 'application/json' })).toBe(204);
    await expect(client.post(`http://127.0.0.1:${loopbackPort}/hook`, '{}', {})).rejects.toBeInstanceOf(PermanentError);
  });
});

describe('sniffImageType', () => {
  it('knows the image formats by their first bytes and nothing else', () => {
    expect(sniffImageType(PNG)).toBe('png');
    expect(sniffImageType(Buffer.from([0xff, 0xd8, 0xff, 0xe0]))).toBe('jpeg');
    expect(sniffImageType(Buffer.from('RIFF\0\0\0\0WEBPVP8 '))).toBe('webp');
    expect(sniffImageType(Buffer.from('\0\0\0\x1cftypavif'))).toBe('avif');
    expect(sniffImageType(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toBeUndefined();
    expect(sniffImageType(Buffer.from(''))).toBeUndefined();
  });
});
