// Issue 10's worker points, end to end against the emulators with `revive serve` as a child process: per-attempt
// result keys (11), the job budget (12), large results in parts (3), the webhook outcome on the record and
// onnxruntime's telemetry log kept out of /tmp (13).
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { jobResponseFromRecord, jobResponseSchema, resultKey } from '@revive/contract';
import { clientConfig } from '@revive/local-aws';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { writeImage } from '@revive/pipeline';
import { groupPhoto } from '@revive/pipeline/testing';
import { ObjectStore } from '../src/service/object-store.js';
import {
  createStack,
  enqueue,
  getObjectBytes,
  getRecord,
  isTerminal,
  JOB_END_CEILING_MS,
  photo,
  runHealthcheck,
  type Stack,
  startWorkerProcess,
  upload,
  waitForRecord,
  type WorkerProcess,
  writeIdentityRestorer,
  writeSlowRestorer,
} from './service-helpers.js';

const TENANT = 'tenant-hard';
/**
 * The slow job must outlast the budget on any machine, and load only makes it slower: eight faces of about 6 s of
 * restoring each on an idle machine (48 s) against a budget of 10 s + 1 s per face (18 s), so its ratio to the
 * budget is 2.7× before any load, rather than a margin that a faster pipeline erases. A face is one native run that
 * nothing can interrupt, and the worker exits only once the discarded thread's run returns: short faces keep that
 * wait under the pool's busy-thread dispose timeout even at many times the idle time (30 s faces outlasted it under
 * CI's load, and the worker aborted at exit). The budget runs from the moment a thread takes the job, so the
 * replacement thread's start is not counted. Its base must hold what is timed before the faces are found (decode
 * and detect of the group photo) and the whole next job (no face: decode, detect, encode of 64×64, one small write,
 * on a thread whose sessions have not run yet): tens of milliseconds idle, so 10 s leaves a margin of a hundred and
 * more (a 2 s base was too little under load).
 */
const SLOW_CONVS = 65;
const BUDGET_SECONDS = 10;
/** Per face restored: the group photo's faces make the budget 10 + 8 × 1 = 18 s once they are found. */
const BUDGET_PER_FACE_SECONDS = 1;
/** Sides of the slow job's faces (groupPhoto): eight, all found by the detector (service-work-limits.test.ts counts them). */
const GROUP_FACE_SIDES = [96, 230, 128, 200, 112, 170, 150, 80];
/**
 * Ceiling for a worker to exit after the JOB_TIMEOUT test: one slow face (about 6 s idle) still running on the
 * discarded thread, many times slower with three test files and a busy loop beside it. Never a sleep.
 */
const TIMED_OUT_FACE_DRAIN_MS = 300_000;
let stack: Stack;
let dir: string;
let identity: string;
let slow: string;
let faces: Uint8Array;
let group: Uint8Array;
let noFace: Uint8Array;
let hooks: Server;
let hookBase = '';
const workers: WorkerProcess[] = [];

async function worker(restorer: string, env: Record<string, string> = {}): Promise<WorkerProcess> {
  const w = await startWorkerProcess(stack, { restorer, healthFile: path.join(dir, `health-${workers.length}.json`), env: { REVIVE_CONCURRENCY: '1', ...env } });
  workers.push(w);
  return w;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-hard-'));
  identity = await writeIdentityRestorer(path.join(dir, 'models'));
  slow = await writeSlowRestorer(path.join(dir, 'models'), SLOW_CONVS);
  faces = (await photo(360)).bytes;
  group = (await groupPhoto(GROUP_FACE_SIDES)).bytes;
  // 64×64 of flat grey: no face, so no restorer run; it takes milliseconds whatever the restorer.
  noFace = await writeImage({ width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(128) }, undefined, 'jpeg', { quality: 90 });
  hooks = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  await new Promise<void>((r) => hooks.listen(0, '127.0.0.2', r));
  hookBase = `http://127.0.0.2:${(hooks.address() as AddressInfo).port}`;
  stack = await createStack(inject('localAws'), { visibilityTimeoutSeconds: 8, maxReceiveCount: 3 });
});

