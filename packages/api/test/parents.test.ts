// POST /albums, POST /videos and GET /jobs/{id}/children against the shared emulators: what they refuse before
// writing anything, what they write, and how a repeat with the same Idempotency-Key is answered. Every problem+json
// answer is checked against the route table (documentedHandlers).
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { childJobId, jobListResponseSchema, jobMessageSchema, jobResponseSchema, uploadKey, type Problem } from '@revive/contract';
import { createReviveResources, localAwsEnv, localClients, type ReviveResources } from '@revive/local-aws';
import { writeSolidImage } from '@revive/pipeline/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDeps, destroyDeps, type ApiDeps } from '../src/app.js';
import { bindHandlers } from '../src/routes.js';
import { apiEvent, bodyOf, documentedHandlers } from './helpers.js';

const aws = inject('localAws');
const clients = localClients(aws);
let resources: ReviveResources;
let deps: ApiDeps;
let api: ReturnType<typeof bindHandlers>;
const tenant = 'tenant-parents';
const as = { claims: { sub: tenant } };
let jpeg: Uint8Array;

async function putUpload(bytes: Uint8Array, contentType = 'image/jpeg'): Promise<string> {
  const key = uploadKey(tenant, crypto.randomUUID());
  await clients.s3.send(new PutObjectCommand({ Bucket: resources.bucketName, Key: key, Body: bytes, ContentType: contentType }));
  return key;
}
const post = (route: 'create-album' | 'create-video', body: unknown, headers: Record<string, string> = {}) =>
  api[route](apiEvent({ method: 'POST', path: route === 'create-album' ? '/albums' : '/videos', body, headers, ...as }));
const children = (id: string, query: Record<string, string> = {}) =>
  api['list-children'](apiEvent({ method: 'GET', path: `/jobs/${id}/children`, pathParameters: { id }, query, ...as }));
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
const rawRecord = async (jobId: string) => (await DynamoDBDocumentClient.from(clients.dynamodb).send(new GetCommand({ TableName: resources.tableName, Key: { jobId }, ConsistentRead: true }))).Item;

beforeAll(async () => {
  resources = await createReviveResources(aws);
  deps = createDeps({ ...localAwsEnv(aws, resources), REVIVE_LOCAL_MODE: 'false', REVIVE_VIDEO_MAX_BYTES: '100000' });
  api = documentedHandlers(bindHandlers(deps));
  jpeg = await writeSolidImage(32, 24, 3, 'jpeg');
});
afterAll(() => {
  destroyDeps(deps);
  for (const c of Object.values(clients)) c.destroy();
});

