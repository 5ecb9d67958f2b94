// The local server at its edges, against the real server and the emulators: paths that URL parsing would turn into
// another one get a 404 problem (not the demo page), the /s3 proxy serves one byte range with 206 and refuses
// ambiguous forms (a field twice, two file parts), and a request body that stops arriving is answered 408.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

import type {} from '@revive/local-aws/vitest-setup';
import { once } from 'node:events';
import { connect } from 'node:net';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import type { CreateUploadResponse } from '@revive/contract';
import { createReviveResources, localAwsEnv, localClients, type ReviveResources } from '@revive/local-aws';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { canonicalPath, startLocalServer, type LocalServer } from '../src/server.js';

const TENANT = 'edges-tenant';
/** Short, so the stalled-body tests wait about a second, not the default ten. */
const IDLE_TIMEOUT_MS = 1_000;
const aws = inject('localAws');
const clients = localClients(aws);
let resources: ReviveResources;
let server: LocalServer;

/** A raw HTTP/1.1 exchange (fetch normalises paths and never sends a short body): the answer and when it came. */
async function raw(request: string, options: { endAfterWrite?: boolean } = {}): Promise<{ status: number; head: string; body: string; closed: boolean }> {
  const { port } = new URL(server.url);
  const socket = connect(Number(port), '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.write(request);
  if (options.endAfterWrite ?? false) socket.end();
  // Every case here ends with the server closing the connection (Connection: close, or the timeout's close).
  await once(socket, 'close');
  const text = Buffer.concat(chunks).toString('utf8');
  const [head = '', body = ''] = text.split('\r\n\r\n');
  return { status: Number(head.split(' ')[1]), head: head.toLowerCase(), body, closed: true };
}

async function createUpload(): Promise<CreateUploadResponse> {
  const res = await fetch(`${server.url}/uploads`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-revive-tenant': TENANT }, body: '{}' });
  expect(res.status).toBe(201);
  return (await res.json()) as CreateUploadResponse;
}

/** A multipart body built by hand, so a field can appear twice and a form can have two file parts. */
function multipart(parts: readonly { name: string; value: string | Uint8Array; filename?: string }[]): { body: Buffer; contentType: string } {
  const boundary = `----revive-edges-${Date.now().toString(36)}`;
  const pieces: Buffer[] = [];
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.filename === undefined ? '' : `; filename="${part.filename}"`}`;
    const type = part.filename === undefined ? '' : 'content-type: image/jpeg\r\n';
    pieces.push(Buffer.from(`--${boundary}\r\ncontent-disposition: ${disposition}\r\n${type}\r\n`), Buffer.from(part.value), Buffer.from('\r\n'));
  }
  pieces.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(pieces), contentType: `multipart/form-data; boundary=${boundary}` };
}

function policyFields(upload: CreateUploadResponse) {
  return [...Object.entries(upload.fields).map(([name, value]) => ({ name, value })), { name: 'Content-Type', value: 'image/jpeg' }];
}

async function stored(key: string): Promise<boolean> {
  return await clients.s3.send(new HeadObjectCommand({ Bucket: resources.bucketName, Key: key })).then(
    () => true,
    () => false,
  );
}

beforeAll(async () => {
  resources = await createReviveResources(aws, { prefix: `revive-edges-${Date.now().toString(36)}` });
  server = await startLocalServer({ env: { ...process.env, ...localAwsEnv(aws, resources) }, port: 0, bodyIdleTimeoutMs: IDLE_TIMEOUT_MS });
});

afterAll(async () => {
  await server?.close();
  for (const client of Object.values(clients)) client.destroy();
});

describe('paths that URL parsing would resolve elsewhere', () => {
  it.each(['//jobs', '/jobs/%2e%2e', '/jobs/..', '/%2E%2E/', '/jobs/./x', '/\\jobs'])('GET %s is a 404 problem, not the demo page', async (path) => {
    const res = await raw(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nx-revive-tenant: ${TENANT}\r\nConnection: close\r\n\r\n`);
    expect(res.status, res.head).toBe(404);
    expect(res.head).toContain('content-type: application/problem+json');
    expect(JSON.parse(res.body)).toMatchObject({ status: 404, code: 'ROUTE_NOT_FOUND' });
  });

  it('canonical paths keep their routes: /, /jobs and a percent-encoded id', () => {
    expect(canonicalPath('/')).toBe('/');
    expect(canonicalPath('/jobs?limit=5')).toBe('/jobs');
    expect(canonicalPath('/jobs/abc%2Fdef')).toBe('/jobs/abc%2Fdef');
    expect(canonicalPath('*')).toBeUndefined();
  });

  it('a Host header that is no URL host still gets an answer, and the server keeps serving', async () => {
    const res = await raw('GET /openapi.json HTTP/1.1\r\nHost: a b/c\r\nConnection: close\r\n\r\n');
    expect(res.status).toBe(200);
    expect((await fetch(`${server.url}/openapi.json`)).status).toBe(200);
  });
});

