// The local /s3 proxy takes a video's presigned parts as S3 does: each PUT checked against its signature (which covers
// the part's length), streamed to the emulator, answered with the ETag the completion names (fetch against the real
// server, the emulator's real multipart API behind it).
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

import type {} from '@revive/local-aws/vitest-setup';
import { randomBytes } from 'node:crypto';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { CreateMultipartUploadResponse } from '@revive/contract';
import { createReviveResources, localAwsEnv } from '@revive/local-aws';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLocalServer, type LocalServer } from '../src/server.js';

const TENANT = 'parts-tenant';
const MiB = 1024 * 1024;
let server: LocalServer;
let env: Record<string, string>;

const post = async (path: string, body: unknown) =>
  await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-revive-tenant': TENANT }, body: JSON.stringify(body) });
async function startUpload(sizeBytes: number): Promise<CreateMultipartUploadResponse> {
  const res = await post('/uploads/multipart', { contentType: 'video/mp4', sizeBytes });
  expect(res.status).toBe(201);
  return (await res.json()) as CreateMultipartUploadResponse;
}
const partOf = (upload: CreateMultipartUploadResponse, file: Uint8Array, n: number) =>
  file.subarray((n - 1) * upload.part_size_bytes, Math.min(file.length, n * upload.part_size_bytes));

beforeAll(async () => {
  const aws = inject('localAws');
  const resources = await createReviveResources(aws, { prefix: `revive-parts-${Date.now().toString(36)}` });
  env = localAwsEnv(aws, resources);
  server = await startLocalServer({ env: { ...process.env, ...env }, port: 0 });
});
afterAll(async () => {
  await server?.close();
});

describe('the /s3 proxy, for presigned parts', () => {
  it('stores each part PUT to its presigned URL and answers its ETag; the completed object is the file', async () => {
    const file = randomBytes(9 * MiB + 123);
    const upload = await startUpload(file.length);
    expect(upload.parts.every((part) => part.url.startsWith(`${server.url}/s3/`))).toBe(true);
    const parts = await Promise.all(
      upload.parts.map(async ({ part_number, url }) => {
        const res = await fetch(url, { method: 'PUT', body: partOf(upload, file, part_number) });
        expect(res.status, await res.clone().text()).toBe(200);
        return { partNumber: part_number, etag: res.headers.get('etag') ?? '' };
      }),
    );
    expect(parts.every((part) => /^"[0-9a-f]{32}"$/.test(part.etag))).toBe(true);
    const done = await post('/uploads/multipart/complete', { uploadKey: upload.upload_key, uploadId: upload.upload_id, parts });
    expect(done.status).toBe(200);
    // Read back with a presigned GET through the proxy, signed with the stack's key as the API signs its results.
    const presigner = new S3Client({
      endpoint: server.s3PublicEndpoint!,
      forcePathStyle: true,
      region: env.AWS_REGION!,
      credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
    });
    const getUrl = await getSignedUrl(presigner, new GetObjectCommand({ Bucket: server.deps.config.REVIVE_BUCKET_NAME, Key: upload.upload_key }), { expiresIn: 60 });
    presigner.destroy();
    const back = await fetch(getUrl);
    expect(back.status).toBe(200);
    expect(Buffer.from(await back.arrayBuffer()).equals(file)).toBe(true);
  });

  it('refuses a part of another length than signed, a part number or upload id changed in the URL, and a PUT without a signature', async () => {
    const file = randomBytes(1000);
    const upload = await startUpload(file.length);
    const url = upload.parts[0]!.url;
    const short = await fetch(url, { method: 'PUT', body: file.subarray(0, 999) });
    expect(short.status).toBe(403);
    expect(await short.text()).toContain('<Code>SignatureDoesNotMatch</Code>');
    const moved = new URL(url);
    moved.searchParams.set('partNumber', '2');
    expect((await fetch(moved, { method: 'PUT', body: file })).status).toBe(403);
    const otherUpload = new URL(url);
    otherUpload.searchParams.set('uploadId', 'another');
    expect((await fetch(otherUpload, { method: 'PUT', body: file })).status).toBe(403);
    const bare = new URL(url);
    for (const name of [...bare.searchParams.keys()]) if (name.startsWith('X-Amz-')) bare.searchParams.delete(name);
    const unsigned = await fetch(bare, { method: 'PUT', body: file });
    expect(unsigned.status).toBe(403);
    // The right part still goes in after the refusals.
    expect((await fetch(url, { method: 'PUT', body: file })).status).toBe(200);
  });
});
