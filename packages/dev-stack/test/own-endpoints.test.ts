// REVIVE_URL_ALLOW_CIDRS=127.0.0.0/8 (a loopback webhook receiver under test) must not let one tenant read another's
// upload through the S3 emulator, which has no authentication: the stack's own ports are denied to job URLs whatever
// the allow-list says, while other loopback hosts stay reachable. The real stack and worker on the shared emulators.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

import type {} from '@revive/local-aws/vitest-setup';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CreateUploadResponse, JobResponse } from '@revive/contract';
import { sharedDir, writeIdentityRestorer } from '@revive/pipeline/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../src/stack.js';

const PHOTO = path.join(sharedDir(), 'photos', 'whole', 'blurry_face.jpg');
const OWNER = 'tenant-a';
const OTHER = 'tenant-b';
const RECEIVER_HOST = '127.0.0.2';
let stack: LocalStack;
let modelDir: string;
let photo: Buffer;
let source: Server;
const log: string[] = [];

async function call(tenant: string, method: string, route: string, body?: unknown) {
  const res = await fetch(`${stack.server.url}${route}`, {
    method,
    headers: { 'content-type': 'application/json', 'x-revive-tenant': tenant },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as unknown };
}

/** Creates a job from `url` for `tenant` and polls until it ends. */
async function runJob(tenant: string, url: string): Promise<JobResponse> {
  const created = await call(tenant, 'POST', '/jobs', { source: { url }, options: { upscale: 1 } });
  expect(created.status, JSON.stringify(created.body)).toBe(202);
  let job = created.body as JobResponse;
  const deadline = Date.now() + 150_000;
  while ((job.status === 'QUEUED' || job.status === 'RUNNING') && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    job = (await call(tenant, 'GET', `/jobs/${job.id}`)).body as JobResponse;
  }
  return job;
}

beforeAll(async () => {
  modelDir = await mkdtemp(path.join(tmpdir(), 'revive-own-endpoints-'));
  photo = await readFile(PHOTO);
  // A source on an allowed loopback host: serves the photo, or redirects where `?to=` says (what the API cannot see).
  source = createServer((req, res) => {
    const to = new URL(req.url ?? '/', 'http://x').searchParams.get('to');
    if (to !== null) res.writeHead(302, { location: to }).end();
    else res.writeHead(200, { 'content-type': 'image/jpeg' }).end(photo);
  });
  await new Promise<void>((resolve) => source.listen(0, RECEIVER_HOST, resolve));
  stack = await startLocalStack({
    target: inject('localAws'),
    port: 0,
    env: {
      ...process.env,
      REVIVE_RESTORER: await writeIdentityRestorer(modelDir),
      REVIVE_MODELS_DIR: path.join(sharedDir(), 'models'),
      REVIVE_WAIT_TIME_SECONDS: '1',
      REVIVE_URL_ALLOW_CIDRS: '127.0.0.0/8',
    },
    workerOutput: (line) => log.push(line),
    log: (line) => log.push(line),
    sweepIntervalMs: 0,
  });
});

afterAll(async () => {
  await stack?.stop();
  source?.closeAllConnections();
  await new Promise((resolve) => source?.close(resolve));
  await rm(modelDir, { recursive: true, force: true });
});

describe('the stack never fetches from its own ports, whatever REVIVE_URL_ALLOW_CIDRS allows', () => {
  it("another tenant's upload on the S3 emulator is refused: at the API when named, in the worker when redirected to", async () => {
    const created = await call(OWNER, 'POST', '/uploads', {});
    const upload = created.body as CreateUploadResponse;
    const form = new FormData();
    for (const [k, v] of Object.entries(upload.fields)) form.append(k, v);
    form.append('Content-Type', 'image/jpeg');
    form.append('file', new Blob([photo], { type: 'image/jpeg' }), 'photo.jpg');
    expect((await fetch(upload.url, { method: 'POST', body: form })).status).toBe(204);

    const stolen = `${stack.target.endpoints.s3}/${stack.resources.bucketName}/${upload.uploadKey}`;
    // Named directly, the API refuses it before a job exists.
    const refused = await call(OTHER, 'POST', '/jobs', { source: { url: stolen }, options: { upscale: 1 } });
    expect(refused.status, JSON.stringify(refused.body)).toBe(400);
    expect(refused.body).toMatchObject({ code: 'FORBIDDEN_URL', detail: expect.stringContaining('REVIVE_URL_DENY_ENDPOINTS') });
    // Reached through a redirect from an allowed host, the worker refuses it at connect time.
    const port = (source.address() as AddressInfo).port;
    const job = await runJob(OTHER, `http://${RECEIVER_HOST}:${port}/photo.jpg?to=${encodeURIComponent(stolen)}`);
    expect(job.status, `${JSON.stringify(job.error)}\n${log.slice(-10).join('\n')}`).toBe('FAILED');
    expect(job.error?.code).toBe('FORBIDDEN_URL');
    expect(job.output).toBeNull();
  });

  it('a source on another loopback host the allow-list covers still runs', async () => {
    const job = await runJob(OTHER, `http://${RECEIVER_HOST}:${(source.address() as AddressInfo).port}/photo.jpg`);
    expect(job.status, `${JSON.stringify(job.error)}\n${log.slice(-10).join('\n')}`).toBe('SUCCEEDED');
  });
});
