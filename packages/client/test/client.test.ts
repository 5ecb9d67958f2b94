// @revive/client against the local stack: the real API handlers behind the local server, the emulators, and (for
// the waits and the webhook) a real `revive serve` process. A second stack without a worker keeps jobs QUEUED, so
// cancel and listing are deterministic.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jobListResponseSchema, jobResponseSchema, webhookMessageId } from '@revive/contract';
import type {} from '@revive/local-aws/vitest-setup';
import { sharedDir, writeIdentityRestorer } from '@revive/pipeline/testing';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLocalServer } from '../../dev-stack/src/server.js';
import { LOCAL_WEBHOOK_SECRET, startLocalStack, type LocalStack } from '../../dev-stack/src/stack.js';
import { Revive, ReviveError, verifyWebhook, WEBHOOK_EVENT_HEADER, WEBHOOK_ID_HEADER } from '../src/index.js';

const PHOTO = path.join(sharedDir(), 'photos', 'whole', 'blurry_face.jpg');
/** blurry_face.jpg's faces, as a person counts them (../shared/photos/README.md). */
const PHOTO_FACES = 1;
let stack: LocalStack;
let idle: LocalStack;
let modelDir: string;
let hooks: Server;
const received: { body: string; headers: IncomingHttpHeaders }[] = [];
const hookArrived: ((n: number) => void)[] = [];
const workerLog: string[] = [];

/** Resolves once `n` webhooks have arrived (an event, not a timer). */
function webhooks(n: number): Promise<void> {
  if (received.length >= n) return Promise.resolve();
  return new Promise((resolve) => hookArrived.push((count) => count >= n && resolve()));
}

beforeAll(async () => {
  hooks = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
      res.writeHead(204).end();
      for (const notify of hookArrived) notify(received.length);
    });
  });
  await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
  modelDir = await mkdtemp(path.join(tmpdir(), 'revive-client-models-'));
  const env = {
    ...process.env,
    REVIVE_RESTORER: await writeIdentityRestorer(modelDir),
    REVIVE_MODELS_DIR: path.join(sharedDir(), 'models'),
    REVIVE_WAIT_TIME_SECONDS: '1',
    // The webhook receiver below listens on loopback, which the URL policy refuses unless allowed.
    REVIVE_URL_ALLOW_CIDRS: '127.0.0.1/32',
  };
  const target = inject('localAws');
  [stack, idle] = await Promise.all([
    startLocalStack({ target, port: 0, env, workerOutput: (line) => workerLog.push(line), log: (line) => workerLog.push(line) }),
    startLocalStack({ target, port: 0, env, worker: false, sweepIntervalMs: 0, log: () => undefined }),
  ]);
});
afterAll(async () => {
  await Promise.all([stack?.stop(), idle?.stop()]);
  hooks?.close();
  if (modelDir) await rm(modelDir, { recursive: true, force: true });
});

const photo = async () => new Blob([await readFile(PHOTO)], { type: 'image/jpeg' });

