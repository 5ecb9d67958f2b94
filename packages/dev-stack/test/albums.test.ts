// Albums end to end over HTTP against the local stack: POST /albums with 50 photos (48 uploads, 2 URLs that answer
// 404) → the real `revive serve` restores each as its own photo job → the album's progress, its children page by
// page, and the ZIP of the photos that succeeded. Also a canceled album: its photos not started are skipped.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

import type {} from '@revive/local-aws/vitest-setup';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { jobListResponseSchema, jobResponseSchema, type CreateUploadResponse, type JobResponse } from '@revive/contract';
import { photo, sharedDir, writeIdentityRestorer } from '@revive/pipeline/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../src/stack.js';

const run = promisify(execFile);
const TENANT = 'album-tenant';
const PHOTOS = 50;
const MISSING = [17, 33];
let stack: LocalStack;
let dir: string;
let missingHost: Server;
let missingBase = '';
const workerLog: string[] = [];

async function call(method: string, route: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${stack.server.url}${route}`, {
    method,
    headers: { 'content-type': 'application/json', 'x-revive-tenant': TENANT, ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as unknown };
}

async function uploadJpeg(bytes: Uint8Array): Promise<string> {
  const created = await call('POST', '/uploads');
  const upload = created.body as CreateUploadResponse;
  const form = new FormData();
  for (const [k, v] of Object.entries(upload.fields)) form.append(k, v);
  form.append('Content-Type', 'image/jpeg');
  form.append('file', new Blob([bytes], { type: 'image/jpeg' }), 'photo.jpg');
  const res = await fetch(upload.url, { method: 'POST', body: form });
  expect(res.status).toBe(204);
  return upload.uploadKey;
}

/** Every child of a parent, following next_cursor, with the page sizes seen. */
async function allChildren(id: string, limit: number): Promise<{ jobs: JobResponse[]; pages: number[] }> {
  const jobs: JobResponse[] = [];
  const pages: number[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ limit: String(limit), ...(cursor === null ? {} : { cursor }) });
    const page = await call('GET', `/jobs/${id}/children?${query}`);
    expect(page.status).toBe(200);
    const list = jobListResponseSchema.parse(page.body);
    jobs.push(...list.jobs);
    pages.push(list.jobs.length);
    cursor = list.next_cursor;
  } while (cursor !== null);
  return { jobs, pages };
}

/** Polls GET /jobs/{id} until the job ends, keeping each progress seen. */
async function untilEnded(id: string, timeoutMs: number): Promise<{ job: JobResponse; progress: NonNullable<JobResponse['progress']>[] }> {
  const progress: NonNullable<JobResponse['progress']>[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = jobResponseSchema.parse((await call('GET', `/jobs/${id}`)).body);
    if (job.progress !== null) progress.push(job.progress);
    if (!['QUEUED', 'RUNNING'].includes(job.status)) return { job, progress };
    if (Date.now() > deadline) throw new Error(`album ${id} still ${job.status} after ${timeoutMs} ms: ${JSON.stringify(job.progress)}\n${workerLog.slice(-20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-albums-'));
  const restorer = await writeIdentityRestorer(dir);
  missingHost = createServer((_req, res) => res.writeHead(404).end());
  await new Promise<void>((r) => missingHost.listen(0, '127.0.0.2', r));
  missingBase = `http://127.0.0.2:${(missingHost.address() as AddressInfo).port}`;
  stack = await startLocalStack({
    target: inject('localAws'),
    port: 0,
    env: {
      ...process.env,
      REVIVE_RESTORER: restorer,
      REVIVE_MODELS_DIR: path.join(sharedDir(), 'models'),
      REVIVE_WAIT_TIME_SECONDS: '1',
      REVIVE_CONCURRENCY: '2',
      REVIVE_URL_ALLOW_CIDRS: '127.0.0.2/32',
    },
    workerOutput: (line) => workerLog.push(line),
    log: (line) => workerLog.push(line),
  });
});
afterAll(async () => {
  await stack?.stop();
  missingHost?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('albums against the local stack', () => {
  it('restores 50 photos as child jobs, shows progress and children, and ends FAILED ALBUM_PARTLY_FAILED with a ZIP of the 48 that succeeded', async () => {
    // Two sizes, so the ZIP's entries can be told apart by content.
    const [a, b] = [await photo(96), await photo(112)];
    const sources = await Promise.all(
      Array.from({ length: PHOTOS }, async (_, i) => (MISSING.includes(i) ? { url: `${missingBase}/gone-${i}.jpg` } : { uploadKey: await uploadJpeg(i % 2 === 0 ? a.bytes : b.bytes) })),
    );
    const created = await call('POST', '/albums', { sources, options: { upscale: 1 } }, { 'idempotency-key': `album-${Date.now()}` });
    expect(created.status).toBe(202);
    const album = jobResponseSchema.parse(created.body);
    expect(album).toMatchObject({ kind: 'album', status: 'QUEUED', parent_id: null, input: { source: null }, progress: { total: PHOTOS, done: 0, failed: 0 } });
    expect(album.urls.children).toMatch(new RegExp(`/jobs/${album.id}/children$`));

    const { job: ended, progress } = await untilEnded(album.id, 240_000);
    expect(ended.status, JSON.stringify(ended.error)).toBe('FAILED');
    expect(ended.error?.code).toBe('ALBUM_PARTLY_FAILED');
    expect(ended.error?.message).toContain(`2 of ${PHOTOS} photos did not succeed`);
    expect(ended.progress).toMatchObject({ total: PHOTOS, done: PHOTOS - MISSING.length, failed: MISSING.length, eta_seconds: 0 });
    // Progress only moves forward, and was seen part way.
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.done + progress[i]!.failed).toBeGreaterThanOrEqual(progress[i - 1]!.done + progress[i - 1]!.failed);
    expect(progress.some((p) => p.done + p.failed > 0 && p.done + p.failed < PHOTOS)).toBe(true);

    // Children in the request's order, three pages of at most 20; each an ordinary job with its album as parent.
    const { jobs: children, pages } = await allChildren(album.id, 20);
    expect(pages).toEqual([20, 20, 10]);
    expect(children).toHaveLength(PHOTOS);
    for (const [i, child] of children.entries()) {
      expect(child.parent_id).toBe(album.id);
      expect(child.kind).toBe('photo');
      if (MISSING.includes(i)) expect(child, `child ${i}`).toMatchObject({ status: 'FAILED', error: { code: 'SOURCE_NOT_FOUND' }, output: null });
      else expect(child.status, `child ${i}`).toBe('SUCCEEDED');
    }
    // A child is reachable on its own.
    const one = jobResponseSchema.parse((await call('GET', `/jobs/${children[0]!.id}`)).body);
    expect(one).toMatchObject({ id: children[0]!.id, parent_id: album.id, status: 'SUCCEEDED' });

    // The ZIP: one entry per photo that succeeded, named by its place, each the child's own result.
    expect(ended.output).not.toBeNull();
    const zipResponse = await fetch(ended.output!.url);
    expect(zipResponse.status).toBe(200);
    const zipFile = path.join(dir, 'album.zip');
    await writeFile(zipFile, new Uint8Array(await zipResponse.arrayBuffer()));
    const listing = (await run('zipinfo', ['-1', zipFile])).stdout.trim().split('\n');
    const expectedNames = children.flatMap((c, i) => (c.status === 'SUCCEEDED' ? [`${String(i + 1).padStart(4, '0')}.jpg`] : []));
    expect(listing).toEqual(expectedNames);
    for (const i of [0, 1, 49]) {
      const entry = (await run('unzip', ['-p', zipFile, `${String(i + 1).padStart(4, '0')}.jpg`], { encoding: 'buffer', maxBuffer: 1 << 24 })).stdout;
      const own = new Uint8Array(await (await fetch(children[i]!.output!.url)).arrayBuffer());
      expect(createHash('sha256').update(entry).digest('hex'), `entry ${i}`).toBe(createHash('sha256').update(own).digest('hex'));
    }
    // The album appears once in the tenant's list, as an album.
    const listed = jobListResponseSchema.parse((await call('GET', '/jobs?limit=100')).body);
    expect(listed.jobs.filter((j) => j.id === album.id).map((j) => j.kind)).toEqual(['album']);
  }, 300_000);

  it('cancels a running album: the photos not started are skipped as CANCELED, and the album stays CANCELED', async () => {
    const { bytes } = await photo(96);
    const key = await uploadJpeg(bytes);
    const created = await call('POST', '/albums', { sources: Array.from({ length: 30 }, () => ({ uploadKey: key })), options: { upscale: 1 } });
    expect(created.status).toBe(202);
    const album = jobResponseSchema.parse(created.body);
    const canceled = await call('DELETE', `/jobs/${album.id}`);
    expect(canceled.status).toBe(200);
    expect(jobResponseSchema.parse(canceled.body).status).toBe('CANCELED');

    // Every child ends (the worker takes each message and skips it), and is counted on the album.
    const deadline = Date.now() + 180_000;
    let children: JobResponse[] = [];
    while (Date.now() < deadline) {
      children = (await allChildren(album.id, 100)).jobs;
      if (children.every((c) => !['QUEUED', 'RUNNING'].includes(c.status))) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const statuses = children.map((c) => c.status);
    expect(statuses.filter((s) => s === 'CANCELED').length, statuses.join(',')).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 'CANCELED' || s === 'SUCCEEDED')).toBe(true);
    let after = jobResponseSchema.parse((await call('GET', `/jobs/${album.id}`)).body);
    while (after.progress!.done + after.progress!.failed < 30 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      after = jobResponseSchema.parse((await call('GET', `/jobs/${album.id}`)).body);
    }
    expect(after).toMatchObject({ status: 'CANCELED', output: null, progress: { total: 30, done: statuses.filter((s) => s === 'SUCCEEDED').length, failed: statuses.filter((s) => s === 'CANCELED').length } });
    expect((await call('DELETE', `/jobs/${album.id}`)).status).toBe(409);
  }, 240_000);
});