describe('POST /albums', () => {
  it('writes one photo job per source with the album as parent, sends their messages, and answers the album with its progress', async () => {
    await drainQueue();
    const keys = await Promise.all([0, 1, 2].map(() => putUpload(jpeg)));
    const res = await post('create-album', { sources: keys.map((uploadKey) => ({ uploadKey })), options: { upscale: 1 } });
    expect(res.statusCode).toBe(202);
    const album = jobResponseSchema.parse(bodyOf(res));
    expect(album).toMatchObject({ kind: 'album', status: 'QUEUED', progress: { total: 3, done: 0, failed: 0, frames_total: null } });
    const messages = (await drainQueue()).map((m) => jobMessageSchema.parse(m));
    expect(messages.map((m) => m.jobId).sort()).toEqual([0, 1, 2].map((i) => childJobId(album.id, i)).sort());
    expect(messages.every((m) => m.parentJobId === album.id && m.options.upscale === 1)).toBe(true);
    // Sent: out of the outbox. The album stays in it until it ends (the parent sweeper's watch).
    expect(await rawRecord(childJobId(album.id, 0))).not.toHaveProperty('enqueuePending');
    expect(await rawRecord(album.id)).toHaveProperty('enqueuePending');

    const first = await children(album.id, { limit: '2' });
    const page = jobListResponseSchema.parse(bodyOf(first));
    expect(page.jobs.map((j) => [j.id, j.parent_id, j.input.source])).toEqual([0, 1].map((i) => [childJobId(album.id, i), album.id, { uploadKey: keys[i] }]));
    const second = jobListResponseSchema.parse(bodyOf(await children(album.id, { limit: '2', cursor: page.next_cursor! })));
    expect(second).toMatchObject({ jobs: [{ id: childJobId(album.id, 2) }], next_cursor: null });
    // A cursor is the album's own: another job's id refuses it.
    const other = jobResponseSchema.parse(bodyOf(await post('create-album', { sources: [{ uploadKey: keys[0] }] })));
    expect(bodyOf<Problem>(await children(other.id, { cursor: page.next_cursor! }))).toMatchObject({ status: 400, code: 'INVALID_CURSOR' });
  });

  it('answers a repeat with the same Idempotency-Key with the same album, and refuses the key with another body', async () => {
    const key = await putUpload(jpeg);
    const headers = { 'idempotency-key': `album-${crypto.randomUUID()}` };
    const first = await post('create-album', { sources: [{ uploadKey: key }] }, headers);
    const again = await post('create-album', { sources: [{ uploadKey: key }] }, headers);
    expect(again.statusCode).toBe(202);
    expect(again.headers?.['idempotent-replayed']).toBe('true');
    expect(bodyOf<{ id: string }>(again).id).toBe(bodyOf<{ id: string }>(first).id);
    expect(bodyOf<Problem>(await post('create-album', { sources: [{ uploadKey: key }, { uploadKey: key }] }, headers))).toMatchObject({ status: 422, code: 'IDEMPOTENCY_KEY_REUSED' });
  });

  it.each([
    ['no sources', () => ({ sources: [] }), 400, 'VALIDATION_FAILED'],
    ['1,001 sources', () => ({ sources: Array.from({ length: 1001 }, () => ({ uploadKey: uploadKey(tenant, 'x') })) }), 400, 'VALIDATION_FAILED'],
    ["another tenant's upload", () => ({ sources: [{ uploadKey: uploadKey('someone-else', 'x') }] }), 403, 'FORBIDDEN_UPLOAD_KEY'],
    ['a loopback URL', () => ({ sources: [{ url: 'http://127.0.0.1/a.jpg' }] }), 400, 'FORBIDDEN_URL'],
    ['an upload that is not there', () => ({ sources: [{ uploadKey: uploadKey(tenant, crypto.randomUUID()) }] }), 422, 'UPLOAD_NOT_FOUND'],
  ])('refuses %s before writing anything', async (_name, body, status, code) => {
    await drainQueue();
    const res = await post('create-album', body());
    expect(bodyOf<Problem>(res)).toMatchObject({ status, code });
    expect(await drainQueue()).toEqual([]);
  });

  it('refuses an album holding an upload that is not an image, naming the source', async () => {
    const text = await putUpload(new TextEncoder().encode('not a photo at all'), 'image/jpeg');
    const res = await post('create-album', { sources: [{ uploadKey: await putUpload(jpeg) }, { uploadKey: text }] });
    expect(bodyOf<Problem>(res)).toMatchObject({ status: 422, code: 'INVALID_IMAGE', detail: expect.stringContaining('sources[1]') });
  });
});

describe('POST /videos', () => {
  it('creates a video job and sends its message', async () => {
    await drainQueue();
    const mp4 = new Uint8Array(64);
    mp4.set([0, 0, 0, 0x20, ...new TextEncoder().encode('ftypisom')]);
    const res = await post('create-video', { source: { uploadKey: await putUpload(mp4, 'video/mp4') }, video: { crf: 23 } });
    expect(res.statusCode).toBe(202);
    const video = jobResponseSchema.parse(bodyOf(res));
    expect(video).toMatchObject({ kind: 'video', status: 'QUEUED', progress: { total: 0, done: 0, frames_total: null, frames_done: 0 } });
    expect((await drainQueue()).map((m) => jobMessageSchema.parse(m))).toEqual([expect.objectContaining({ jobId: video.id, kind: 'video', videoCrf: 23 })]);
    // A video has no children until the worker planned it.
    expect(jobListResponseSchema.parse(bodyOf(await children(video.id)))).toEqual({ jobs: [], next_cursor: null });
  });

  it.each([
    ['a photo named .mp4', async () => await putUpload(jpeg, 'video/mp4'), 'INVALID_VIDEO'],
    ['an upload over REVIVE_VIDEO_MAX_BYTES', async () => {
      const big = new Uint8Array(100_001);
      big.set([0x1a, 0x45, 0xdf, 0xa3]);
      return await putUpload(big, 'video/webm');
    }, 'VIDEO_TOO_LARGE'],
  ])('refuses %s with 422 before writing anything', async (_name, key, code) => {
    await drainQueue();
    expect(bodyOf<Problem>(await post('create-video', { source: { uploadKey: await key() } }))).toMatchObject({ status: 422, code });
    expect(await drainQueue()).toEqual([]);
  });
});
