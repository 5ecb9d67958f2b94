// Handler tests against the shared emulators: real SDK clients over HTTP, events shaped as API Gateway sends them.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { API_ROUTES, jobMessageSchema, TABLE_SCHEMA, UPLOAD_CONTENT_TYPES, uploadKey, type JobListResponse, type JobResponse, type Problem } from '@revive/contract';
import { createReviveResources, localAwsEnv, localClients, type ReviveResources } from '@revive/local-aws';
import { writeSolidImage } from '@revive/pipeline/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDeps, destroyDeps, type ApiDeps } from '../src/app.js';
import { idempotentJobId } from '../src/jobs.js';
import { bindHandlers } from '../src/routes.js';
import { apiEvent, bodyOf, documentedHandlers, type EventOptions } from './helpers.js';

const aws = inject('localAws');
let resources: ReviveResources;
let env: Record<string, string>;
let deps: ApiDeps;
let api: ReturnType<typeof bindHandlers>;
const clients = localClients(aws);
const cleanups: (() => void)[] = [];

const tenantA = 'tenant-a';
const tenantB = 'tenant-b';
const as = (tenant: string) => ({ claims: { sub: tenant } });

function withDeps(overrides: Record<string, string>) {
  const other = createDeps({ ...env, ...overrides });
  cleanups.push(() => destroyDeps(other));
  return documentedHandlers(bindHandlers(other));
}

async function create(tenant: string, body: unknown, headers: Record<string, string> = {}, handlers = api) {
  return await handlers['create-job'](apiEvent({ method: 'POST', path: '/jobs', body, headers, ...as(tenant) }));
}
async function getJob(tenant: string, id: string) {
  return await api['get-job'](apiEvent({ method: 'GET', path: `/jobs/${id}`, pathParameters: { id }, ...as(tenant) }));
}
async function drainQueue(): Promise<unknown[]> {
  const bodies: unknown[] = [];
  for (;;) {
    const out = await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: resources.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    if (!out.Messages?.length) return bodies;
    for (const m of out.Messages) {
      bodies.push(JSON.parse(m.Body!));
      await clients.sqs.send(new DeleteMessageCommand({ QueueUrl: resources.queueUrl, ReceiptHandle: m.ReceiptHandle! }));
    }
  }
}
async function rawRecord(jobId: string) {
  const out = await DynamoDBDocumentClient.from(clients.dynamodb).send(new GetCommand({ TableName: resources.tableName, Key: { jobId }, ConsistentRead: true }));
  return out.Item;
}
const upload = (tenant: string, id = '00000000-0000-4000-8000-000000000001') => ({ source: { uploadKey: uploadKey(tenant, id) } });
/** A small real JPEG: create-job reads an upload's first bytes and refuses what is not an image the worker reads. */
let photo: Uint8Array;
async function putUpload(key: string, body: Uint8Array = photo, contentType = 'image/jpeg') {
  await clients.s3.send(new PutObjectCommand({ Bucket: resources.bucketName, Key: key, Body: body, ContentType: contentType }));
}

beforeAll(async () => {
  photo = await writeSolidImage(64, 48, 3, 'jpeg');
  resources = await createReviveResources(aws);
  env = { ...localAwsEnv(aws, resources), REVIVE_LOCAL_MODE: 'false' };
  deps = createDeps(env);
  api = documentedHandlers(bindHandlers(deps));
  // create-job refuses an upload key with nothing behind it: the uploads the tests name exist.
  for (const tenant of [tenantA, tenantB, 'org-7']) await putUpload(upload(tenant).source.uploadKey);
});
afterAll(() => {
  destroyDeps(deps);
  for (const c of cleanups) c();
  clients.sqs.destroy();
  clients.s3.destroy();
  clients.dynamodb.destroy();
});

