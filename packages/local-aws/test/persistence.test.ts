// The emulators with a state folder (what `pnpm start` runs): S3 objects live on disk, so the emulator's memory does
// not grow with what is stored; and objects, queue messages (ready, delayed, in flight) and table items are all there
// again after a stop and a start on the same folder. Real SDK clients over HTTP; the emulators run in this process.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, GetObjectCommand, PutObjectCommand, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReviveResources, localClients, startLocalAws, type LocalAws, type ReviveResources } from '../src/index.js';

const MiB = 1024 * 1024;
const PREFIX = 'revive-persist';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
/** Live JS heap plus Buffer memory, after a collection. */
function liveBytes(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** A byte pattern that differs per position and per seed, so a reordered or lost chunk shows. */
function pattern(bytes: number, seed: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i += 4096) b[i] = (seed * 31 + i / 4096) & 0xff;
  return b;
}

let stateDir: string;
let aws: LocalAws | undefined;

async function start(): Promise<{ aws: LocalAws; resources: ReviveResources; clients: ReturnType<typeof localClients> }> {
  aws = await startLocalAws({ stateDir });
  const resources = await createReviveResources(aws, { prefix: PREFIX, visibilityTimeoutSeconds: 30 });
  return { aws, resources, clients: localClients(aws) };
}

async function getBytes(s3: S3Client, bucket: string, key: string, range?: string): Promise<Buffer> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...(range === undefined ? {} : { Range: range }) }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

async function multipartPut(s3: S3Client, bucket: string, key: string, parts: Buffer[]): Promise<void> {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const done = [];
  for (const [i, body] of parts.entries()) {
    const { ETag } = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: i + 1, Body: body }));
    done.push({ PartNumber: i + 1, ETag });
  }
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: done } }));
}

/** Every message body received so far, with its receive count: a receive may bring another test's message too. */
const received = new Map<string, number>();

/** Receives from `queueUrl` until a message with `body` has arrived (short long polls, under a ceiling). */
async function receiveBody(sqs: SQSClient, queueUrl: string, body: string, options: { ceilingMs?: number; visibilityTimeoutSeconds?: number } = {}): Promise<number> {
  const started = Date.now();
  const ceilingMs = options.ceilingMs ?? 30_000;
  while (Date.now() - started < ceilingMs) {
    const seen = received.get(`${queueUrl} ${body}`);
    if (seen !== undefined) return seen;
    const r = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        WaitTimeSeconds: 1,
        MaxNumberOfMessages: 10,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
        ...(options.visibilityTimeoutSeconds === undefined ? {} : { VisibilityTimeout: options.visibilityTimeoutSeconds }),
      }),
    );
    for (const m of r.Messages ?? []) received.set(`${queueUrl} ${m.Body}`, Number(m.Attributes?.ApproximateReceiveCount));
  }
  throw new Error(`no message ${body} on ${queueUrl} within ${ceilingMs} ms`);
}

beforeAll(async () => {
  stateDir = await mkdtemp(path.join(tmpdir(), 'revive-state-test-'));
});

afterAll(async () => {
  await aws?.stop();
  await rm(stateDir, { recursive: true, force: true });
});

describe('emulators with a state folder', () => {
  const single = pattern(3 * MiB + 17, 1);
  const parts = [pattern(5 * MiB, 2), pattern(5 * MiB, 3), pattern(MiB + 5, 4)];

  it("keep S3 bodies on disk: storing 160 MiB grows the emulator's memory by far less", async () => {
    const { aws: first, resources, clients } = await start();
    try {
      const before = liveBytes();
      for (let i = 0; i < 8; i++) await clients.s3.send(new PutObjectCommand({ Bucket: resources.bucketName, Key: `bulk/${i}`, Body: pattern(20 * MiB, 10 + i) }));
      const growth = liveBytes() - before;
      console.log(`8 × 20 MiB stored: live heap+buffers +${(growth / MiB).toFixed(1)} MiB`);
      // In memory, the emulator holds every body: at least 160 MiB (measured on disk: one 20 MiB request body, at most).
      expect(growth).toBeLessThan(64 * MiB);
      expect((await getBytes(clients.s3, resources.bucketName, 'bulk/3')).equals(pattern(20 * MiB, 13))).toBe(true);

      // What the next test reads back after the restart.
      await clients.s3.send(new PutObjectCommand({ Bucket: resources.bucketName, Key: 'uploads/t/single', Body: single, ContentType: 'image/jpeg' }));
      await multipartPut(clients.s3, resources.bucketName, 'results/t/multi', parts);
      await clients.sqs.send(new SendMessageCommand({ QueueUrl: resources.queueUrl, MessageBody: 'ready' }));
      await clients.sqs.send(new SendMessageCommand({ QueueUrl: resources.queueUrl, MessageBody: 'delayed', DelaySeconds: 3 }));
      await clients.sqs.send(new SendMessageCommand({ QueueUrl: resources.webhookRetryQueueUrl, MessageBody: 'inflight' }));
      expect(await receiveBody(clients.sqs, resources.webhookRetryQueueUrl, 'inflight', { visibilityTimeoutSeconds: 4 })).toBe(1);
      await clients.dynamodb.send(new PutItemCommand({ TableName: resources.tableName, Item: { jobId: { S: 'kept' }, status: { S: 'QUEUED' } } }));
    } finally {
      for (const client of Object.values(clients)) client.destroy();
      await first.stop();
      aws = undefined;
    }
  }, 120_000);

  it('have every object, message and item again after a stop and a start on the same folder', async () => {
    const { resources, clients } = await start();
    try {
      expect(resources.tableName).toBe(`${PREFIX}-jobs`);
      const got = await clients.s3.send(new GetObjectCommand({ Bucket: resources.bucketName, Key: 'uploads/t/single' }));
      expect(got.ContentType).toBe('image/jpeg');
      expect(Buffer.from(await got.Body!.transformToByteArray()).equals(single)).toBe(true);
      const whole = Buffer.concat(parts);
      expect((await getBytes(clients.s3, resources.bucketName, 'results/t/multi')).equals(whole)).toBe(true);
      // A range across the boundary of two parts (two files on disk).
      const from = 5 * MiB - 10;
      expect((await getBytes(clients.s3, resources.bucketName, 'results/t/multi', `bytes=${from}-${from + 19}`)).equals(whole.subarray(from, from + 20))).toBe(true);

      const item = await clients.dynamodb.send(new GetItemCommand({ TableName: resources.tableName, Key: { jobId: { S: 'kept' } } }));
      expect(item.Item?.status?.S).toBe('QUEUED');

      expect(await receiveBody(clients.sqs, resources.queueUrl, 'ready')).toBe(1);
      expect(await receiveBody(clients.sqs, resources.queueUrl, 'delayed')).toBe(1);
      // In flight at the stop: delivered again once its visibility timeout (4 s) ends, with its receive count kept.
      expect(await receiveBody(clients.sqs, resources.webhookRetryQueueUrl, 'inflight')).toBe(2);
    } finally {
      for (const client of Object.values(clients)) client.destroy();
    }
  }, 120_000);
});
