// Issue 18 items 1 and 2 at the API, against the emulators: POST /jobs reads an upload's header (a ranged GET of its
// first bytes) and refuses what the worker would refuse from it, with 422, the worker's code and the same message,
// before anything is written or queued: in every format the worker reads, GIF, TIFF and AVIF header bombs included.
// URL sources and headers image-size cannot read are left to the worker.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

import { randomUUID } from 'node:crypto';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DEFAULT_MAX_INPUT_PIXELS, tooLargeMessage, uploadKey, type JobResponse, type Problem } from '@revive/contract';
import { createReviveResources, localAwsEnv, localClients, type ReviveResources } from '@revive/local-aws';
import { writeHeaderBomb, writeSolidImage, type HeaderBombFormat } from '@revive/pipeline/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDeps, destroyDeps, type ApiDeps } from '../src/app.js';
import { bindHandlers } from '../src/routes.js';
import { apiEvent, bodyOf, documentedHandlers } from './helpers.js';

const aws = inject('localAws');
const clients = localClients(aws);
const TENANT = 'tenant-limits';
let resources: ReviveResources;
let deps: ApiDeps;
let api: ReturnType<typeof bindHandlers>;
let rgbaBomb: string;
let wideWebp: string;
let wideJpeg: string;
let garbage: string;
let unreadableJpeg: string;
const bombs: [HeaderBombFormat, number, string][] = [];

async function put(bytes: Uint8Array, contentType: string): Promise<string> {
  const key = uploadKey(TENANT, randomUUID());
  await clients.s3.send(new PutObjectCommand({ Bucket: resources.bucketName, Key: key, Body: bytes, ContentType: contentType }));
  return key;
}
const create = (body: unknown) => api['create-job'](apiEvent({ method: 'POST', path: '/jobs', body, claims: { sub: TENANT } }));

async function drainQueue(): Promise<number> {
  let count = 0;
  for (;;) {
    const out = await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: resources.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    if (!out.Messages?.length) return count;
    for (const m of out.Messages) {
      count++;
      await clients.sqs.send(new DeleteMessageCommand({ QueueUrl: resources.queueUrl, ReceiptHandle: m.ReceiptHandle! }));
    }
  }
}

beforeAll(async () => {
  resources = await createReviveResources(aws);
  deps = createDeps({ ...localAwsEnv(aws, resources), REVIVE_LOCAL_MODE: 'false' });
  api = documentedHandlers(bindHandlers(deps));
  rgbaBomb = await put(await writeSolidImage(8000, 8000, 4, 'png'), 'image/png');
  wideWebp = await put(await writeSolidImage(8192, 1024, 3, 'webp'), 'image/webp');
  wideJpeg = await put(await writeSolidImage(33000, 400, 3, 'jpeg'), 'image/jpeg');
  garbage = await put(new TextEncoder().encode('not really a jpeg'), 'image/jpeg');
  // A JPEG start (SOI, then a comment segment) with no frame header: a JPEG, but no size to read.
  unreadableJpeg = await put(new Uint8Array([0xff, 0xd8, 0xff, 0xfe, 0x00, 0x06, 0x68, 0x69, 0x21, 0x21]), 'image/jpeg');
  // The sizes of the adversarial run: AVIF 16000², TIFF and GIF 20000².
  for (const [format, side, type] of [['avif', 16_000, 'image/avif'], ['tiff', 20_000, 'image/tiff'], ['gif', 20_000, 'image/gif']] as const) {
    bombs.push([format, side, await put(await writeHeaderBomb(format, side, side), type)]);
  }
});
afterAll(() => {
  destroyDeps(deps);
  clients.sqs.destroy();
  clients.s3.destroy();
  clients.dynamodb.destroy();
});

describe('POST /jobs: size limits from the upload header', () => {
  it('refuses the 8000×8000 RGBA PNG at upscale 4: 422 IMAGE_TOO_LARGE with the worker\'s message, nothing queued', async () => {
    await drainQueue();
    const res = await create({ source: { uploadKey: rgbaBomb }, options: { upscale: 4 } });
    expect(res.statusCode).toBe(422);
    expect(bodyOf<Problem>(res)).toMatchObject({
      status: 422,
      code: 'IMAGE_TOO_LARGE',
      detail:
        'The output would be 32000×32000 = 1,024,000,000 pixels (1024.0 MP: the 8000×8000 image at upscale 4); the limit is 256,000,000 pixels (256.0 MP). Ask for a smaller upscale.',
    });
    expect(await drainQueue()).toBe(0);
    // At upscale 2 the same photo fits the output limit: queued (its memory is the worker's to judge).
    expect((await create({ source: { uploadKey: rgbaBomb }, options: { upscale: 2 } })).statusCode).toBe(202);
    expect(await drainQueue()).toBe(1);
  });

  it('refuses an explicit ext the output does not fit in (OUTPUT_TOO_LARGE); ext auto is queued', async () => {
    await drainQueue();
    const webp = await create({ source: { uploadKey: wideWebp }, options: { upscale: 2, ext: 'webp' } });
    expect(webp.statusCode).toBe(422);
    expect(bodyOf<Problem>(webp)).toMatchObject({
      code: 'OUTPUT_TOO_LARGE',
      detail:
        'The output would be 16384×2048 (the 8192×1024 image at upscale 2); its width 16,384 is too large: WebP holds at most 16,383 pixels per side. Ask for ext "png" or "auto", or a smaller upscale.',
    });
    const jpeg = await create({ source: { uploadKey: wideJpeg }, options: { upscale: 2, ext: 'jpg' } });
    expect(bodyOf<Problem>(jpeg)).toMatchObject({ status: 422, code: 'OUTPUT_TOO_LARGE', detail: expect.stringContaining('JPEG holds at most 65,500 pixels per side') });
    expect(await drainQueue()).toBe(0);
    const auto = await create({ source: { uploadKey: wideWebp }, options: { upscale: 2 } });
    expect(auto.statusCode).toBe(202);
    expect(bodyOf<JobResponse>(auto).status).toBe('QUEUED');
    expect(await drainQueue()).toBe(1);
  });

  it('refuses AVIF, TIFF and GIF header bombs: 422 IMAGE_TOO_LARGE with the worker\'s message, nothing queued', async () => {
    await drainQueue();
    for (const [format, side, key] of bombs) {
      const res = await create({ source: { uploadKey: key }, options: { upscale: 1 } });
      expect(res.statusCode, format).toBe(422);
      expect(bodyOf<Problem>(res), format).toMatchObject({ code: 'IMAGE_TOO_LARGE', detail: tooLargeMessage(side, side, DEFAULT_MAX_INPUT_PIXELS) });
    }
    expect(await drainQueue()).toBe(0);
  });

  it('refuses bytes that are no image the worker reads (422 INVALID_IMAGE); leaves a header it cannot read to the worker', async () => {
    await drainQueue();
    const garbageAnswer = await create({ source: { uploadKey: garbage }, options: { upscale: 4 } });
    expect(garbageAnswer.statusCode).toBe(422);
    expect(bodyOf<Problem>(garbageAnswer).code).toBe('INVALID_IMAGE');
    expect(await drainQueue()).toBe(0);
    expect((await create({ source: { uploadKey: unreadableJpeg }, options: { upscale: 4 } })).statusCode).toBe(202);
    expect(await drainQueue()).toBe(1);
  });
});