describe('POST /jobs', () => {
  it('writes a QUEUED record, sends the contract message and answers 202 with links', async () => {
    await drainQueue();
    const before = Date.now();
    const res = await create(tenantA, { ...upload(tenantA), options: { upscale: 3 }, webhookUrl: 'https://hooks.example.com/revive' });
    expect(res.statusCode).toBe(202);
    const job = bodyOf<JobResponse>(res);
    expect(job.status).toBe('QUEUED');
    expect(job.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(job.urls.get).toBe(`https://api.example.test/jobs/${job.id}`);
    expect(job.urls.cancel).toBe(job.urls.get);
    expect(job.input.options.upscale).toBe(3);
    expect(job.input.source).toEqual(upload(tenantA).source);
    expect(res.headers?.location).toBe(job.urls.get);

    const record = await rawRecord(job.id);
    expect(record).toMatchObject({ jobId: job.id, tenantId: tenantA, status: 'QUEUED', attempts: 0 });
    expect(Date.parse(record!.createdAt as string)).toBeGreaterThanOrEqual(before - 1000);
    const ttlDays = ((record!.expiresAt as number) - Date.parse(record!.createdAt as string) / 1000) / 86_400;
    expect(ttlDays).toBeCloseTo(7, 2);
    // Sent, so out of the outbox: the enqueue sweeper has nothing to do for it.
    expect(record).not.toHaveProperty(TABLE_SCHEMA.pendingIndex.partitionKey);
    expect(record).not.toHaveProperty(TABLE_SCHEMA.pendingIndex.sortKey);

    const messages = await drainQueue();
    expect(messages).toHaveLength(1);
    const message = jobMessageSchema.parse(messages[0]);
    expect(message).toMatchObject({ jobId: job.id, tenantId: tenantA, source: { kind: 's3', key: upload(tenantA).source.uploadKey } });
    expect(message.options.upscale).toBe(3);
    expect(message.webhookUrl).toBe('https://hooks.example.com/revive');
    // The work it carries, from the upload's header (64 × 48 at upscale 3; faces unknown until the worker detects them),
    // also on the record, so that the sweeper's re-send declares it too.
    expect(message.estimatedWork).toEqual({ frames: 1, pixelsPerFrame: 64 * 48, outputPixelsPerFrame: 64 * 48 * 9 });
    expect(record!.estimatedWork).toEqual(message.estimatedWork);
  });

  it('declares no work for a URL source (no header read): the scaling signal then counts the default photo', async () => {
    await drainQueue();
    const res = await create(tenantA, { source: { url: 'https://images.example.com/p.jpg' } });
    expect(res.statusCode).toBe(202);
    const [message] = await drainQueue();
    expect(jobMessageSchema.parse(message).estimatedWork).toBeUndefined();
  });

  it('returns the same job for a repeated Idempotency-Key and body, without a second message', async () => {
    await drainQueue();
    const headers = { 'Idempotency-Key': 'order-42' };
    const first = bodyOf<JobResponse>(await create(tenantA, upload(tenantA), headers));
    const again = await create(tenantA, { options: {}, ...upload(tenantA) }, headers);
    expect(again.statusCode).toBe(202);
    expect(again.headers?.['idempotent-replayed']).toBe('true');
    expect(bodyOf<JobResponse>(again).id).toBe(first.id);
    expect(await drainQueue()).toHaveLength(1);

    const otherTenant = bodyOf<JobResponse>(await create(tenantB, upload(tenantB), headers));
    expect(otherTenant.id).not.toBe(first.id);
  });

  it('refuses an upload key with nothing uploaded: 422 UPLOAD_NOT_FOUND, no record, no message; a repeat of an existing job still gets it', async () => {
    await drainQueue();
    const missing = { source: { uploadKey: uploadKey(tenantA, '00000000-0000-4000-8000-00000000dead') } };
    const headers = { 'idempotency-key': 'never-uploaded' };
    const res = await create(tenantA, missing, headers);
    expect(res.statusCode).toBe(422);
    expect(res.headers?.['content-type']).toBe('application/problem+json');
    expect(bodyOf<Problem>(res)).toMatchObject({ status: 422, code: 'UPLOAD_NOT_FOUND' });
    expect(await drainQueue()).toEqual([]);
    expect(await rawRecord(idempotentJobId(tenantA, headers['idempotency-key']))).toBeUndefined();

    // Uploaded: the same request now creates the job. Once the upload is gone (lifecycle expiry), a repeat with the
    // same Idempotency-Key still returns that job instead of refusing it.
    await putUpload(missing.source.uploadKey);
    const created = await create(tenantA, missing, headers);
    expect(created.statusCode).toBe(202);
    await clients.s3.send(new DeleteObjectCommand({ Bucket: resources.bucketName, Key: missing.source.uploadKey }));
    const replay = await create(tenantA, missing, headers);
    expect(replay.statusCode).toBe(202);
    expect(bodyOf<JobResponse>(replay).id).toBe(bodyOf<JobResponse>(created).id);
    expect(await drainQueue()).toHaveLength(1);
  });

  it('refuses the same Idempotency-Key with another body: 422 IDEMPOTENCY_KEY_REUSED', async () => {
    const headers = { 'idempotency-key': 'order-43' };
    expect((await create(tenantA, upload(tenantA), headers)).statusCode).toBe(202);
    const res = await create(tenantA, { ...upload(tenantA), options: { upscale: 4 } }, headers);
    expect(res.statusCode).toBe(422);
    expect(bodyOf<Problem>(res).code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('marks the job FAILED ENQUEUE_FAILED when SQS refuses, answers 503, and re-enqueues on a retry with the same key', async () => {
    await drainQueue();
    const broken = withDeps({ REVIVE_QUEUE_URL: `${aws.endpoints.sqs}/000000000000/no-such-queue-${Date.now()}` });
    const headers = { 'idempotency-key': 'flaky-1' };
    const failed = await create(tenantA, upload(tenantA), headers, broken);
    expect(failed.statusCode).toBe(503);
    expect(failed.headers?.['content-type']).toBe('application/problem+json');
    const problem = bodyOf<Problem>(failed);
    expect(problem.code).toBe('ENQUEUE_FAILED');
    const id = problem.instance!.split('/').pop()!;
    const failedRecord = await rawRecord(id);
    expect(failedRecord).toMatchObject({ status: 'FAILED', errorCode: 'ENQUEUE_FAILED' });
    // The caller was told it failed: the sweeper must not send it behind their back.
    expect(failedRecord).not.toHaveProperty(TABLE_SCHEMA.pendingIndex.partitionKey);
    expect(failedRecord).not.toHaveProperty(TABLE_SCHEMA.pendingIndex.sortKey);
    const seen = bodyOf<JobResponse>(await getJob(tenantA, id));
    expect(seen.status).toBe('FAILED');
    expect(seen.error?.code).toBe('ENQUEUE_FAILED');

    const retried = await create(tenantA, upload(tenantA), headers);
    expect(retried.statusCode).toBe(202);
    expect(bodyOf<JobResponse>(retried)).toMatchObject({ id, status: 'QUEUED', error: null });
    const record = await rawRecord(id);
    expect(record?.status).toBe('QUEUED');
    expect(record?.errorCode).toBeUndefined();
    expect(record).not.toHaveProperty(TABLE_SCHEMA.pendingIndex.partitionKey);
    const messages = await drainQueue();
    expect(messages.map((m) => (m as { jobId: string }).jobId)).toEqual([id]);
  });
});

describe('GET /jobs/{id}', () => {
  it("returns the caller's job, and 404 to another tenant", async () => {
    const job = bodyOf<JobResponse>(await create(tenantA, upload(tenantA)));
    const mine = await getJob(tenantA, job.id);
    expect(mine.statusCode).toBe(200);
    expect(bodyOf<JobResponse>(mine)).toMatchObject({ id: job.id, status: 'QUEUED', output: null, error: null, metrics: { attempts: 0, faces_found: null } });
    const theirs = await getJob(tenantB, job.id);
    expect(theirs.statusCode).toBe(404);
    expect(bodyOf<Problem>(theirs).code).toBe('JOB_NOT_FOUND');
  });

  it('answers 404 JOB_NOT_FOUND for an unknown or malformed id', async () => {
    for (const id of ['3f1c1b8e-0000-4000-8000-000000000000', 'not-a-uuid']) {
      const res = await getJob(tenantA, id);
      expect(res.statusCode).toBe(404);
      expect(bodyOf<Problem>(res)).toMatchObject({ code: 'JOB_NOT_FOUND', status: 404 });
    }
  });
});

describe('GET /jobs', () => {
  it("pages through the caller's jobs newest first, and only the caller's", async () => {
    const tenant = `lister-${Date.now()}`;
    for (const t of [tenant, `${tenant}-other`]) await putUpload(upload(t).source.uploadKey);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push(bodyOf<JobResponse>(await create(tenant, upload(tenant))).id);
      await new Promise((r) => setTimeout(r, 5));
    }
    await create(`${tenant}-other`, upload(`${tenant}-other`));
    const list = (query: Record<string, string>) => api['list-jobs'](apiEvent({ method: 'GET', path: '/jobs', query, ...as(tenant) }));
    const first = bodyOf<JobListResponse>(await list({ limit: '2' }));
    expect(first.jobs.map((j) => j.id)).toEqual([ids[2], ids[1]]);
    expect(first.next_cursor).toEqual(expect.any(String));
    const second = bodyOf<JobListResponse>(await list({ limit: '2', cursor: first.next_cursor! }));
    expect(second.jobs.map((j) => j.id)).toEqual([ids[0]]);
    const all = bodyOf<JobListResponse>(await list({}));
    expect(all.jobs.map((j) => j.id)).toEqual([...ids].reverse());

    const foreign = await api['list-jobs'](apiEvent({ method: 'GET', path: '/jobs', query: { cursor: first.next_cursor! }, ...as(tenantB) }));
    expect(foreign.statusCode).toBe(400);
    expect(bodyOf<Problem>(foreign).code).toBe('INVALID_CURSOR');
  });

  it('rejects bad query strings', async () => {
    const cases: [Record<string, string>, number, string][] = [
      [{ limit: '0' }, 400, 'VALIDATION_FAILED'],
      [{ limit: 'ten' }, 400, 'VALIDATION_FAILED'],
      [{ sort: 'asc' }, 400, 'UNKNOWN_FIELD'],
      [{ cursor: 'garbage' }, 400, 'INVALID_CURSOR'],
    ];
    for (const [query, status, code] of cases) {
      const res = await api['list-jobs'](apiEvent({ method: 'GET', path: '/jobs', query, ...as(tenantA) }));
      expect({ query, status: res.statusCode, code: bodyOf<Problem>(res).code }).toEqual({ query, status, code });
    }
  });
});

describe('forged list cursors', () => {
  it('answers 400 INVALID_CURSOR for a cursor with empty or malformed keys, even one bound to the caller', async () => {
    const forge = (key: Record<string, unknown>) => Buffer.from(JSON.stringify(key)).toString('base64url');
    const forged = [
      forge({ jobId: '', tenantId: tenantA, createdAt: '' }),
      forge({ jobId: '00000000-0000-4000-8000-000000000001', tenantId: tenantA, createdAt: '' }),
      forge({ jobId: '', tenantId: tenantA, createdAt: new Date().toISOString() }),
      forge({ jobId: 'x'.repeat(36), tenantId: tenantA, createdAt: 'yesterday' }),
      forge({ jobId: '00000000-0000-4000-8000-000000000001', tenantId: tenantB, createdAt: new Date().toISOString() }),
      forge({ jobId: '00000000-0000-4000-8000-000000000001', tenantId: tenantA, createdAt: new Date().toISOString(), extra: 1 }),
      forge({}),
      Buffer.from('null').toString('base64url'),
    ];
    for (const cursor of forged) {
      const res = await api['list-jobs'](apiEvent({ method: 'GET', path: '/jobs', query: { cursor }, ...as(tenantA) }));
      expect({ cursor, status: res.statusCode, code: bodyOf<Problem>(res).code }).toEqual({ cursor, status: 400, code: 'INVALID_CURSOR' });
    }
    // A well-formed key of the caller's own is still a valid cursor (it may point anywhere in their list).
    const own = forge({ jobId: '00000000-0000-4000-8000-000000000001', tenantId: tenantA, createdAt: new Date().toISOString() });
    const res = await api['list-jobs'](apiEvent({ method: 'GET', path: '/jobs', query: { cursor: own }, ...as(tenantA) }));
    expect(res.statusCode).toBe(200);
  });
});

describe('tenant ids that are not one path segment', () => {
  it('refuses . and .. as JWT claims and, in local mode, as the x-revive-tenant header', async () => {
    const local = withDeps({ REVIVE_LOCAL_MODE: 'true' });
    for (const tenant of ['.', '..']) {
      const byClaim = await api['create-upload'](apiEvent({ method: 'POST', path: '/uploads', ...as(tenant) }));
      expect({ tenant, status: byClaim.statusCode, code: bodyOf<Problem>(byClaim).code }).toEqual({ tenant, status: 401, code: 'UNAUTHENTICATED' });
      const byHeader = await local['create-upload'](apiEvent({ method: 'POST', path: '/uploads', headers: { 'x-revive-tenant': tenant } }));
      expect({ tenant, status: byHeader.statusCode, code: bodyOf<Problem>(byHeader).code }).toEqual({ tenant, status: 401, code: 'UNAUTHENTICATED' });
      const listed = await local['list-jobs'](apiEvent({ method: 'GET', path: '/jobs', headers: { 'x-revive-tenant': tenant } }));
      expect(listed.statusCode).toBe(401);
    }
    // Dots inside an id are fine: "a..b" and ".x" are single segments.
    for (const tenant of ['a..b', '.x', 'x.']) {
      const ok = await local['create-upload'](apiEvent({ method: 'POST', path: '/uploads', headers: { 'x-revive-tenant': tenant } }));
      expect(ok.statusCode, tenant).toBe(201);
      expect(bodyOf<{ uploadKey: string }>(ok).uploadKey.split('/')[1]).toBe(tenant);
    }
  });
});

describe('DELETE /jobs/{id}', () => {
  it('cancels a QUEUED job once; then 409 JOB_NOT_CANCELABLE; other tenants get 404', async () => {
    const job = bodyOf<JobResponse>(await create(tenantA, upload(tenantA)));
    const cancel = (tenant: string) => api['cancel-job'](apiEvent({ method: 'DELETE', path: `/jobs/${job.id}`, pathParameters: { id: job.id }, ...as(tenant) }));
    const other = await cancel(tenantB);
    expect(other.statusCode).toBe(404);
    expect((await rawRecord(job.id))?.status).toBe('QUEUED');
    const res = await cancel(tenantA);
    expect(res.statusCode).toBe(200);
    expect(bodyOf<JobResponse>(res).status).toBe('CANCELED');
    expect((await rawRecord(job.id))?.status).toBe('CANCELED');
    const again = await cancel(tenantA);
    expect(again.statusCode).toBe(409);
    expect(bodyOf<Problem>(again).code).toBe('JOB_NOT_CANCELABLE');
  });
});

describe('tenants', () => {
  it('401 UNAUTHENTICATED without claims; x-revive-tenant is ignored outside local mode', async () => {
    const noClaims = await api['create-job'](apiEvent({ method: 'POST', path: '/jobs', body: upload(tenantA) }));
    expect(noClaims.statusCode).toBe(401);
    expect(bodyOf<Problem>(noClaims).code).toBe('UNAUTHENTICATED');
    const header = await api['create-job'](apiEvent({ method: 'POST', path: '/jobs', body: upload(tenantA), headers: { 'x-revive-tenant': tenantA } }));
    expect(header.statusCode).toBe(401);
  });

  it('uses x-revive-tenant in local mode, and a configured claim', async () => {
    const local = withDeps({ REVIVE_LOCAL_MODE: 'true' });
    const res = await local['create-job'](apiEvent({ method: 'POST', path: '/jobs', body: upload(tenantB), headers: { 'x-revive-tenant': tenantB } }));
    expect(res.statusCode).toBe(202);
    expect((await rawRecord(bodyOf<JobResponse>(res).id))?.tenantId).toBe(tenantB);

    const custom = withDeps({ REVIVE_TENANT_CLAIM: 'custom:org' });
    const claimed = await custom['create-job'](apiEvent({ method: 'POST', path: '/jobs', body: upload('org-7'), claims: { sub: 'user-1', 'custom:org': 'org-7' } }));
    expect(claimed.statusCode).toBe(202);
    expect((await rawRecord(bodyOf<JobResponse>(claimed).id))?.tenantId).toBe('org-7');
  });
});

describe('bad input', () => {
  const cases: [string, Partial<EventOptions>, number, string][] = [
    ['malformed JSON', { body: '{"source": ' }, 400, 'MALFORMED_JSON'],
    ['wrong type', { body: { source: { uploadKey: 42 } } }, 400, 'VALIDATION_FAILED'],
    ['wrong option type', { body: { ...upload(tenantA), options: { upscale: '2' } } }, 400, 'VALIDATION_FAILED'],
    ['option out of range', { body: { ...upload(tenantA), options: { upscale: 9 } } }, 400, 'VALIDATION_FAILED'],
    ['missing source', { body: {} }, 400, 'VALIDATION_FAILED'],
    ['empty body', { body: '' }, 400, 'VALIDATION_FAILED'],
    ['unknown top-level field', { body: { ...upload(tenantA), priority: 'high' } }, 400, 'UNKNOWN_FIELD'],
    ['unknown option', { body: { ...upload(tenantA), options: { sharpen: true } } }, 400, 'UNKNOWN_FIELD'],
    ['unknown source field', { body: { source: { uploadKey: upload(tenantA).source.uploadKey, bucket: 'x' } } }, 400, 'UNKNOWN_FIELD'],
    ['oversize body', { body: { ...upload(tenantA), pad: 'x'.repeat(70_000) } }, 413, 'PAYLOAD_TOO_LARGE'],
    ['not JSON content type', { body: 'source=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ["another tenant's upload", { body: upload(tenantB) }, 403, 'FORBIDDEN_UPLOAD_KEY'],
    ['path traversal in uploadKey', { body: { source: { uploadKey: `uploads/${tenantA}/../${tenantB}/x` } } }, 403, 'FORBIDDEN_UPLOAD_KEY'],
    ['metadata URL', { body: { source: { url: 'http://169.254.169.254/latest/meta-data/' } } }, 400, 'FORBIDDEN_URL'],
    ['loopback URL', { body: { source: { url: 'http://127.0.0.1:8080/a.jpg' } } }, 400, 'FORBIDDEN_URL'],
    ['IPv6 loopback URL', { body: { source: { url: 'http://[::1]/a.jpg' } } }, 400, 'FORBIDDEN_URL'],
    ['private URL in decimal form', { body: { source: { url: 'http://167772161/a.jpg' } } }, 400, 'FORBIDDEN_URL'],
    ['localhost URL', { body: { source: { url: 'http://localhost/a.jpg' } } }, 400, 'FORBIDDEN_URL'],
    ['private webhook', { body: { ...upload(tenantA), webhookUrl: 'http://10.0.0.5/hook' } }, 400, 'FORBIDDEN_URL'],
    ['non-http URL', { body: { source: { url: 'file:///etc/passwd' } } }, 400, 'VALIDATION_FAILED'],
    ['bad Idempotency-Key', { body: upload(tenantA), headers: { 'idempotency-key': 'has space' } }, 400, 'INVALID_IDEMPOTENCY_KEY'],
    // Lone surrogates: valid JSON escapes, but no Unicode text; they once reached the SDK and threw URIError (500).
    ['lone high surrogate in uploadKey', { body: { source: { uploadKey: `uploads/${tenantA}/\ud800` } } }, 400, 'VALIDATION_FAILED'],
    ['lone low surrogate in uploadKey', { body: { source: { uploadKey: `uploads/${tenantA}/\udfff` } } }, 400, 'VALIDATION_FAILED'],
    ['lone surrogate as a raw JSON escape', { body: `{"source":{"uploadKey":"uploads/${tenantA}/\\ud800"}}` }, 400, 'VALIDATION_FAILED'],
    ['lone surrogate in a URL source', { body: { source: { url: 'https://images.example.com/\ud800.jpg' } } }, 400, 'VALIDATION_FAILED'],
    ['lone surrogate in webhookUrl', { body: { ...upload(tenantA), webhookUrl: 'https://hooks.example.com/?q=\udfff' } }, 400, 'VALIDATION_FAILED'],
    ['lone surrogate in Idempotency-Key', { body: upload(tenantA), headers: { 'idempotency-key': 'key-\ud800' } }, 400, 'VALIDATION_FAILED'],
    ['lone surrogate in Content-Type', { body: upload(tenantA), headers: { 'content-type': 'application/json; x=\udfff' } }, 400, 'VALIDATION_FAILED'],
    // Control characters and spaces: SQS refuses a message holding some of them, after the record was written.
    ['control character in webhookUrl', { body: { ...upload(tenantA), webhookUrl: 'https://hooks.example.com/a\u0001b' } }, 400, 'VALIDATION_FAILED'],
    ['raw space in a URL source', { body: { source: { url: 'https://images.example.com/a b.jpg' } } }, 400, 'VALIDATION_FAILED'],
    ['noncharacter in uploadKey', { body: { source: { uploadKey: `uploads/${tenantA}/x\uffff` } } }, 400, 'VALIDATION_FAILED'],
    ['gzip Content-Encoding on a plain body', { body: upload(tenantA), headers: { 'content-encoding': 'gzip' } }, 415, 'UNSUPPORTED_CONTENT_ENCODING'],
    ['JSON declared as UTF-16', { body: upload(tenantA), headers: { 'content-type': 'application/json; charset=utf-16' } }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['JSON declared as Latin-1', { body: upload(tenantA), headers: { 'content-type': 'application/json;charset="ISO-8859-1"' } }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
  ];
  it.each(cases)('%s → %s %s', async (_name, event, status, code) => {
    const res = await api['create-job'](apiEvent({ method: 'POST', path: '/jobs', ...as(tenantA), ...event, headers: { ...event.headers } }));
    expect(res.statusCode).toBe(status);
    expect(res.headers?.['content-type']).toBe('application/problem+json');
    const problem = bodyOf<Problem>(res);
    expect(problem).toMatchObject({ status, code, type: expect.stringMatching(/^urn:revive:problem:/), title: expect.any(String), retryable: false });
    expect(problem.detail).toEqual(expect.any(String));
  });

  it('accepts a public URL source', async () => {
    const res = await create(tenantA, { source: { url: 'https://images.example.com/old-photo.jpg' } });
    expect(res.statusCode).toBe(202);
  });

  it('accepts non-ASCII text in keys and URLs, an identity encoding and an explicit UTF-8 charset', async () => {
    // Characters of the basic plane only: fauxqs refuses any beyond U+FFFF in a message (SQS itself takes them; the
    // contract's tests cover surrogate pairs).
    const key = uploadKey(tenantA, 'photo-写真-é');
    await putUpload(key);
    const headers = { 'content-encoding': 'identity', 'content-type': 'application/json; charset=UTF-8' };
    const res = await create(tenantA, { source: { uploadKey: key } }, headers);
    expect(res.statusCode, res.body).toBe(202);
    expect(bodyOf<JobResponse>(res).input.source).toEqual({ uploadKey: key });
  });

  it('refuses a body that is not UTF-8: 400 MALFORMED_JSON, not a U+FFFD in a key', async () => {
    const json = Buffer.from(JSON.stringify(upload(tenantA)));
    // 0xC3 0x28: a two-byte sequence whose second byte is not a continuation byte.
    const bytes = Buffer.concat([json.subarray(0, json.length - 3), Buffer.from([0xc3, 0x28]), json.subarray(json.length - 3)]);
    const event = { ...apiEvent({ method: 'POST', path: '/jobs', ...as(tenantA) }), body: bytes.toString('base64'), isBase64Encoded: true };
    const res = await api['create-job'](event);
    expect(res.statusCode).toBe(400);
    expect(bodyOf<Problem>(res)).toMatchObject({ code: 'MALFORMED_JSON', detail: expect.stringContaining('UTF-8') });
  });

  it('refuses an upload whose bytes are not an image the worker reads (SVG, text): 422 INVALID_IMAGE, nothing written or queued', async () => {
    await drainQueue();
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>');
    for (const [bytes, type] of [[svg, 'image/svg+xml'], [Buffer.from('just some notes'), 'image/png']] as const) {
      const key = uploadKey(tenantA, crypto.randomUUID());
      await putUpload(key, bytes, type);
      const idempotencyKey = `not-an-image-${crypto.randomUUID()}`;
      const res = await create(tenantA, { source: { uploadKey: key } }, { 'idempotency-key': idempotencyKey });
      expect(res.statusCode).toBe(422);
      expect(bodyOf<Problem>(res)).toMatchObject({ code: 'INVALID_IMAGE', detail: expect.stringContaining('JPEG, PNG, WebP, GIF, TIFF or AVIF') });
      expect(await rawRecord(idempotentJobId(tenantA, idempotencyKey))).toBeUndefined();
    }
    expect(await drainQueue()).toEqual([]);
  });
});

describe('models the deployed worker serves (REVIVE_AVAILABLE_MODELS)', () => {
  it('refuses another restorer or a background upsampler the worker does not have: 422 UNSUPPORTED_MODEL, nothing written or queued', async () => {
    await drainQueue();
    const served = withDeps({ REVIVE_AVAILABLE_MODELS: 'restorer:gfpgan-1.4' });
    const cases = [
      [{ bgUpsampler: 'efrlfn-x2' }, 'options.bgUpsampler', 'serves no background upsampler a job may name, not efrlfn-x2'],
      [{ restorer: 'codeformer' }, 'options.restorer', 'serves the restorer gfpgan-1.4, not codeformer'],
    ] as const;
    for (const [options, path, reason] of cases) {
      const idempotencyKey = `model-${crypto.randomUUID()}`;
      const res = await create(tenantA, { ...upload(tenantA), options }, { 'idempotency-key': idempotencyKey }, served);
      expect(res.statusCode, path).toBe(422);
      expect(bodyOf<Problem>(res)).toMatchObject({ code: 'UNSUPPORTED_MODEL', errors: [{ path, message: expect.stringContaining(reason) }] });
      expect(await rawRecord(idempotentJobId(tenantA, idempotencyKey))).toBeUndefined();
    }
    expect(await drainQueue()).toEqual([]);
    // What the worker serves is accepted, by catalogue id.
    expect((await create(tenantA, { ...upload(tenantA), options: { restorer: 'gfpgan-1.4' } }, {}, served)).statusCode).toBe(202);
    const withUpsampler = withDeps({ REVIVE_AVAILABLE_MODELS: 'restorer:gfpgan-1.4,bgUpsampler:efrlfn-x2' });
    expect((await create(tenantA, { ...upload(tenantA), options: { bgUpsampler: 'efrlfn-x2' } }, {}, withUpsampler)).statusCode).toBe(202);
    expect(await drainQueue()).toHaveLength(2);
  });

  it('leaves the check to the worker when the variable is unset', async () => {
    expect(deps.config.REVIVE_AVAILABLE_MODELS).toBeUndefined();
    expect((await create(tenantA, { ...upload(tenantA), options: { bgUpsampler: 'efrlfn-x2' } })).statusCode).toBe(202);
  });
});

describe('POST /uploads', () => {
  it('presigns a POST under the tenant prefix whose policy bounds size and content type', async () => {
    const res = await api['create-upload'](apiEvent({ method: 'POST', path: '/uploads', ...as(tenantA) }));
    expect(res.statusCode).toBe(201);
    const body = bodyOf<{ url: string; fields: Record<string, string>; uploadKey: string; expires_at: string; max_bytes: number }>(res);
    expect(body.uploadKey.startsWith(`uploads/${tenantA}/`)).toBe(true);
    expect(body.fields.key).toBe(body.uploadKey);
    expect(body.url).toContain(resources.bucketName);
    expect(body.max_bytes).toBe(deps.config.REVIVE_UPLOAD_MAX_BYTES);
    const policy = JSON.parse(Buffer.from(body.fields.Policy!, 'base64').toString('utf8')) as { expiration: string; conditions: unknown[] };
    expect(policy.conditions).toContainEqual(['content-length-range', 1, deps.config.REVIVE_UPLOAD_MAX_BYTES]);
    expect(policy.conditions).toContainEqual(['starts-with', '$Content-Type', 'image/']);
    expect(policy.conditions).toContainEqual({ key: body.uploadKey });
    const lifetime = (Date.parse(policy.expiration) - Date.now()) / 1000;
    expect(lifetime).toBeGreaterThan(deps.config.REVIVE_PRESIGN_TTL_SECONDS - 30);
    expect(lifetime).toBeLessThanOrEqual(deps.config.REVIVE_PRESIGN_TTL_SECONDS + 1);
  });

  it('pins an exact content type when asked, for every format the worker reads, and rejects others', async () => {
    for (const contentType of UPLOAD_CONTENT_TYPES) {
      const ok = await api['create-upload'](apiEvent({ method: 'POST', path: '/uploads', body: { contentType }, ...as(tenantA) }));
      expect(ok.statusCode, contentType).toBe(201);
      const body = bodyOf<{ fields: Record<string, string> }>(ok);
      expect(body.fields['Content-Type']).toBe(contentType);
      const policy = JSON.parse(Buffer.from(body.fields.Policy!, 'base64').toString('utf8')) as { conditions: unknown[] };
      expect(policy.conditions).toContainEqual(['eq', '$Content-Type', contentType]);
    }
    expect(UPLOAD_CONTENT_TYPES).toEqual(expect.arrayContaining(['image/avif', 'image/gif', 'image/tiff']));
    for (const contentType of ['text/html', 'image/svg+xml', 'image/heic', 'image/bmp']) {
      const bad = await api['create-upload'](apiEvent({ method: 'POST', path: '/uploads', body: { contentType }, ...as(tenantA) }));
      expect(bad.statusCode, contentType).toBe(400);
      expect(bodyOf<Problem>(bad).code).toBe('VALIDATION_FAILED');
    }
    const unauth = await api['create-upload'](apiEvent({ method: 'POST', path: '/uploads' }));
    expect(unauth.statusCode).toBe(401);
  });
});

describe('GET /openapi.json', () => {
  it('serves the OpenAPI 3.1 document of every route in the table, with the caller\'s URL as its server', async () => {
    const res = await api.openapi(apiEvent({ method: 'GET', path: '/openapi.json' }));
    expect(res.statusCode).toBe(200);
    const doc = bodyOf<{ openapi: string; servers: { url: string }[]; paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, { properties?: Record<string, unknown>; additionalProperties?: boolean }> } }>(res);
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.servers).toEqual([{ url: 'https://api.example.test' }]);
    const operations = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`));
    expect(operations.sort()).toEqual(API_ROUTES.map((route) => `${route.method} ${route.path}`).sort());
    expect(doc.components.schemas.CreateJobRequest?.additionalProperties).toBe(false);
    expect(Object.keys(doc.components.schemas.Job?.properties ?? {})).toEqual(expect.arrayContaining(['id', 'status', 'created_at', 'urls']));
  });
});