afterAll(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  stack?.destroy();
  hooks?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('a stale worker cannot overwrite a finished result', () => {
  it('each attempt writes its own key, recorded on the job; a write by the stale attempt leaves the result alone', async () => {
    const w = await worker(identity);
    const key = await upload(stack, TENANT, faces);
    const job = await enqueue(stack, { kind: 's3', key }, { tenantId: TENANT, options: { upscale: 1 } });
    // An earlier attempt by another worker whose lease has run out: this delivery takes the job over as attempt 2.
    await stack.doc.send(
      new UpdateCommand({
        TableName: stack.resources.tableName,
        Key: { jobId: job.jobId },
        UpdateExpression: 'SET #s = :running, attempts = :one, leaseOwner = :stale, leaseExpiresAt = :past',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':running': 'RUNNING', ':one': 1, ':stale': 'stale-worker', ':past': Date.now() - 1_000 },
      }),
    );
    const record = await waitForRecord(stack, job.jobId, isTerminal, JOB_END_CEILING_MS);
    expect(record).toMatchObject({ status: 'SUCCEEDED', attempts: 2, resultKey: resultKey(TENANT, job.jobId, 'jpg', 2) });
    const winner = (await getObjectBytes(stack, record.resultKey!)).bytes;
    // The stale attempt (1) finishes late and writes its result, as a worker that lost its lease would.
    const objects = new ObjectStore(stack.resources.bucketName, stack.clients.s3);
    await objects.putResult(resultKey(TENANT, job.jobId, 'jpg', 1), new Uint8Array([1, 2, 3]), 'image/jpeg');
    expect(Buffer.from((await getObjectBytes(stack, record.resultKey!)).bytes).equals(Buffer.from(winner))).toBe(true);
    expect((await getRecord(stack, job.jobId))?.resultKey).toBe(resultKey(TENANT, job.jobId, 'jpg', 2));
    await w.stop();
  });
});

describe('a job budget', () => {
  it('past its budget (base + per face found) the job FAILS with JOB_TIMEOUT; the slot, the thread and the task carry on', async () => {
    const w = await worker(slow, {
      REVIVE_JOB_TIMEOUT_SECONDS: String(BUDGET_SECONDS),
      REVIVE_JOB_TIMEOUT_PER_FACE_SECONDS: String(BUDGET_PER_FACE_SECONDS),
      REVIVE_JOB_TIMEOUT_PER_MEGAPIXEL_SECONDS: '0',
    });
    const long = await enqueue(stack, { kind: 's3', key: await upload(stack, TENANT, group) }, { tenantId: TENANT, options: { upscale: 1 } });
    // Ordered by events, not by the clock: the job started on a thread, then failed at the budget.
    await w.waitForLog((l) => l.message === 'job started' && l.jobId === long.jobId, JOB_END_CEILING_MS);
    const failed = await waitForRecord(stack, long.jobId, isTerminal, JOB_END_CEILING_MS);
    expect(failed).toMatchObject({ status: 'FAILED', errorCode: 'JOB_TIMEOUT', attempts: 1 });
    // Set once the faces were found: the reason shows the sum and its parts.
    expect(failed.errorMessage).toContain(`budget of ${BUDGET_SECONDS + GROUP_FACE_SIDES.length * BUDGET_PER_FACE_SECONDS} s (${BUDGET_SECONDS} s + ${BUDGET_PER_FACE_SECONDS} s × ${GROUP_FACE_SIDES.length} face(s)`);
    // Permanent: not retried, the message is gone.
    expect(w.logs.filter((l) => l.message === 'job started' && l.jobId === long.jobId)).toHaveLength(1);
    // The same worker (one slot) runs the next job on a fresh pipeline thread.
    const next = await enqueue(stack, { kind: 's3', key: await upload(stack, TENANT, noFace) }, { tenantId: TENANT, options: { upscale: 1 } });
    const nextRecord = await waitForRecord(stack, next.jobId, isTerminal, JOB_END_CEILING_MS);
    expect(nextRecord, JSON.stringify(nextRecord)).toMatchObject({ status: 'SUCCEEDED', attempts: 1 });
    expect(w.child.exitCode).toBeNull();
    // The health check agrees: the slot is free again, and its wedge limit lies past the budget.
    const health = await runHealthcheck(w.healthFile);
    expect(health).toMatchObject({ code: 0 });
    expect(health.output).toContain('0/1 slots busy');
    // The timed-out job's old thread is still inside one slow face (a native run cannot be interrupted); the worker
    // exits once that run returns (serve.ts disposes the pipeline last), so the drain is given that face's time.
    await w.stop(TIMED_OUT_FACE_DRAIN_MS);
    expect(await w.exited).toBe(0);
  }, TIMED_OUT_FACE_DRAIN_MS + 180_000);
});

