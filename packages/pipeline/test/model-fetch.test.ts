// The download path against a real HTTP server (node:http) that serves ../shared/models with Range support.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PermanentError } from '../src/errors.js';
import { ModelDownloadError, PARTIAL_SUFFIX, downloadModel, sha256OfFile } from '../src/model-fetch.js';
import { findModel } from '@revive/contract';
import { MODELS_BASE_URL_ENV, resolveModel } from '../src/models.js';
import { sharedDir } from '../src/testing/shared-dir.js';

const modelsRoot = path.join(sharedDir(), 'models');
let server: Server;
let baseUrl: string;
let dir: string;
/** Every request the server saw, for asserting on Range and redirects. */
let seen: { url: string; headers: IncomingHttpHeaders; status: number }[] = [];
/** Paths served with one byte flipped, to play a corrupt mirror. */
const corrupt = new Set<string>();

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-fetch-'));
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const record = (status: number) => seen.push({ url: url.pathname, headers: req.headers, status });
    // /redirect/<path> answers 302 like GitHub's release downloads do.
    if (url.pathname.startsWith('/redirect/')) {
      record(302);
      res.writeHead(302, { location: url.pathname.slice('/redirect'.length) }).end();
      return;
    }
    // /stall/<path> sends the headers and the first half of the body, then nothing more: a stalled connection.
    // /break/<path> sends the first half and closes the connection.
    const cut = /^\/(stall|break)\//.exec(url.pathname);
    if (cut) {
      const cutFile = path.join(modelsRoot, path.normalize(decodeURIComponent(url.pathname.slice(cut[0].length - 1))).replace(/^(\.\.[/\\])+/, ''));
      record(200);
      void readFile(cutFile).then((body) => {
        res.writeHead(200, { 'content-length': body.length });
        res.write(body.subarray(0, body.length >> 1), () => {
          if (cut[1] === 'break') res.destroy();
        });
      });
      return;
    }
    // /norange/<path> plays a server that ignores Range and always sends the whole file.
    const ignoreRange = url.pathname.startsWith('/norange/');
    const served = ignoreRange ? url.pathname.slice('/norange'.length) : url.pathname;
    const file = path.join(modelsRoot, path.normalize(decodeURIComponent(served)).replace(/^(\.\.[/\\])+/, ''));
    if (!file.startsWith(modelsRoot) || !existsSync(file)) {
      record(404);
      res.writeHead(404).end('not found');
      return;
    }
    void (async () => {
      let body = await readFile(file);
      if (corrupt.has(served)) {
        body = Buffer.from(body);
        body[body.length >> 1] = body[body.length >> 1]! ^ 0xff;
      }
      const range = ignoreRange ? null : /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (range) {
        const start = Number(range[1]);
        if (start >= body.length) {
          record(416);
          res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
          return;
        }
        record(206);
        res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
        res.end(body.subarray(start));
        return;
      }
      record(200);
      res.writeHead(200, { 'content-length': body.length, 'accept-ranges': 'bytes' });
      res.end(body);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  // The stalled responses never end on their own.
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  seen = [];
  corrupt.clear();
});

const entry = findModel('retinaface-mbnet0.25')!;

