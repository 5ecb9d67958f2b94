// The multipart upload routes against the shared emulators: real SDK clients over HTTP, the parts PUT to the
// presigned URLs with fetch, as a browser or the client SDK sends them.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

import { randomBytes } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import {
  DEFAULT_MULTIPART_PART_BYTES,
  DEFAULT_VIDEO_MAX_BYTES,
  S3_MAX_PARTS,
  uploadKey,
  type CompleteMultipartUploadResponse,
  type CreateMultipartUploadResponse,
  type Problem,
  type SignMultipartUploadPartsResponse,
} from '@revive/contract';
import { createReviveResources, localAwsEnv, localClients, type ReviveResources } from '@revive/local-aws';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDeps, destroyDeps, type ApiDeps } from '../src/app.js';
import { bindHandlers } from '../src/routes.js';
import { apiEvent, bodyOf, documentedHandlers } from './helpers.js';

const aws = inject('localAws');
let resources: ReviveResources;
let env: Record<string, string>;
let deps: ApiDeps;
let api: ReturnType<typeof bindHandlers>;
const clients = localClients(aws);
const cleanups: (() => void)[] = [];
const tenant = 'tenant-mp';
const as = (t: string) => ({ claims: { sub: t } });

function withEnv(overrides: Record<string, string>) {
  const other = createDeps({ ...env, ...overrides });
  cleanups.push(() => destroyDeps(other));
  return documentedHandlers(bindHandlers(other));
}
const start = (body: unknown, handlers = api, t = tenant) =>
  handlers['create-multipart-upload'](apiEvent({ method: 'POST', path: '/uploads/multipart', body, ...as(t) }));
const complete = (body: unknown, handlers = api, t = tenant) =>
  handlers['complete-multipart-upload'](apiEvent({ method: 'POST', path: '/uploads/multipart/complete', body, ...as(t) }));
const resign = (body: unknown, handlers = api, t = tenant) =>
  handlers['sign-multipart-upload-parts'](apiEvent({ method: 'POST', path: '/uploads/multipart/parts', body, ...as(t) }));
const abort = (body: unknown, t = tenant) => api['abort-multipart-upload'](apiEvent({ method: 'POST', path: '/uploads/multipart/abort', body, ...as(t) }));

/** When a presigned URL stops working, as S3 reckons it: X-Amz-Date (whole seconds) plus X-Amz-Expires. */
function urlExpiry(url: string): number {
  const params = new URL(url).searchParams;
  const at = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(params.get('X-Amz-Date') ?? '');
  if (at === null) throw new Error(`Not a presigned URL: ${url}`);
  const [, y, mo, d, h, mi, sec] = at.map(Number) as [number, number, number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi, sec) + Number(params.get('X-Amz-Expires')) * 1000;
}

/** The answer's expiry is every URL's real one, and `expires_in_seconds` what was left of it when the answer left. */
function expectExpiryOfUrls(answer: { parts: { url: string }[]; expires_at: string; expires_in_seconds: number }, sentAfterMs: number, receivedAtMs: number) {
  for (const part of answer.parts) expect(new Date(urlExpiry(part.url)).toISOString()).toBe(answer.expires_at);
  const expiresAtMs = Date.parse(answer.expires_at);
  expect(answer.expires_in_seconds).toBeLessThanOrEqual(Math.floor((expiresAtMs - sentAfterMs) / 1000));
  expect(answer.expires_in_seconds).toBeGreaterThanOrEqual(Math.floor((expiresAtMs - receivedAtMs) / 1000));
}

/** PUTs each part of `file` to its presigned URL and returns the parts for the completion, in order. */
async function putParts(upload: Pick<CreateMultipartUploadResponse, 'parts' | 'part_size_bytes'>, file: Uint8Array) {
  return await Promise.all(
    upload.parts.map(async ({ part_number, url }) => {
      const from = (part_number - 1) * upload.part_size_bytes;
      const res = await fetch(url, { method: 'PUT', body: file.subarray(from, Math.min(file.length, from + upload.part_size_bytes)) });
      expect(res.status, await res.clone().text()).toBe(200);
      return { partNumber: part_number, etag: res.headers.get('etag') ?? '' };
    }),
  );
}

beforeAll(async () => {
  resources = await createReviveResources(aws);
  env = { ...localAwsEnv(aws, resources), REVIVE_LOCAL_MODE: 'false' };
  deps = createDeps(env);
  api = documentedHandlers(bindHandlers(deps));
});
afterAll(() => {
  destroyDeps(deps);
  for (const c of cleanups) c();
  clients.s3.destroy();
  clients.sqs.destroy();
  clients.dynamodb.destroy();
});

