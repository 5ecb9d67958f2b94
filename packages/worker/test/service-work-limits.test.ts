// `revive serve` against the emulators, on the work one job may cost: a URL source that drips one byte a second
// fails SOURCE_TOO_SLOW on its first delivery (it was retried as transient, 4 deliveries and 151.7 s of a slot), and a
// photo with many faces restores only its largest `maxFaces` (the worker's REVIVE_MAX_FACES caps and defaults it),
// with every face counted on the record.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { JobRecord } from '@revive/contract';
import { groupPhoto, type PlacedCrop } from '@revive/pipeline/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createStack, enqueue, isTerminal, startWorkerProcess, upload, waitForRecord, writeIdentityRestorer, type Stack, type WorkerProcess } from './service-helpers.js';

const TENANT = 'tenant-work';
/** The worker's REVIVE_MAX_FACES: the default and the cap of a job's maxFaces. */
const WORKER_MAX_FACES = 3;
/** Side of each face crop in the group photo, in pixels: eight faces, the largest second and fourth. */
const FACE_SIDES = [96, 230, 128, 200, 112, 170, 150, 80];
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

let stack: Stack;
let dir: string;
let worker: WorkerProcess;
let sources: Server;
let sourceBase = '';
let group: Awaited<ReturnType<typeof groupPhoto>>;
let groupKey: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-work-limits-'));
  const identity = await writeIdentityRestorer(path.join(dir, 'models'));
  // 127.0.0.2 is the "public" host the worker may reach (REVIVE_URL_ALLOW_CIDRS in the test env).
  sources = createServer((req, res) => {
    if (req.url !== '/drip.png') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'image/png' });
    res.write(PNG_MAGIC);
    const timer = setInterval(() => res.write(Buffer.from([7])), 1_000);
    res.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((r) => sources.listen(0, '127.0.0.2', r));
  sourceBase = `http://127.0.0.2:${(sources.address() as AddressInfo).port}`;
  stack = await createStack(inject('localAws'), { visibilityTimeoutSeconds: 8, maxReceiveCount: 3 });
  group = await groupPhoto(FACE_SIDES);
  groupKey = await upload(stack, TENANT, group.bytes);
  worker = await startWorkerProcess(stack, {
    restorer: identity,
    healthFile: path.join(dir, 'health.json'),
    env: { REVIVE_CONCURRENCY: '1', REVIVE_MAX_FACES: String(WORKER_MAX_FACES) },
  });
});

afterAll(async () => {
  await worker?.stop();
  sources?.closeAllConnections();
  sources?.close();
  stack?.destroy();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const startsOf = (jobId: string) => worker.logs.filter((l) => l.message === 'job started' && l.jobId === jobId);

describe('a URL source that comes too slowly', () => {
  it('fails SOURCE_TOO_SLOW on the first delivery, is not retried, and the worker goes on', async () => {
    const job = await enqueue(stack, { kind: 'url', url: `${sourceBase}/drip.png` }, { tenantId: TENANT });
    const failed = await waitForRecord(stack, job.jobId, isTerminal, 120_000);
    expect(failed).toMatchObject({ status: 'FAILED', errorCode: 'SOURCE_TOO_SLOW', attempts: 1 });
    expect(failed.errorMessage).toContain('REVIVE_SOURCE_MIN_BYTES_PER_SECOND');
    // Permanent: the message was deleted, not handed back for a retry.
    expect(startsOf(job.jobId)).toHaveLength(1);
    const next = await enqueue(stack, { kind: 's3', key: groupKey }, { tenantId: TENANT, options: { upscale: 1 } });
    expect(await waitForRecord(stack, next.jobId, isTerminal, 120_000)).toMatchObject({ status: 'SUCCEEDED', attempts: 1 });
    expect(worker.child.exitCode).toBeNull();
  });
});

/** The crop each restored face lies in (by its box's centre), as indexes into FACE_SIDES. */
function cropsOf(record: JobRecord, crops: readonly PlacedCrop[]): number[] {
  return (record.faces ?? [])
    .map(({ box: [x1, y1, x2, y2] }) => crops.findIndex(([cx1, cy1, cx2, cy2]) => (x1 + x2) / 2 > cx1 && (x1 + x2) / 2 < cx2 && (y1 + y2) / 2 > cy1 && (y1 + y2) / 2 < cy2))
    .sort((a, b) => a - b);
}

/** Indexes of the `n` largest sides, ascending. */
const largest = (n: number) =>
  FACE_SIDES.map((side, index) => ({ side, index }))
    .sort((a, b) => b.side - a.side)
    .slice(0, n)
    .map((f) => f.index)
    .sort((a, b) => a - b);

describe('a photo with more faces than maxFaces', () => {
  const run = async (maxFaces: number | undefined) => {
    const job = await enqueue(stack, { kind: 's3', key: groupKey }, { tenantId: TENANT, options: { upscale: 1, ...(maxFaces !== undefined && { maxFaces }) } });
    return await waitForRecord(stack, job.jobId, isTerminal, 120_000);
  };

  it('restores the largest maxFaces faces and counts every face on the record', async () => {
    const record = await run(2);
    expect(record).toMatchObject({ status: 'SUCCEEDED', facesDetected: FACE_SIDES.length, facesRestored: 2, facesFound: 2 });
    expect(cropsOf(record, group.crops)).toEqual(largest(2));
    const log = await worker.waitForLog((l) => l.message === 'job succeeded' && l.jobId === record.jobId);
    expect(log).toMatchObject({ facesDetected: FACE_SIDES.length, facesRestored: 2 });
  });

  it("takes the worker's REVIVE_MAX_FACES when the job names none, and never more than it", async () => {
    for (const maxFaces of [undefined, 10]) {
      const record = await run(maxFaces);
      expect(record, `maxFaces ${maxFaces}`).toMatchObject({ status: 'SUCCEEDED', facesDetected: FACE_SIDES.length, facesRestored: WORKER_MAX_FACES });
      expect(cropsOf(record, group.crops)).toEqual(largest(WORKER_MAX_FACES));
    }
  });
});
