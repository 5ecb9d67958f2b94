// S3's answers for a missing upload, from a local HTTP endpoint that speaks S3's error XML to a real S3Client: with
// s3:GetObject on uploads/* and no s3:ListBucket (the task role's grant), S3 answers 403 AccessDenied, not 404.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { S3Client } from '@aws-sdk/client-s3';
import { uploadKey } from '@revive/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError, RetryableError } from '@revive/pipeline/errors';
import { ObjectStore } from './object-store.js';

let server: Server;
let s3: S3Client;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    const code = req.url?.includes('/missing-') ? 'AccessDenied' : 'InternalError';
    res.writeHead(code === 'AccessDenied' ? 403 : 500, { 'content-type': 'application/xml' });
    res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message><RequestId>r</RequestId></Error>`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  s3 = new S3Client({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region: 'us-east-1',
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
});

afterAll(() => {
  s3?.destroy();
  server?.close();
});

describe('ObjectStore.getUpload', () => {
  it('reads AccessDenied on an uploads/ key as the permanent SOURCE_NOT_FOUND', async () => {
    const error = await new ObjectStore('bucket', s3).getUpload(uploadKey('tenant-a', 'missing-1'), 1024).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ code: 'SOURCE_NOT_FOUND' });
  });

  it('keeps AccessDenied elsewhere, and server errors, retryable', async () => {
    const elsewhere = await new ObjectStore('bucket', s3).getUpload('results/missing-1', 1024).catch((e: unknown) => e);
    expect(elsewhere).toBeInstanceOf(RetryableError);
    const broken = await new ObjectStore('bucket', s3).getUpload(uploadKey('tenant-a', 'broken'), 1024).catch((e: unknown) => e);
    expect(broken).toBeInstanceOf(RetryableError);
  });
});