describe('POST /uploads/multipart', () => {
  it('starts an upload under the tenant prefix whose parts, once PUT and completed, are the file, stored with its type', async () => {
    const file = randomBytes(DEFAULT_MULTIPART_PART_BYTES + 3 * 1024 * 1024 + 17);
    const sentAt = Date.now();
    const res = await start({ contentType: 'video/webm', sizeBytes: file.length });
    const receivedAt = Date.now();
    expect(res.statusCode).toBe(201);
    const upload = bodyOf<CreateMultipartUploadResponse>(res);
    expectExpiryOfUrls(upload, sentAt, receivedAt);
    expect(upload.upload_key.startsWith(`uploads/${tenant}/`)).toBe(true);
    expect(upload.part_size_bytes).toBe(DEFAULT_MULTIPART_PART_BYTES);
    expect(upload.parts.map((part) => part.part_number)).toEqual([1, 2]);
    const lifetime = (Date.parse(upload.expires_at) - Date.now()) / 1000;
    expect(lifetime).toBeGreaterThan(deps.config.REVIVE_PRESIGN_TTL_SECONDS - 30);
    // Each URL is signed for its part's exact length: S3 refuses a PUT of any other.
    for (const part of upload.parts) expect(new URL(part.url).searchParams.get('X-Amz-SignedHeaders')?.split(';')).toContain('content-length');
    // A presigned checksum would be of an empty body, and S3 would refuse every part with BadDigest.
    for (const part of upload.parts) expect([...new URL(part.url).searchParams.keys()].filter((name) => /checksum/i.test(name))).toEqual([]);

    const parts = await putParts(upload, file);
    const done = await complete({ uploadKey: upload.upload_key, uploadId: upload.upload_id, parts });
    expect(done.statusCode).toBe(200);
    expect(bodyOf<CompleteMultipartUploadResponse>(done)).toEqual({ upload_key: upload.upload_key });
    const head = await clients.s3.send(new HeadObjectCommand({ Bucket: resources.bucketName, Key: upload.upload_key }));
    expect(head.ContentLength).toBe(file.length);
    expect(head.ContentType).toBe('video/webm');
    const stored = await clients.s3.send(new GetObjectCommand({ Bucket: resources.bucketName, Key: upload.upload_key }));
    expect(Buffer.from(await stored.Body!.transformToByteArray()).equals(file)).toBe(true);

    // A retry after a lost answer: the upload is gone, but the object these parts made is there, so it is done.
    const again = await complete({ uploadKey: upload.upload_key, uploadId: upload.upload_id, parts });
    expect([again.statusCode, bodyOf<CompleteMultipartUploadResponse>(again)]).toEqual([200, { upload_key: upload.upload_key }]);
    const otherParts = parts.map((part) => ({ ...part, etag: '"0123456789abcdef0123456789abcdef"' }));
    const other = await complete({ uploadKey: upload.upload_key, uploadId: upload.upload_id, parts: otherParts });
    expect([other.statusCode, bodyOf<Problem>(other).code]).toEqual([422, 'UPLOAD_NOT_FOUND']);
  });

  it('takes up to 10,000 parts of at least 5 MiB: 512 parts of 8 MiB for the 4 GiB limit', async () => {
    const res = await start({ contentType: 'video/mp4', sizeBytes: DEFAULT_VIDEO_MAX_BYTES });
    expect(res.statusCode).toBe(201);
    const upload = bodyOf<CreateMultipartUploadResponse>(res);
    expect(upload.parts).toHaveLength(DEFAULT_VIDEO_MAX_BYTES / DEFAULT_MULTIPART_PART_BYTES);
    expect(upload.parts.length).toBeLessThanOrEqual(S3_MAX_PARTS);
    expect((await abort({ uploadKey: upload.upload_key, uploadId: upload.upload_id })).statusCode).toBe(204);
  });

  it('refuses a size over REVIVE_VIDEO_MAX_BYTES with 422 VIDEO_TOO_LARGE, and a type that is not a video with 400', async () => {
    const small = withEnv({ REVIVE_VIDEO_MAX_BYTES: '1000' });
    const over = await start({ contentType: 'video/mp4', sizeBytes: 1001 }, small);
    expect([over.statusCode, bodyOf<Problem>(over).code]).toEqual([422, 'VIDEO_TOO_LARGE']);
    expect((await start({ contentType: 'video/mp4', sizeBytes: 1000 }, small)).statusCode).toBe(201);
    for (const body of [{ contentType: 'image/jpeg', sizeBytes: 10 }, { contentType: 'video/mp4', sizeBytes: 0 }, { contentType: 'video/mp4' }, { contentType: 'video/mp4', sizeBytes: 1.5 }]) {
      const bad = await start(body);
      expect([bad.statusCode, bodyOf<Problem>(bad).code], JSON.stringify(body)).toEqual([400, 'VALIDATION_FAILED']);
    }
    const unauth = await api['create-multipart-upload'](apiEvent({ method: 'POST', path: '/uploads/multipart', body: { contentType: 'video/mp4', sizeBytes: 10 } }));
    expect(unauth.statusCode).toBe(401);
  });
});

