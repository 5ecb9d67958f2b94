import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { MediaBucket } from '@revive/api';
import { verifyPostPolicy } from './post-policy.js';

// Presigning is local computation: no emulator needed. The policies come from the real SDK.
const credentials = { accessKeyId: 'local', secretAccessKey: 'local-secret' };
const client = new S3Client({ endpoint: 'http://127.0.0.1:3000/s3', region: 'us-east-1', forcePathStyle: true, credentials });
const bucket = new MediaBucket('media', client);
afterAll(() => client.destroy());

async function form(contentType?: string) {
  const post = await bucket.presignUpload({ key: 'uploads/t/1', maxBytes: 1000, expiresSeconds: 60, ...(contentType ? { contentType } : {}) });
  const fields = new Map(Object.entries(post.fields).map(([k, v]) => [k.toLowerCase(), v]));
  return fields;
}
const code = (fn: () => unknown) => {
  try {
    fn();
    return 'OK';
  } catch (error) {
    return (error as { s3Code: string }).s3Code;
  }
};

describe('verifyPostPolicy', () => {
  it('accepts what the policy allows', async () => {
    const fields = await form();
    fields.set('content-type', 'image/png');
    expect(verifyPostPolicy('media', fields, 500, credentials.secretAccessKey, Date.now())).toEqual({ key: 'uploads/t/1', contentType: 'image/png' });
  });

  it('refuses sizes, types, keys, buckets, extra fields, signatures and expiry outside the policy', async () => {
    const ok = await form();
    ok.set('content-type', 'image/jpeg');
    const now = Date.now();
    expect(code(() => verifyPostPolicy('media', ok, 1001, credentials.secretAccessKey, now))).toBe('EntityTooLarge');
    expect(code(() => verifyPostPolicy('media', ok, 0, credentials.secretAccessKey, now))).toBe('EntityTooSmall');
    expect(code(() => verifyPostPolicy('other', ok, 10, credentials.secretAccessKey, now))).toBe('AccessDenied');
    expect(code(() => verifyPostPolicy('media', ok, 10, 'wrong-secret', now))).toBe('SignatureDoesNotMatch');
    expect(code(() => verifyPostPolicy('media', ok, 10, credentials.secretAccessKey, now + 61_000))).toBe('AccessDenied');
    expect(code(() => verifyPostPolicy('media', new Map([...ok, ['content-type', 'text/html']]), 10, credentials.secretAccessKey, now))).toBe('AccessDenied');
    expect(code(() => verifyPostPolicy('media', new Map([...ok, ['key', 'uploads/other/1']]), 10, credentials.secretAccessKey, now))).toBe('AccessDenied');
    expect(code(() => verifyPostPolicy('media', new Map([...ok, ['acl', 'public-read']]), 10, credentials.secretAccessKey, now))).toBe('AccessDenied');
    const pinned = await form('image/png');
    expect(code(() => verifyPostPolicy('media', new Map([...pinned, ['content-type', 'image/jpeg']]), 10, credentials.secretAccessKey, now))).toBe('AccessDenied');
  });
});