describe('large results go up in parts', () => {
  it('a 12 MiB result (over the emulator\'s 11 MiB body limit) is stored whole', async () => {
    const s3 = new S3Client(clientConfig(stack.target, 's3'));
    const objects = new ObjectStore(stack.resources.bucketName, s3);
    const bytes = new Uint8Array(12 * 1024 * 1024);
    for (let i = 0; i < bytes.length; i += 4096) bytes[i] = (i / 4096) % 251;
    const key = resultKey(TENANT, '00000000-0000-4000-8000-000000000000', 'png', 1);
    await objects.putResult(key, bytes, 'image/png');
    const stored = await getObjectBytes(stack, key);
    expect(stored.contentType).toBe('image/png');
    expect(stored.bytes.byteLength).toBe(bytes.byteLength);
    expect(Buffer.from(stored.bytes).equals(Buffer.from(bytes))).toBe(true);
    s3.destroy();
  });

  it('a job budget that runs out mid-upload aborts the multipart upload: no parts left, no object', async () => {
    const s3 = new S3Client(clientConfig(stack.target, 's3'));
    // Watches the real calls the client sends (a middleware, not a mock): the budget runs out once a part is on
    // its way, and the abort is awaited as an event.
    const budget = new AbortController();
    let aborted: () => void = () => undefined;
    const abortSent = new Promise<void>((resolve) => (aborted = resolve));
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'UploadPartCommand' && !budget.signal.aborted) budget.abort(new Error('budget spent'));
        const out = await next(args);
        if (context.commandName === 'AbortMultipartUploadCommand') aborted();
        return out;
      },
      { step: 'initialize', name: 'watchCalls' },
    );
    const objects = new ObjectStore(stack.resources.bucketName, s3);
    const key = resultKey(TENANT, '00000000-0000-4000-8000-00000000000a', 'png', 1);
    await expect(objects.putResult(key, new Uint8Array(12 * 1024 * 1024), 'image/png', { signal: budget.signal })).rejects.toThrow('budget spent');
    await abortSent;
    await expect(s3.send(new HeadObjectCommand({ Bucket: stack.resources.bucketName, Key: key }))).rejects.toMatchObject({ name: 'NotFound' });
    s3.destroy();
  });
});

describe('webhook refusals and onnxruntime\'s log file', () => {
  it('a refused webhook leaves its trace on the job, shown in the job response', async () => {
    const w = await worker(identity);
    // 127.0.0.1 is not an allowed address (only 127.0.0.2 is): the worker refuses to post there.
    const refused = await enqueue(stack, { kind: 's3', key: await upload(stack, TENANT, noFace) }, { tenantId: TENANT, options: { upscale: 1 }, webhookUrl: 'http://127.0.0.1:9/hook' });
    const delivered = await enqueue(stack, { kind: 's3', key: await upload(stack, TENANT, noFace) }, { tenantId: TENANT, options: { upscale: 1 }, webhookUrl: `${hookBase}/hook` });
    const a = await waitForRecord(stack, refused.jobId, (r) => r.webhookDelivery !== undefined, JOB_END_CEILING_MS);
    expect(a).toMatchObject({ status: 'SUCCEEDED', webhookDelivery: { status: 'REFUSED', attempts: 1 } });
    expect(a.webhookDelivery?.error).toMatch(/^refused http:\/\/127.0.0.1:9/);
    const b = await waitForRecord(stack, delivered.jobId, (r) => r.webhookDelivery !== undefined, JOB_END_CEILING_MS);
    expect(b.webhookDelivery).toMatchObject({ status: 'DELIVERED', attempts: 1, httpStatus: 204 });
    const response = jobResponseSchema.parse(jobResponseFromRecord(a));
    expect(response.webhook_delivery).toMatchObject({ status: 'REFUSED', attempts: 1, http_status: null });
    await w.stop();
  });

  it('onnxruntime\'s telemetry log goes to the task\'s temp dir, not /tmp/mat-debug-<pid>.log, and is removed at exit', async () => {
    const w = await worker(identity);
    const pid = w.child.pid!;
    const taskDirs = async () => (await readdir(tmpdir())).filter((n) => n.startsWith('revive-worker-'));
    // onnxruntime's telemetry thread writes the file some time after the first session loads, and not in every run
    // (seen in CI): so the test asserts where it never is (/tmp), and that the task's own folder, which holds it when
    // it is written, is gone after exit.
    const workerDirs = async () => (await taskDirs()).filter((d) => existsSync(path.join(tmpdir(), d, `mat-debug-${pid}.log`)));
    let found: string[] = [];
    for (let waited = 0; found.length === 0 && waited < 10_000; waited += 250) {
      found = await workerDirs();
      if (found.length === 0) await new Promise((r) => setTimeout(r, 250));
    }
    expect(found.length).toBeLessThanOrEqual(1);
    expect(existsSync(path.join('/tmp', `mat-debug-${pid}.log`))).toBe(false);
    await w.stop();
    expect({ code: await w.exited, signal: w.child.signalCode, logs: w.logs.slice(-3) }).toMatchObject({ code: 0, signal: null });
    for (const dir of found) expect(existsSync(path.join(tmpdir(), dir))).toBe(false);
    expect(existsSync(path.join('/tmp', `mat-debug-${pid}.log`))).toBe(false);
  });
});