describe('POST /uploads/multipart/complete and /abort', () => {
  it('refuses parts that were not uploaded or carry a wrong ETag, an unknown upload id, and another tenant\'s key', async () => {
    const file = randomBytes(1024);
    const upload = bodyOf<CreateMultipartUploadResponse>(await start({ contentType: 'video/mp4', sizeBytes: file.length }));
    const [part] = await putParts(upload, file);
    const wrongEtag = await complete({ uploadKey: upload.upload_key, uploadId: upload.upload_id, parts: [{ partNumber: 1, etag: '"0123"' }] });
    expect([wrongEtag.statusCode, bodyOf<Problem>(wrongEtag).code]).toEqual([422, 'INVALID_UPLOAD_PARTS']);
    const missing = await complete({ uploadKey: upload.upload_key, uploadId: upload.upload_id, parts: [part, { partNumber: 2, etag: part!.etag }] });
    expect([missing.statusCode, bodyOf<Problem>(missing).code]).toEqual([422, 'INVALID_UPLOAD_PARTS']);
    const unknown = await complete({ uploadKey: upload.upload_key, uploadId: 'no-such-upload', parts: [part] });
    expect([unknown.statusCode, bodyOf<Problem>(unknown).code]).toEqual([422, 'UPLOAD_NOT_FOUND']);
    const foreign = await complete({ uploadKey: uploadKey('tenant-other', 'x'), uploadId: upload.upload_id, parts: [part] });
    expect([foreign.statusCode, bodyOf<Problem>(foreign).code]).toEqual([403, 'FORBIDDEN_UPLOAD_KEY']);
    const foreignAbort = await abort({ uploadKey: upload.upload_key, uploadId: upload.upload_id }, 'tenant-other');
    expect([foreignAbort.statusCode, bodyOf<Problem>(foreignAbort).code]).toEqual([403, 'FORBIDDEN_UPLOAD_KEY']);
    // None of those refusals spent the upload: the right parts still complete it.
    expect((await complete({ uploadKey: upload.upload_key, uploadId: upload.upload_id, parts: [part] })).statusCode).toBe(200);
  });

  it('deletes a completed upload over a limit lowered since it started, and answers 422 VIDEO_TOO_LARGE', async () => {
    const file = randomBytes(2048);
    const upload = bodyOf<CreateMultipartUploadResponse>(await start({ contentType: 'video/mp4', sizeBytes: file.length }));
    const parts = await putParts(upload, file);
    const lowered = withEnv({ REVIVE_VIDEO_MAX_BYTES: '1024' });
    const res = await complete({ uploadKey: upload.upload_key, uploadId: upload.upload_id, parts }, lowered);
    expect([res.statusCode, bodyOf<Problem>(res).code]).toEqual([422, 'VIDEO_TOO_LARGE']);
    await expect(clients.s3.send(new HeadObjectCommand({ Bucket: resources.bucketName, Key: upload.upload_key }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
  });

  it('aborts an upload (its id then completes nothing), and answers 204 again for one already gone', async () => {
    const file = randomBytes(512);
    const upload = bodyOf<CreateMultipartUploadResponse>(await start({ contentType: 'video/quicktime', sizeBytes: file.length }));
    const parts = await putParts(upload, file);
    const ids = { uploadKey: upload.upload_key, uploadId: upload.upload_id };
    expect((await abort(ids)).statusCode).toBe(204);
    expect((await abort(ids)).statusCode).toBe(204);
    const late = await complete({ ...ids, parts });
    expect([late.statusCode, bodyOf<Problem>(late).code]).toEqual([422, 'UPLOAD_NOT_FOUND']);
  });
});

describe('POST /uploads/multipart/parts', () => {
  it('presigns the asked parts again, each for its exact length, and the new URLs upload the rest of the file', async () => {
    const file = randomBytes(2 * DEFAULT_MULTIPART_PART_BYTES + 1234);
    const upload = bodyOf<CreateMultipartUploadResponse>(await start({ contentType: 'video/mp4', sizeBytes: file.length }));
    expect(upload.parts.map((part) => part.part_number)).toEqual([1, 2, 3]);
    const ids = { uploadKey: upload.upload_key, uploadId: upload.upload_id };
    const [first] = await putParts({ ...upload, parts: upload.parts.slice(0, 1) }, file);

    const sentAt = Date.now();
    const res = await resign({ ...ids, sizeBytes: file.length, partNumbers: [3, 2, 3] });
    expectExpiryOfUrls(bodyOf<SignMultipartUploadPartsResponse>(res), sentAt, Date.now());
    expect(res.statusCode).toBe(200);
    expect(res.headers?.['cache-control']).toBe('no-store');
    const fresh = bodyOf<SignMultipartUploadPartsResponse>(res);
    expect(fresh.part_size_bytes).toBe(upload.part_size_bytes);
    // Each part once, ascending, whatever order and repeats were asked for.
    expect(fresh.parts.map((part) => part.part_number)).toEqual([2, 3]);
    expect(Date.parse(fresh.expires_at) - Date.now()).toBeGreaterThan((deps.config.REVIVE_PRESIGN_TTL_SECONDS - 30) * 1000);
    for (const part of fresh.parts) {
      const url = new URL(part.url);
      expect([url.searchParams.get('partNumber'), url.searchParams.get('uploadId')]).toEqual([String(part.part_number), upload.upload_id]);
      expect(url.searchParams.get('X-Amz-SignedHeaders')?.split(';')).toContain('content-length');
      expect([...url.searchParams.keys()].filter((name) => /checksum/i.test(name))).toEqual([]);
    }
    // Absent partNumbers: every part of the upload.
    const all = bodyOf<SignMultipartUploadPartsResponse>(await resign({ ...ids, sizeBytes: file.length }));
    expect(all.parts.map((part) => part.part_number)).toEqual([1, 2, 3]);

    const rest = await putParts(fresh, file);
    const done = await complete({ ...ids, parts: [first!, ...rest] });
    expect(done.statusCode).toBe(200);
    const stored = await clients.s3.send(new GetObjectCommand({ Bucket: resources.bucketName, Key: upload.upload_key }));
    expect(Buffer.from(await stored.Body!.transformToByteArray()).equals(file)).toBe(true);

    // Completed: the upload takes no more parts, so the route signs none.
    const late = await resign({ ...ids, sizeBytes: file.length });
    expect([late.statusCode, bodyOf<Problem>(late).code]).toEqual([422, 'UPLOAD_NOT_FOUND']);
  });

  it("refuses another tenant's key, a size over the limit, a part the upload does not have, and an upload that is not open", async () => {
    const upload = bodyOf<CreateMultipartUploadResponse>(await start({ contentType: 'video/mp4', sizeBytes: 2000 }));
    const ids = { uploadKey: upload.upload_key, uploadId: upload.upload_id };
    const refusal = async (res: ReturnType<typeof resign>) => {
      const answer = await res;
      return [answer.statusCode, bodyOf<Problem>(answer).code];
    };
    expect(await refusal(resign({ ...ids, sizeBytes: 2000 }, api, 'tenant-other'))).toEqual([403, 'FORBIDDEN_UPLOAD_KEY']);
    expect(await refusal(resign({ ...ids, sizeBytes: 1001 }, withEnv({ REVIVE_VIDEO_MAX_BYTES: '1000' })))).toEqual([422, 'VIDEO_TOO_LARGE']);
    // 2,000 bytes are one part: part 2 is past the end (the schema itself refuses numbers outside 1..10,000).
    expect(await refusal(resign({ ...ids, sizeBytes: 2000, partNumbers: [1, 2] }))).toEqual([422, 'INVALID_UPLOAD_PARTS']);
    for (const partNumbers of [[0], [S3_MAX_PARTS + 1], []]) {
      expect(await refusal(resign({ ...ids, sizeBytes: 2000, partNumbers })), JSON.stringify(partNumbers)).toEqual([400, 'VALIDATION_FAILED']);
    }
    expect(await refusal(resign({ ...ids, sizeBytes: 2000, parts: [1] }))).toEqual([400, 'UNKNOWN_FIELD']);
    expect(await refusal(resign({ ...ids, uploadId: 'no-such-upload', sizeBytes: 2000 }))).toEqual([422, 'UPLOAD_NOT_FOUND']);
    // An upload id is its key's: with another key of the same tenant it is not an open upload.
    expect(await refusal(resign({ ...ids, uploadKey: uploadKey(tenant, 'other'), sizeBytes: 2000 }))).toEqual([422, 'UPLOAD_NOT_FOUND']);
    const unauth = await api['sign-multipart-upload-parts'](apiEvent({ method: 'POST', path: '/uploads/multipart/parts', body: { ...ids, sizeBytes: 2000 } }));
    expect(unauth.statusCode).toBe(401);
    // None of the refusals above touched the upload; once aborted, it is not open any more.
    expect((await resign({ ...ids, sizeBytes: 2000 })).statusCode).toBe(200);
    expect((await abort(ids)).statusCode).toBe(204);
    expect(await refusal(resign({ ...ids, sizeBytes: 2000 }))).toEqual([422, 'UPLOAD_NOT_FOUND']);
  });
});
