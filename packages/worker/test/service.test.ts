// The queue worker end to end against the local emulators: real SDK clients over HTTP, `revive serve` as a child
// process. One worker (concurrency 2) serves every case in this file, so it also shows that it keeps serving
// after each failure.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jobResponseSchema, resultKey, webhookMessageId } from '@revive/contract';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readImageHeader } from '@revive/pipeline';
import {
  createStack,
  drainDlq,
  enqueue,
  getObjectBytes,
  getRecord,
  isTerminal,
  photo,
  queueDepth,
  runHealthcheck,
  sendRaw,
  sleep,
  startWorkerProcess,
  TEST_WEBHOOK_SECRET,
  upload,
  waitForRecord,
  writeIdentityRestorer,
  type Stack,
  type WorkerProcess,
} from './service-helpers.js';

const TENANT = 'tenant-a';
let stack: Stack;
let worker: WorkerProcess;
let dir: string;
let small: { bytes: Uint8Array; width: number; height: number };
// 127.0.0.2 is the "public" test host (REVIVE_URL_ALLOW_CIDRS=127.0.0.2/32); 127.0.0.1 stays forbidden.
let allowed: Server;
let loopback: Server;
let allowedBase = '';
let loopbackBase = '';
const hooks: { body: string; headers: IncomingHttpHeaders }[] = [];