describe('/s3 byte ranges', () => {
  let url: string;
  const bytes = new Uint8Array(300_000).map((_, i) => (i * 13) % 251);

  beforeAll(async () => {
    const upload = await createUpload();
    const form = multipart([...policyFields(upload), { name: 'file', value: bytes, filename: 'x.jpg' }]);
    const res = await fetch(upload.url, { method: 'POST', headers: { 'content-type': form.contentType }, body: form.body });
    expect(res.status, await res.text()).toBe(204);
    url = await server.deps.bucket.presignDownload(upload.uploadKey, 60);
  });

  it('bytes=0-99: 206 with those 100 bytes and Content-Range', async () => {
    const res = await fetch(url, { headers: { range: 'bytes=0-99' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 0-99/${bytes.length}`);
    expect(res.headers.get('content-length')).toBe('100');
    expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(bytes.subarray(0, 100)))).toBe(true);
  });

  it('a suffix range (bytes=-10) is the last 10 bytes', async () => {
    const res = await fetch(url, { headers: { range: 'bytes=-10' } });
    expect(res.status).toBe(206);
    expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(bytes.subarray(bytes.length - 10)))).toBe(true);
  });

  it.each(['bytes=0-1,5-9', `bytes=${300_000}-`, 'bytes=abc'])('%s is refused with 416 InvalidRange, no body of the object', async (range) => {
    const res = await fetch(url, { headers: { range } });
    expect(res.status).toBe(416);
    expect(await res.text()).toContain('<Code>InvalidRange</Code>');
  });

  it('without Range: 200 and the whole object', async () => {
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect((await res.arrayBuffer()).byteLength).toBe(bytes.length);
  });
});

describe('/s3 refuses ambiguous upload forms', () => {
  it('a field given twice with different values: 400 InvalidArgument, nothing stored', async () => {
    const upload = await createUpload();
    const form = multipart([...policyFields(upload), { name: 'Content-Type', value: 'text/html' }, { name: 'file', value: 'x', filename: 'x.jpg' }]);
    const res = await fetch(upload.url, { method: 'POST', headers: { 'content-type': form.contentType }, body: form.body });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/<Code>InvalidArgument<\/Code>.*more than once/);
    expect(await stored(upload.uploadKey)).toBe(false);
  });

  it('a field given twice with the same value is no ambiguity: stored', async () => {
    const upload = await createUpload();
    const form = multipart([...policyFields(upload), { name: 'Content-Type', value: 'image/jpeg' }, { name: 'file', value: 'x', filename: 'x.jpg' }]);
    const res = await fetch(upload.url, { method: 'POST', headers: { 'content-type': form.contentType }, body: form.body });
    expect(res.status, await res.text()).toBe(204);
    expect(await stored(upload.uploadKey)).toBe(true);
  });

  it('two file parts: 400 InvalidArgument, nothing stored', async () => {
    const upload = await createUpload();
    const form = multipart([...policyFields(upload), { name: 'file', value: 'first', filename: 'a.jpg' }, { name: 'file', value: 'second', filename: 'b.jpg' }]);
    const res = await fetch(upload.url, { method: 'POST', headers: { 'content-type': form.contentType }, body: form.body });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('exactly one file upload');
    expect(await stored(upload.uploadKey)).toBe(false);
  });
});

describe('a request body that stops arriving', () => {
  it('an upload that announced 1 MB and sent 1 KB is answered 408 RequestTimeout and the connection closed', async () => {
    const upload = await createUpload();
    const path = new URL(upload.url).pathname;
    const started = Date.now();
    const res = await raw(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 1048576\r\n\r\n${'a'.repeat(1024)}`);
    expect(res.status, res.head).toBe(408);
    expect(res.body).toContain('<Code>RequestTimeout</Code>');
    // Well under Node's own 300 s request timeout: within two idle periods, plus a loaded machine's slack.
    expect(Date.now() - started).toBeLessThan(IDLE_TIMEOUT_MS * 2 + 20_000);
    expect(await stored(upload.uploadKey)).toBe(false);
  });

  it('a POST /jobs body that stalls is answered 408 TIMEOUT problem+json', async () => {
    const res = await raw(`POST /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nx-revive-tenant: ${TENANT}\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n{"source":`);
    expect(res.status, res.head).toBe(408);
    expect(res.head).toContain('content-type: application/problem+json');
    expect(JSON.parse(res.body)).toMatchObject({ status: 408, code: 'TIMEOUT' });
  });
});