describe('@revive/client against the local stack', () => {
  it("uploads, waits until SUCCEEDED with the faces in input pixels, and the worker's webhook verifies with the client and with standardwebhooks", async () => {
    const revive = new Revive({ baseUrl: stack.server.url, tenant: 'client-ok' });
    const updates: string[] = [];
    const hookUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hook`;
    const job = await revive.restore(await photo(), { options: { upscale: 2 }, webhookUrl: hookUrl, intervalMs: 200, onUpdate: (j) => updates.push(j.status) });
    expect(jobResponseSchema.parse(job)).toEqual(job);
    expect(job.status, workerLog.slice(-20).join('\n')).toBe('SUCCEEDED');
    expect(updates.at(-1)).toBe('SUCCEEDED');
    expect(job.faces).toHaveLength(job.metrics.faces_found!);
    expect(job.faces.length).toBe(PHOTO_FACES);
    // Boxes are in the input's pixels: inside the original (the output is twice as large).
    const inputWidth = job.output.width! / 2;
    const inputHeight = job.output.height! / 2;
    for (const face of job.faces) {
      const [x1, y1, x2, y2] = face.box;
      expect(x2).toBeGreaterThan(x1);
      expect(y2).toBeGreaterThan(y1);
      expect(x1).toBeGreaterThanOrEqual(-inputWidth * 0.1);
      expect(x2).toBeLessThanOrEqual(inputWidth * 1.1);
      expect(y2).toBeLessThanOrEqual(inputHeight * 1.1);
      expect(face.score).toBeGreaterThan(0.3);
      expect(face.landmarks).toHaveLength(5);
    }
    const result = await fetch(job.output.url);
    expect(result.status).toBe(200);

    await webhooks(1);
    const hook = received.find((r) => r.body.includes(job.id))!;
    expect(hook.headers[WEBHOOK_EVENT_HEADER]).toBe('job.succeeded');
    expect(hook.headers[WEBHOOK_ID_HEADER]).toBe(webhookMessageId(job.id, 'job.succeeded'));
    // The client's verifier accepts the worker's delivery, and refuses it changed, under another key, or too late.
    expect(await verifyWebhook(hook.body, hook.headers, LOCAL_WEBHOOK_SECRET)).toBe(true);
    expect(await verifyWebhook(new TextEncoder().encode(hook.body), hook.headers, LOCAL_WEBHOOK_SECRET)).toBe(true);
    expect(await verifyWebhook(hook.body.replace('SUCCEEDED', 'FAILED'), hook.headers, LOCAL_WEBHOOK_SECRET)).toBe(false);
    expect(await verifyWebhook(hook.body, hook.headers, `whsec_${Buffer.alloc(32, 5).toString('base64')}`)).toBe(false);
    expect(await verifyWebhook(hook.body, hook.headers, LOCAL_WEBHOOK_SECRET, { nowSeconds: Math.floor(Date.now() / 1000) + 3600 })).toBe(false);
    // So does Standard Webhooks' reference library: any receiver built on it can take Revive's webhooks.
    const standard = new Webhook(LOCAL_WEBHOOK_SECRET);
    expect(jobResponseSchema.parse(standard.verify(hook.body, hook.headers as Record<string, string>))).toMatchObject({ id: job.id, status: 'SUCCEEDED' });
    expect(() => standard.verify(hook.body.replace('SUCCEEDED', 'FAILED'), hook.headers as Record<string, string>)).toThrow(WebhookVerificationError);
    const payload = jobResponseSchema.parse(JSON.parse(hook.body));
    expect(payload.faces).toEqual(job.faces);
  });

  it('waits until FAILED and reports the job error (a damaged JPEG: JPEG by its first bytes, undecodable after)', async () => {
    const revive = new Revive({ baseUrl: stack.server.url, tenant: 'client-bad' });
    const damaged = (text: string) => new Blob([new Uint8Array([0xff, 0xd8, 0xff, 0xe0]), text], { type: 'image/jpeg' });
    const upload = await revive.uploads.create(damaged('this is not a photo'), { contentType: 'image/jpeg' });
    const created = await revive.jobs.create({ source: { uploadKey: upload.uploadKey } });
    const job = await revive.jobs.wait(created.id, { intervalMs: 200 });
    expect(job.status).toBe('FAILED');
    expect(job.error?.code).toBe('INVALID_IMAGE');
    expect(job.faces).toBeNull();
    const thrown = await revive.restore(damaged('still not a photo'), { intervalMs: 200 }).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(ReviveError);
    expect(thrown).toMatchObject({ code: 'JOB_FAILED', retryable: false, job: { status: 'FAILED', error: { code: 'INVALID_IMAGE' } } });
  });

  it('refuses a file over max_bytes before sending it, and the storage refuses a non-image type', async () => {
    const seen: string[] = [];
    const revive = new Revive({ baseUrl: stack.server.url, tenant: 'client-big', fetch: (input, init) => (seen.push(`${init?.method} ${String(input)}`), fetch(input, init)) });
    const max = stack.server.deps.config.REVIVE_UPLOAD_MAX_BYTES;
    const big = new Blob([new Uint8Array(max + 1)], { type: 'image/jpeg' });
    await expect(revive.uploads.create(big)).rejects.toMatchObject({ name: 'ReviveError', code: 'UPLOAD_TOO_LARGE', status: 0 });
    expect(seen).toEqual([`POST ${stack.server.url}/uploads`]);
    await expect(revive.uploads.create(new Blob(['hello'], { type: 'text/plain' }))).rejects.toMatchObject({ code: 'UPLOAD_REJECTED', status: 403 });
  });
});

describe('@revive/client against the API without a worker (jobs stay QUEUED)', () => {
  it('creates with an Idempotency-Key: the repeat is the same job, another body is IDEMPOTENCY_KEY_REUSED', async () => {
    const revive = new Revive({ baseUrl: idle.server.url, tenant: 'client-idem' });
    const { uploadKey } = await revive.uploads.create(await photo());
    const key = `order-${Date.now()}`;
    const first = await revive.jobs.create({ source: { uploadKey }, options: { upscale: 1 } }, { idempotencyKey: key });
    const again = await revive.jobs.create({ source: { uploadKey }, options: { upscale: 1 } }, { idempotencyKey: key });
    expect(again.id).toBe(first.id);
    expect(first.status).toBe('QUEUED');
    const reused = await revive.jobs.create({ source: { uploadKey }, options: { upscale: 3 } }, { idempotencyKey: key }).catch((e: unknown) => e);
    expect(reused).toBeInstanceOf(ReviveError);
    expect(reused).toMatchObject({ status: 422, code: 'IDEMPOTENCY_KEY_REUSED', retryable: false });
  });

  it('cancels a QUEUED job; a second cancel is JOB_NOT_CANCELABLE; wait returns the CANCELED job', async () => {
    const revive = new Revive({ baseUrl: idle.server.url, token: async () => undefined, tenant: 'client-cancel' });
    const { uploadKey } = await revive.uploads.create(await photo());
    const job = await revive.jobs.create({ source: { uploadKey } });
    const canceled = await revive.jobs.cancel(job.id);
    expect(canceled.status).toBe('CANCELED');
    expect((await revive.jobs.wait(job.id)).status).toBe('CANCELED');
    await expect(revive.jobs.cancel(job.id)).rejects.toMatchObject({ status: 409, code: 'JOB_NOT_CANCELABLE' });
  });

  it('lists every job across pages, newest first, fetching one page at a time', async () => {
    let listCalls = 0;
    const revive = new Revive({
      baseUrl: idle.server.url,
      tenant: `client-list-${Date.now()}`,
      fetch: (input, init) => {
        if (init?.method === 'GET' && String(input).includes('/jobs?')) listCalls++;
        return fetch(input, init);
      },
    });
    const { uploadKey } = await revive.uploads.create(await photo());
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await revive.jobs.create({ source: { uploadKey }, options: { upscale: 1 } })).id);
    const listed: string[] = [];
    for await (const job of revive.jobs.list({ limit: 2 })) listed.push(job.id);
    expect(listed).toEqual([...ids].reverse());
    expect(listCalls).toBe(3);
    const page = await revive.jobs.page({ limit: 2 });
    expect(jobListResponseSchema.parse(page).jobs).toHaveLength(2);
    // Stopping early fetches no further page.
    listCalls = 0;
    for await (const job of revive.jobs.list({ limit: 2 })) if (job) break;
    expect(listCalls).toBe(1);
  });

  it('retries a real 503 ENQUEUE_FAILED with the same Idempotency-Key, and the retry queues that same job', async () => {
    // An API whose queue does not exist (same table and bucket) answers ENQUEUE_FAILED; the retry goes to the
    // working API, as if SQS had come back between the two tries.
    const broken = await startLocalServer({
      port: 0,
      env: { ...process.env, ...idle.env, REVIVE_LOCAL_MODE: 'true', REVIVE_QUEUE_URL: `${idle.target.endpoints.sqs}/000000000000/no-such-queue-${Date.now()}` },
    });
    try {
      const tries: { status: number; key: string | undefined; code?: string }[] = [];
      const tenant = `client-enqueue-${Date.now()}`;
      const revive = new Revive({
        baseUrl: broken.url,
        tenant,
        fetch: async (input, init) => {
          const url = String(input);
          if (init?.method !== 'POST' || !url.endsWith('/jobs')) return await fetch(input, init);
          const res = await fetch(tries.length === 0 ? url : url.replace(broken.url, idle.server.url), init);
          const code = res.status === 503 ? ((await res.clone().json()) as { code: string }).code : undefined;
          tries.push({ status: res.status, key: (init.headers as Record<string, string>)['idempotency-key'], ...(code && { code }) });
          return res;
        },
      });
      const { uploadKey } = await revive.uploads.create(await photo());
      const job = await revive.jobs.create({ source: { uploadKey } });
      expect(tries.map((t) => [t.status, t.code])).toEqual([[503, 'ENQUEUE_FAILED'], [202, undefined]]);
      expect(tries[1]!.key).toBe(tries[0]!.key);
      expect(job.status).toBe('QUEUED');
      // One job, not two: the retry found the record the failed try wrote.
      const listed: string[] = [];
      for await (const j of new Revive({ baseUrl: idle.server.url, tenant }).jobs.list()) listed.push(j.id);
      expect(listed).toEqual([job.id]);
    } finally {
      await broken.close();
    }
  });

  it('turns problem+json into ReviveError with the API code', async () => {
    const revive = new Revive({ baseUrl: idle.server.url, tenant: 'client-errors' });
    await expect(revive.jobs.get('00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({ name: 'ReviveError', status: 404, code: 'JOB_NOT_FOUND' });
    const invalid = await revive.jobs.create({ source: { uploadKey: 'x' }, options: { upscale: 9 } }).catch((e: unknown) => e as ReviveError);
    expect(invalid).toMatchObject({ status: 400, code: 'VALIDATION_FAILED', retryable: false });
    expect((invalid as ReviveError).errors.map((e) => e.path)).toContain('options.upscale');
    await expect(revive.jobs.page({ cursor: 'not-a-cursor' })).rejects.toMatchObject({ status: 400, code: 'INVALID_CURSOR' });
    await expect(revive.jobs.create({ source: { uploadKey: 'uploads/someone-else/x' } })).rejects.toMatchObject({ status: 403, code: 'FORBIDDEN_UPLOAD_KEY' });
    const anonymous = new Revive({ baseUrl: idle.server.url });
    await expect(anonymous.jobs.page()).rejects.toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
  });
});