describe('model download against a local HTTP server', () => {
  it('downloads a missing catalogue model from the mirror, verifies it and reports progress', async () => {
    const modelsDir = path.join(dir, 'fresh');
    const progress: [number, number | undefined][] = [];
    const file = await resolveModel(entry.id, 'detector', { modelsDir, baseUrl, onProgress: (r, t) => progress.push([r, t]) });
    expect(file).toBe(path.join(modelsDir, entry.file));
    expect(await sha256OfFile(file)).toBe(entry.sha256);
    expect(existsSync(file + PARTIAL_SUFFIX)).toBe(false);
    expect(progress.at(-1)).toEqual([entry.bytes, entry.bytes]);
    expect(progress.length).toBeGreaterThan(1);
    expect(seen).toEqual([expect.objectContaining({ url: `/${entry.file}`, status: 200 })]);
    // Present and verified now: a second resolve does not touch the network.
    await resolveModel(entry.id, 'detector', { modelsDir, baseUrl });
    expect(seen).toHaveLength(1);
  });

  it('takes the base URL from REVIVE_MODELS_BASE_URL and follows redirects', async () => {
    const modelsDir = path.join(dir, 'env');
    const before = process.env[MODELS_BASE_URL_ENV];
    process.env[MODELS_BASE_URL_ENV] = `${baseUrl}/redirect/`;
    try {
      const file = await resolveModel('yunet', 'detector', { modelsDir });
      expect(await sha256OfFile(file)).toBe(findModel('yunet')!.sha256);
    } finally {
      if (before === undefined) delete process.env[MODELS_BASE_URL_ENV];
      else process.env[MODELS_BASE_URL_ENV] = before;
    }
    expect(seen.map((s) => s.status)).toEqual([302, 200]);
  });

  it('resumes a truncated .partial with a Range request', async () => {
    const modelsDir = path.join(dir, 'resume');
    const destination = path.join(modelsDir, entry.file);
    const original = await readFile(path.join(modelsRoot, entry.file));
    const kept = 700_000;
    await mkdir(path.dirname(destination), { recursive: true });
    await writeFile(destination + PARTIAL_SUFFIX, original.subarray(0, kept));
    const progress: number[] = [];
    await resolveModel(entry.id, 'detector', { modelsDir, baseUrl, onProgress: (r) => progress.push(r) });
    expect(seen).toEqual([expect.objectContaining({ status: 206, headers: expect.objectContaining({ range: `bytes=${kept}-` }) })]);
    expect(progress[0]).toBe(kept);
    expect((await stat(destination)).size).toBe(original.length);
    expect(await sha256OfFile(destination)).toBe(entry.sha256);
  });

  it('starts over when the server ignores the Range request, instead of appending a second copy', async () => {
    const modelsDir = path.join(dir, 'norange');
    const destination = path.join(modelsDir, entry.file);
    const original = await readFile(path.join(modelsRoot, entry.file));
    await mkdir(path.dirname(destination), { recursive: true });
    await writeFile(destination + PARTIAL_SUFFIX, original.subarray(0, 500_000));
    await resolveModel(entry.id, 'detector', { modelsDir, baseUrl: `${baseUrl}/norange` });
    expect(seen).toEqual([expect.objectContaining({ status: 200, headers: expect.objectContaining({ range: 'bytes=500000-' }) })]);
    expect(await sha256OfFile(destination)).toBe(entry.sha256);
  });

  it('refuses a corrupt download with MODEL_CHECKSUM and leaves nothing in place', async () => {
    const modelsDir = path.join(dir, 'corrupt');
    corrupt.add(`/${entry.file}`);
    const error = await resolveModel(entry.id, 'detector', { modelsDir, baseUrl }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ code: 'MODEL_CHECKSUM', message: expect.stringContaining(entry.sha256!) });
    const destination = path.join(modelsDir, entry.file);
    expect(existsSync(destination)).toBe(false);
    expect(existsSync(destination + PARTIAL_SUFFIX)).toBe(false);
  });

  it('offline: fails with MODEL_UNAVAILABLE naming the file, the URL and where to put it', async () => {
    // A port that was just listening and is now closed: connection refused.
    const dead = createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
    await new Promise((resolve) => dead.close(resolve));
    const modelsDir = path.join(dir, 'offline');
    const error = await resolveModel(entry.id, 'detector', { modelsDir, baseUrl: deadUrl }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ code: 'MODEL_UNAVAILABLE' });
    const message = (error as Error).message;
    expect(message).toContain(`${deadUrl}/${entry.file}`);
    expect(message).toContain(path.join(modelsDir, entry.file));
    expect(message).toMatch(/offline or unreachable/);
  });

  it('a body that stalls fails after the idle timeout, keeping what arrived, and the next try resumes it', async () => {
    const destination = path.join(dir, 'stall', entry.file);
    const original = await readFile(path.join(modelsRoot, entry.file));
    const error = await downloadModel({ url: `${baseUrl}/stall/${entry.file}`, destination, sha256: entry.sha256!, idleTimeoutMs: 500 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelDownloadError);
    expect(error).toMatchObject({ code: 'MODEL_UNAVAILABLE', stage: 'body' });
    expect((error as Error).message).toMatch(/stalled \(no data for 0\.5 s\) after \d+ bytes/);
    expect((error as Error).message).toContain(destination + PARTIAL_SUFFIX);
    expect(existsSync(destination)).toBe(false);
    const kept = (await stat(destination + PARTIAL_SUFFIX)).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(original.length >> 1);
    await downloadModel({ url: `${baseUrl}/${entry.file}`, destination, sha256: entry.sha256! });
    expect(seen.at(-1)).toMatchObject({ status: 206, headers: expect.objectContaining({ range: `bytes=${kept}-` }) });
    expect(await sha256OfFile(destination)).toBe(entry.sha256);
  });

  it('a connection that breaks midway keeps every byte it counted in the .partial file', async () => {
    const destination = path.join(dir, 'break', entry.file);
    const error = await downloadModel({ url: `${baseUrl}/break/${entry.file}`, destination, sha256: entry.sha256! }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'MODEL_UNAVAILABLE', stage: 'body' });
    const received = Number(/the connection broke after (\d+) bytes/.exec((error as Error).message)?.[1]);
    expect(received).toBeGreaterThan(0);
    expect((await stat(destination + PARTIAL_SUFFIX)).size).toBe(received);
  });

  it('offline is a connect-stage error, an error status an http-stage one', async () => {
    const dead = createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
    await new Promise((resolve) => dead.close(resolve));
    await expect(downloadModel({ url: `${deadUrl}/x.onnx`, destination: path.join(dir, 'stages', 'x.onnx') })).rejects.toMatchObject({ stage: 'connect' });
    await expect(downloadModel({ url: `${baseUrl}/nope/x.onnx`, destination: path.join(dir, 'stages', 'x.onnx') })).rejects.toMatchObject({ stage: 'http' });
  });

  it('an HTTP error is MODEL_UNAVAILABLE too, with the status', async () => {
    const error = await downloadModel({ url: `${baseUrl}/nope/missing.onnx`, destination: path.join(dir, 'x', 'missing.onnx') }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'MODEL_UNAVAILABLE', message: expect.stringContaining('HTTP 404') });
  });
});