async function listen(server: Server, host: string): Promise<string> {
  await new Promise<void>((r) => server.listen(0, host, r));
  return `http://${host}:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-svc-'));
  small = await photo(360);
  allowed = createServer((req, res) => {
    if (req.url === '/photo.jpg') return res.writeHead(200, { 'content-type': 'image/jpeg' }).end(small.bytes);
    if (req.url === '/page.html') return res.writeHead(200, { 'content-type': 'text/html' }).end('<html>not a photo</html>');
    if (req.url === '/to-loopback') return res.writeHead(302, { location: `${loopbackBase}/photo.jpg` }).end();
    if (req.url === '/hook') {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      return req.on('end', () => {
        hooks.push({ body, headers: req.headers });
        res.writeHead(204).end();
      });
    }
    res.writeHead(404).end();
  });
  loopback = createServer((_req, res) => res.writeHead(200, { 'content-type': 'image/jpeg' }).end(small.bytes));
  allowedBase = await listen(allowed, '127.0.0.2');
  loopbackBase = await listen(loopback, '127.0.0.1');
  stack = await createStack(inject('localAws'), { visibilityTimeoutSeconds: 5, maxReceiveCount: 3 });
  const restorer = await writeIdentityRestorer(path.join(dir, 'models'));
  worker = await startWorkerProcess(stack, { restorer, healthFile: path.join(dir, 'health.json'), env: { REVIVE_CONCURRENCY: '2' } });
});

afterAll(async () => {
  await worker?.stop();
  stack?.destroy();
  allowed?.close();
  loopback?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('revive serve', () => {
  it('restores an uploaded photo: SUCCEEDED, a valid image at the expected size, the right content type', async () => {
    const key = await upload(stack, TENANT, small.bytes);
    const job = await enqueue(stack, { kind: 's3', key }, { options: { upscale: 2 } });
    const record = await waitForRecord(stack, job.jobId, isTerminal);
    expect(record).toMatchObject({ status: 'SUCCEEDED', attempts: 1, resultKey: resultKey(TENANT, job.jobId, 'jpg', 1), resultWidth: small.width * 2, resultHeight: small.height * 2 });
    expect(record.facesFound).toBeGreaterThanOrEqual(1);
    expect(record.timingsMs?.restore).toBeGreaterThan(0);
    expect(record.finishedAt && record.startedAt && record.finishedAt >= record.startedAt).toBe(true);
    expect(record.expiresAt).toBeGreaterThan(Date.now() / 1000 + 86_400);
    expect(record.leaseOwner).toBeUndefined();
    const { bytes, contentType } = await getObjectBytes(stack, record.resultKey!);
    expect(contentType).toBe('image/jpeg');
    const header = await readImageHeader(bytes);
    expect(header).toMatchObject({ format: 'jpeg', width: small.width * 2, height: small.height * 2 });
  });

  it('skips a redelivered job that already SUCCEEDED and deletes its message', async () => {
    const key = await upload(stack, TENANT, small.bytes);
    const job = await enqueue(stack, { kind: 's3', key }, { options: { upscale: 1 } });
    const first = await waitForRecord(stack, job.jobId, isTerminal);
    await sendRaw(stack, JSON.stringify(job));
    await worker.waitForLog((l) => l.message === 'job already ended; deleting the redelivered message' && l.jobId === job.jobId, 20_000);
    const after = await getRecord(stack, job.jobId);
    expect(after).toMatchObject({ status: 'SUCCEEDED', attempts: 1, finishedAt: first.finishedAt });
  });

  it('fetches a URL source from an allowed address and delivers a signed webhook', async () => {
    const job = await enqueue(stack, { kind: 'url', url: `${allowedBase}/photo.jpg` }, { options: { upscale: 1, ext: 'png' }, webhookUrl: `${allowedBase}/hook` });
    const record = await waitForRecord(stack, job.jobId, isTerminal);
    expect(record).toMatchObject({ status: 'SUCCEEDED', resultKey: resultKey(TENANT, job.jobId, 'png', record.attempts), resultWidth: small.width });
    expect((await readImageHeader((await getObjectBytes(stack, record.resultKey!)).bytes)).format).toBe('png');
    const deadline = Date.now() + 20_000;
    while (!hooks.some((h) => h.body.includes(job.jobId)) && Date.now() < deadline) await sleep(100);
    const hook = hooks.find((h) => h.body.includes(job.jobId));
    expect(hook).toBeDefined();
    // Standard Webhooks' reference library verifies the worker's delivery.
    expect(new Webhook(TEST_WEBHOOK_SECRET).verify(hook!.body, hook!.headers as Record<string, string>)).toMatchObject({ id: job.jobId });
    expect(hook!.headers['webhook-id']).toBe(webhookMessageId(job.jobId, 'job.succeeded'));
    expect(hook!.headers['revive-event']).toBe('job.succeeded');
    const payload = jobResponseSchema.parse(JSON.parse(hook!.body));
    expect(payload).toMatchObject({ id: job.jobId, status: 'SUCCEEDED', output: { width: small.width, height: small.height } });
    // The presigned URL in the webhook downloads the result.
    const download = await fetch(payload.output!.url);
    expect(download.status).toBe(200);
    expect((await readImageHeader(new Uint8Array(await download.arrayBuffer()))).width).toBe(small.width);
  });

  it.each([
    ['the metadata address', () => 'http://169.254.169.254/latest/meta-data/iam/security-credentials/'],
    ['loopback', () => `${loopbackBase}/photo.jpg`],
    ['a redirect from an allowed host to loopback', () => `${allowedBase}/to-loopback`],
  ])('fails a URL source pointing at %s with FORBIDDEN_URL', async (_name, url) => {
    const job = await enqueue(stack, { kind: 'url', url: url() });
    const record = await waitForRecord(stack, job.jobId, isTerminal);
    expect(record).toMatchObject({ status: 'FAILED', errorCode: 'FORBIDDEN_URL', attempts: 1 });
    expect(record.errorMessage).toMatch(/refused/);
  });

  it('fails a source that is not an image with a reason, and keeps serving', async () => {
    const textKey = await upload(stack, TENANT, new TextEncoder().encode('hello, not a photo'), 'image/jpeg');
    const fromS3 = await enqueue(stack, { kind: 's3', key: textKey });
    const fromUrl = await enqueue(stack, { kind: 'url', url: `${allowedBase}/page.html` });
    const next = await enqueue(stack, { kind: 's3', key: await upload(stack, TENANT, small.bytes) }, { options: { upscale: 1 } });
    expect(await waitForRecord(stack, fromS3.jobId, isTerminal)).toMatchObject({ status: 'FAILED', errorCode: 'INVALID_IMAGE' });
    expect(await waitForRecord(stack, fromUrl.jobId, isTerminal)).toMatchObject({ status: 'FAILED', errorCode: 'INVALID_IMAGE' });
    expect(await waitForRecord(stack, next.jobId, isTerminal)).toMatchObject({ status: 'SUCCEEDED' });
  });

  it('fails jobs that ask for another tenant\'s upload or a model this worker does not serve', async () => {
    const otherKey = await upload(stack, 'tenant-b', small.bytes);
    const stolen = await enqueue(stack, { kind: 's3', key: otherKey });
    const model = await enqueue(stack, { kind: 's3', key: await upload(stack, TENANT, small.bytes) }, { options: { restorer: 'codeformer' } });
    expect(await waitForRecord(stack, stolen.jobId, isTerminal)).toMatchObject({ status: 'FAILED', errorCode: 'SOURCE_NOT_FOUND' });
    expect(await waitForRecord(stack, model.jobId, isTerminal)).toMatchObject({ status: 'FAILED', errorCode: 'UNSUPPORTED_MODEL' });
  });

  it('handles poison messages: an invalid body that names its job → FAILED INVALID_MESSAGE; garbage → the DLQ', async () => {
    const key = await upload(stack, TENANT, small.bytes);
    const job = await enqueue(stack, { kind: 's3', key });
    // The record is QUEUED; a second message for it with a broken body fails it with the reason.
    await sendRaw(stack, JSON.stringify({ ...job, version: 7, options: { upscale: 'big' } }));
    await sendRaw(stack, 'this is { not json');
    const failedOrDone = await waitForRecord(stack, job.jobId, isTerminal);
    // Whichever message got there first wins; both outcomes are conditional writes on the same record.
    if (failedOrDone.status === 'FAILED') {
      expect(failedOrDone.errorCode).toBe('INVALID_MESSAGE');
      expect(failedOrDone.errorMessage).toMatch(/version|upscale/);
    } else {
      expect(failedOrDone.status).toBe('SUCCEEDED');
    }
    // Garbage cycles back at once until SQS moves it to the DLQ (maxReceiveCount 3).
    const deadline = Date.now() + 30_000;
    let dlq: string[] = [];
    while (dlq.length === 0 && Date.now() < deadline) dlq = await drainDlq(stack);
    expect(dlq).toContain('this is { not json');
    // Still serving.
    const next = await enqueue(stack, { kind: 's3', key }, { options: { upscale: 1 } });
    expect(await waitForRecord(stack, next.jobId, isTerminal)).toMatchObject({ status: 'SUCCEEDED' });
  });

  it('skips a job canceled before delivery and deletes its message', async () => {
    const key = await upload(stack, TENANT, small.bytes);
    const job = await enqueue(stack, { kind: 's3', key }, { status: 'CANCELED' });
    await worker.waitForLog((l) => l.message === 'job already ended; deleting the redelivered message' && l.jobId === job.jobId, 20_000);
    expect(await getRecord(stack, job.jobId)).toMatchObject({ status: 'CANCELED', attempts: 0 });
    const deadline = Date.now() + 10_000;
    while ((await queueDepth(stack, stack.resources.queueUrl)) > 0 && Date.now() < deadline) await sleep(200);
    expect(await queueDepth(stack, stack.resources.queueUrl)).toBe(0);
  });

  it('passes `revive healthcheck` while running and fails it when the loop is stopped (SIGSTOP)', async () => {
    const healthy = await runHealthcheck(worker.healthFile);
    expect(healthy, healthy.output).toMatchObject({ code: 0 });
    worker.child.kill('SIGSTOP');
    try {
      // Long poll 1 s + the 15 s margin: the file and the slots' poll times go stale.
      await sleep(17_500);
      const stale = await runHealthcheck(worker.healthFile);
      expect(stale.code).toBe(1);
      expect(stale.output).toMatch(/stale|not polled/);
    } finally {
      worker.child.kill('SIGCONT');
    }
    // Healthy again once the loop runs: within a long poll and a file write.
    let again = await runHealthcheck(worker.healthFile);
    for (let i = 0; i < 10 && again.code !== 0; i++) {
      await sleep(500);
      again = await runHealthcheck(worker.healthFile);
    }
    expect(again, again.output).toMatchObject({ code: 0 });
    expect((await runHealthcheck(path.join(dir, 'missing.json'))).code).toBe(1);
  });
});
