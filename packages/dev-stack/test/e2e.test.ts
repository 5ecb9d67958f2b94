// End to end over HTTP: presigned POST upload → POST /jobs → the real `revive serve` process → GET SUCCEEDED →
// the presigned result URL downloads an image of the expected size. Also the local server's API Gateway limits.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

import type {} from '@revive/local-aws/vitest-setup';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { API_ROUTES, type CreateUploadResponse, type JobResponse, type Problem } from '@revive/contract';
import { sharedDir, writeIdentityRestorer, writeSolidImage } from '@revive/pipeline/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../src/stack.js';
import { imageSize } from './image-size.js';

const PHOTO = path.join(sharedDir(), 'photos', 'whole', 'blurry_face.jpg');
const TENANT = 'e2e-tenant';
const WEBHOOK_HOST = '127.0.0.2';
let stack: LocalStack;
let modelDir: string;
const workerLog: string[] = [];

async function call(method: string, route: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${stack.server.url}${route}`, {
    method,
    headers: { 'content-type': 'application/json', 'x-revive-tenant': TENANT, ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as unknown };
}

/** A presigned POST of `bytes` (any content) with the given type; the proxy checks the policy, not the pixels. */
async function uploadBytes(bytes: Uint8Array, contentType: string): Promise<{ upload: CreateUploadResponse; status: number; text: string }> {
  const created = await call('POST', '/uploads');
  expect(created.status).toBe(201);
  const upload = created.body as CreateUploadResponse;
  const form = new FormData();
  for (const [k, v] of Object.entries(upload.fields)) form.append(k, v);
  form.append('Content-Type', contentType);
  form.append('file', new Blob([bytes], { type: contentType }), 'file');
  const res = await fetch(upload.url, { method: 'POST', body: form });
  return { upload, status: res.status, text: await res.text() };
}

/** A raw HTTP/1.1 exchange, for requests fetch will not send as they are (bad percent-encoding, huge headers). */
async function rawRequest(request: string): Promise<{ status: number; headers: string; body: string }> {
  const { port } = new URL(stack.server.url);
  const socket = connect(Number(port), '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.write(request);
  await once(socket, 'close');
  const text = Buffer.concat(chunks).toString('utf8');
  const [head = '', body = ''] = text.split('\r\n\r\n');
  return { status: Number(head.split(' ')[1]), headers: head.toLowerCase(), body };
}

async function uploadPhoto(file: string, contentType: string): Promise<{ upload: CreateUploadResponse; status: number; text: string }> {
  const created = await call('POST', '/uploads');
  expect(created.status).toBe(201);
  const upload = created.body as CreateUploadResponse;
  const form = new FormData();
  for (const [k, v] of Object.entries(upload.fields)) form.append(k, v);
  form.append('Content-Type', contentType);
  form.append('file', new Blob([await readFile(file)], { type: contentType }), path.basename(file));
  const res = await fetch(upload.url, { method: 'POST', body: form });
  return { upload, status: res.status, text: await res.text() };
}

beforeAll(async () => {
  modelDir = await mkdtemp(path.join(tmpdir(), 'revive-e2e-models-'));
  const restorer = await writeIdentityRestorer(modelDir);
  stack = await startLocalStack({
    target: inject('localAws'),
    port: 0,
    env: {
      ...process.env,
      REVIVE_RESTORER: restorer,
      REVIVE_MODELS_DIR: path.join(sharedDir(), 'models'),
      REVIVE_WAIT_TIME_SECONDS: '1',
      // The webhook receiver below listens on 127.0.0.2; the API and the worker refuse loopback unless allowed.
      REVIVE_URL_ALLOW_CIDRS: `${WEBHOOK_HOST}/32`,
    },
    workerOutput: (line) => workerLog.push(line),
    log: (line) => workerLog.push(line),
  });
});
afterAll(async () => {
  await stack?.stop();
  await rm(modelDir, { recursive: true, force: true });
});

describe('the job flow against the local stack', () => {
  it('uploads, creates, lets the worker restore it, and serves the result', async () => {
    const input = imageSize(await readFile(PHOTO));
    const { upload, status, text } = await uploadPhoto(PHOTO, 'image/jpeg');
    expect(status, text).toBe(204);

    const created = await call('POST', '/jobs', { source: { uploadKey: upload.uploadKey }, options: { upscale: 3 } }, { 'idempotency-key': `e2e-${Date.now()}` });
    expect(created.status).toBe(202);
    let job = created.body as JobResponse;
    const deadline = Date.now() + 150_000;
    const seen = new Set<string>([job.status]);
    while ((job.status === 'QUEUED' || job.status === 'RUNNING') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      job = (await call('GET', new URL(job.urls.get).pathname)).body as JobResponse;
      seen.add(job.status);
    }
    expect(job.status, `${JSON.stringify(job.error)}\n${workerLog.slice(-20).join('\n')}`).toBe('SUCCEEDED');
    expect(job.started_at).not.toBeNull();
    expect(job.completed_at).not.toBeNull();
    expect(job.metrics.attempts).toBeGreaterThanOrEqual(1);
    expect(job.metrics.faces_found).toBeGreaterThanOrEqual(1);
    expect(job.output).not.toBeNull();
    expect(Date.parse(job.output!.expires_at)).toBeGreaterThan(Date.now());

    const result = await fetch(job.output!.url);
    expect(result.status).toBe(200);
    expect(result.headers.get('content-type')).toMatch(/^image\//);
    const size = imageSize(new Uint8Array(await result.arrayBuffer()));
    expect(size).toMatchObject({ width: input.width * 3, height: input.height * 3 });
    expect(job.output).toMatchObject({ width: size.width, height: size.height });

    const other = await call('GET', `/jobs/${job.id}`, undefined, { 'x-revive-tenant': 'someone-else' });
    expect(other.status).toBe(404);
    const listed = (await call('GET', '/jobs?limit=5')).body as { jobs: JobResponse[] };
    expect(listed.jobs.map((j) => j.id)).toContain(job.id);
  });

  it('enforces the upload policy: non-image content types and expired or forged policies are refused', async () => {
    const wrongType = await uploadPhoto(PHOTO, 'text/plain');
    expect(wrongType.status).toBe(403);
    expect(wrongType.text).toContain('AccessDenied');

    const created = (await call('POST', '/uploads')).body as CreateUploadResponse;
    const forged = new FormData();
    for (const [k, v] of Object.entries(created.fields)) forged.append(k, k === 'key' ? created.uploadKey.replace(TENANT, 'victim') : v);
    forged.append('Content-Type', 'image/jpeg');
    forged.append('file', new Blob([await readFile(PHOTO)], { type: 'image/jpeg' }), 'x.jpg');
    const res = await fetch(created.url, { method: 'POST', body: forged });
    expect(res.status).toBe(403);
  });

  it('refuses jobs the worker could only fail, and restores an AVIF it reads', async () => {
    // The stack tells its API which models its worker serves: no background upsampler here.
    const { upload } = await uploadPhoto(PHOTO, 'image/jpeg');
    const upsampled = await call('POST', '/jobs', { source: { uploadKey: upload.uploadKey }, options: { bgUpsampler: 'efrlfn-x2' } });
    expect(upsampled.status).toBe(422);
    expect((upsampled.body as Problem).code).toBe('UNSUPPORTED_MODEL');
    // An SVG passes the `{}` upload policy (image/*: a POST policy cannot list types), and POST /jobs refuses it.
    const svg = await uploadBytes(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>'), 'image/svg+xml');
    expect(svg.status).toBe(204);
    const vector = await call('POST', '/jobs', { source: { uploadKey: svg.upload.uploadKey } });
    expect(vector.status).toBe(422);
    expect((vector.body as Problem).code).toBe('INVALID_IMAGE');

    // AVIF, once refused by POST /uploads, is one of the formats the worker reads.
    const pinned = await call('POST', '/uploads', { contentType: 'image/avif' });
    expect(pinned.status).toBe(201);
    const avifUpload = pinned.body as CreateUploadResponse;
    const form = new FormData();
    for (const [k, v] of Object.entries(avifUpload.fields)) form.append(k, v);
    form.append('file', new Blob([await writeSolidImage(96, 64, 3, 'avif')], { type: 'image/avif' }), 'photo.avif');
    expect((await fetch(avifUpload.url, { method: 'POST', body: form })).status).toBe(204);
    const created = await call('POST', '/jobs', { source: { uploadKey: avifUpload.uploadKey }, options: { upscale: 2 } });
    expect(created.status).toBe(202);
    let job = created.body as JobResponse;
    const deadline = Date.now() + 120_000;
    while ((job.status === 'QUEUED' || job.status === 'RUNNING') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      job = (await call('GET', `/jobs/${job.id}`)).body as JobResponse;
    }
    expect(job.status, `${JSON.stringify(job.error)}\n${workerLog.slice(-20).join('\n')}`).toBe('SUCCEEDED');
    expect(job.output).toMatchObject({ width: 192, height: 128 });
  });

  it("applies API Gateway's limits and answers problem+json for unknown routes", async () => {
    const big = await call('POST', '/jobs', `{"pad":"${'x'.repeat(10 * 1024 * 1024)}"}`);
    expect(big.status).toBe(413);
    expect((big.body as Problem).code).toBe('PAYLOAD_TOO_LARGE');
    const longHeaders = await call('GET', '/jobs', undefined, { 'x-padding': 'y'.repeat(10_300) });
    expect(longHeaders.status).toBe(431);
    expect((longHeaders.body as Problem).code).toBe('HEADERS_TOO_LARGE');
    const unknown = await call('GET', '/nope');
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toBe('application/problem+json');
    expect((unknown.body as Problem).code).toBe('ROUTE_NOT_FOUND');
    const noTenant = await call('GET', '/jobs', undefined, { 'x-revive-tenant': '' });
    expect(noTenant.status).toBe(401);
    // Public (no tenant), and built from the route table the local router uses: every route is described.
    const doc = await call('GET', '/openapi.json', undefined, { 'x-revive-tenant': '' });
    expect(doc.status).toBe(200);
    const described = doc.body as { servers: { url: string }[]; paths: Record<string, Record<string, { operationId: string }>> };
    expect(described.servers[0]?.url).toBe(stack.server.url);
    for (const route of API_ROUTES) expect(described.paths[route.path]?.[route.method.toLowerCase()]?.operationId).toBe(route.operationId);
  });
});

describe('the /s3 proxy checks presigned GETs and serves no active content', () => {
  it('refuses an unsigned, forged or altered URL to an upload, and serves the properly presigned one', async () => {
    const { upload, status } = await uploadBytes(await readFile(PHOTO), 'image/jpeg');
    expect(status).toBe(204);
    const base = `${stack.server.url}/s3/${stack.resources.bucketName}/${upload.uploadKey}`;
    // The reported attack: no signature, a date in the future.
    const forged = await fetch(`${base}?X-Amz-Date=29990101T000000Z&X-Amz-Expires=1`);
    expect(forged.status).toBe(403);
    expect(await forged.text()).not.toContain('JFIF');
    const good = await stack.server.deps.bucket.presignDownload(upload.uploadKey, 60);
    const ok = await fetch(good);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('image/jpeg');
    expect(Buffer.from(await ok.arrayBuffer()).equals(await readFile(PHOTO))).toBe(true);
    // The method is part of the signature, as in S3: the GET URL does not work for a HEAD.
    expect((await fetch(good, { method: 'HEAD' })).status).toBe(403);
    // The same signature with a changed date, expiry or key, or another signature, is refused.
    const tamper = (name: string, value: string) => {
      const url = new URL(good);
      url.searchParams.set(name, value);
      return url.href;
    };
    const altered = [
      tamper('X-Amz-Date', '29990101T000000Z'),
      tamper('X-Amz-Expires', '604800'),
      tamper('X-Amz-Signature', '0'.repeat(64)),
      good.replace(upload.uploadKey, upload.uploadKey.replace(TENANT, 'victim')),
    ];
    for (const url of altered) {
      const res = await fetch(url);
      expect({ url, status: res.status }).toEqual({ url, status: 403 });
      expect(await res.text()).toMatch(/SignatureDoesNotMatch|AccessDenied/);
    }
  });

  it('serves an uploaded SVG with a script as an inert download: octet-stream attachment, nosniff, sandbox CSP', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>');
    const { upload, status, text } = await uploadBytes(svg, 'image/svg+xml');
    expect(status, text).toBe(204);
    const res = await fetch(await stack.server.deps.bucket.presignDownload(upload.uploadKey, 60));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('content-disposition')).toBe('attachment');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toMatch(/^sandbox/);
  });
});

describe('uploads up to max_bytes through the local stack', () => {
  it('stores an upload of exactly max_bytes and refuses one byte more with EntityTooLarge', async () => {
    const max = (await call('POST', '/uploads')).body as CreateUploadResponse;
    expect(max.max_bytes).toBe(20 * 1024 * 1024);
    const at = await uploadBytes(new Uint8Array(max.max_bytes).fill(7), 'image/jpeg');
    expect(at.status, at.text).toBe(204);
    const stored = await fetch(await stack.server.deps.bucket.presignDownload(at.upload.uploadKey, 60));
    expect((await stored.arrayBuffer()).byteLength).toBe(max.max_bytes);
    const over = await uploadBytes(new Uint8Array(max.max_bytes + 1).fill(7), 'image/jpeg');
    expect(over.status).toBe(400);
    expect(over.text).toContain('<Code>EntityTooLarge</Code>');
  });
});

describe('bad percent-encoding in a path', () => {
  it('answers 400 MALFORMED_PATH in problem+json, not 500', async () => {
    for (const line of ['GET /jobs/%E0%A4%A', 'DELETE /jobs/%']) {
      const res = await rawRequest(`${line} HTTP/1.1\r\nhost: 127.0.0.1\r\nx-revive-tenant: ${TENANT}\r\nconnection: close\r\n\r\n`);
      expect({ line, status: res.status }).toEqual({ line, status: 400 });
      expect(res.headers).toContain('content-type: application/problem+json');
      expect((JSON.parse(res.body) as Problem).code).toBe('MALFORMED_PATH');
    }
    const proxied = await fetch(`${stack.server.url}/s3/${stack.resources.bucketName}/uploads/%E0%A4%A?X-Amz-Signature=x`);
    expect(proxied.status).toBe(400);
    expect(await proxied.text()).toContain('InvalidURI');
  });
});

describe('request line and headers over API Gateway\'s 10,240 bytes', () => {
  it('answers problem+json 431 HEADERS_TOO_LARGE, also past Node\'s own header limit', async () => {
    for (const size of [20 * 1024, 200 * 1024]) {
      const res = await rawRequest(`GET /jobs HTTP/1.1\r\nhost: 127.0.0.1\r\nx-revive-tenant: ${TENANT}\r\nx-padding: ${'y'.repeat(size)}\r\nconnection: close\r\n\r\n`);
      expect({ size, status: res.status }).toEqual({ size, status: 431 });
      expect(res.headers).toContain('content-type: application/problem+json');
      expect((JSON.parse(res.body) as Problem).code).toBe('HEADERS_TOO_LARGE');
    }
  });
});

describe('the webhook\'s output.url', () => {
  it('points at the same public /s3 proxy as GET /jobs/{id}, and downloads', async () => {
    const received: JobResponse[] = [];
    let delivered: () => void = () => undefined;
    const arrived = new Promise<void>((resolve) => (delivered = resolve));
    const receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as JobResponse);
        res.writeHead(204).end();
        delivered();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, WEBHOOK_HOST, resolve));
    try {
      const { upload, status } = await uploadPhoto(PHOTO, 'image/jpeg');
      expect(status).toBe(204);
      const webhookUrl = `http://${WEBHOOK_HOST}:${(receiver.address() as AddressInfo).port}/hook`;
      const created = await call('POST', '/jobs', { source: { uploadKey: upload.uploadKey }, options: { upscale: 1 }, webhookUrl });
      expect(created.status, JSON.stringify(created.body)).toBe(202);
      await arrived;
      const hook = received[0]!;
      expect(hook.status, JSON.stringify(hook.error)).toBe('SUCCEEDED');
      const polled = (await call('GET', `/jobs/${hook.id}`)).body as JobResponse;
      const origin = (url: string) => `${new URL(url).origin}${new URL(url).pathname.split('/').slice(0, 3).join('/')}`;
      expect(origin(hook.output!.url)).toBe(`${stack.server.url}/s3/${stack.resources.bucketName}`);
      expect(origin(hook.output!.url)).toBe(origin(polled.output!.url));
      const result = await fetch(hook.output!.url);
      expect(result.status).toBe(200);
      expect(result.headers.get('content-type')).toMatch(/^image\//);
    } finally {
      await new Promise((resolve) => receiver.close(resolve));
    }
  });
});
