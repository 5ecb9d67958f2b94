// At-least-once delivery, shown with real process deaths: kill -9 and SIGTERM in the middle of a job. A
// test-only slow restorer (identity output, seconds of convolutions) makes "the middle of a job" last long
// enough; production code has no sleeps or test switches.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { BUCKET_PREFIXES, resultKey, tenantKeySegment } from '@revive/contract';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createStack,
  enqueue,
  getRecord,
  isTerminal,
  JOB_END_CEILING_MS,
  photo,
  queueDepth,
  sleep,
  type Stack,
  startWorkerProcess,
  upload,
  waitForRecord,
  type WorkerProcess,
  writeSlowRestorer,
} from './service-helpers.js';

const TENANT = 'tenant-crash';
/**
 * About 3 s of restoring per face (two faces in the test photo) on one thread here. The pipeline runs on a
 * worker thread (PipelineThreadPool), so heartbeats keep firing during a face; the short visibility (8 s, lease
 * 7 s, heartbeat 1 s) keeps the kill -9 takeover quick, not the job inside a heartbeat-free window.
 */
const SLOW_CONVS = 30;
const VISIBILITY_TIMEOUT_SECONDS = 8;
/** A visibility no takeover could wait out within RELEASED_TAKEOVER_CEILING_MS. */
const HELD_VISIBILITY_SECONDS = 900;
/** Ceiling for the takeover of a released job (worker start and model load on a loaded machine); never a sleep. */
const RELEASED_TAKEOVER_CEILING_MS = 180_000;
/**
 * The shutdown budget of "SIGTERM with time left": far more than the job's two slow faces (about 4 s idle), because
 * three test files and a busy loop beside it made 60 s too little once (the job was released, not drained).
 */
const DRAIN_SECONDS = 240;
let stack: Stack;
let dir: string;
let restorer: string;
let input: Uint8Array;
const workers: WorkerProcess[] = [];

async function worker(env: Record<string, string> = {}): Promise<WorkerProcess> {
  const w = await startWorkerProcess(stack, { restorer, healthFile: path.join(dir, `health-${workers.length}.json`), env: { REVIVE_CONCURRENCY: '1', ...env } });
  workers.push(w);
  return w;
}

async function resultKeys(): Promise<string[]> {
  const out = await stack.clients.s3.send(new ListObjectsV2Command({ Bucket: stack.resources.bucketName, Prefix: `${BUCKET_PREFIXES.results}${tenantKeySegment(TENANT)}/` }));
  return (out.Contents ?? []).map((o) => o.Key!);
}

async function startedJob(w: WorkerProcess): Promise<string> {
  const key = await upload(stack, TENANT, input);
  const job = await enqueue(stack, { kind: 's3', key }, { tenantId: TENANT, options: { upscale: 1 } });
  await w.waitForLog((l) => l.message === 'job started' && l.jobId === job.jobId, 30_000);
  expect(await getRecord(stack, job.jobId)).toMatchObject({ status: 'RUNNING', attempts: 1 });
  return job.jobId;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-crash-'));
  restorer = await writeSlowRestorer(path.join(dir, 'models'), SLOW_CONVS);
  input = (await photo(360)).bytes;
  stack = await createStack(inject('localAws'), { visibilityTimeoutSeconds: VISIBILITY_TIMEOUT_SECONDS, maxReceiveCount: 5 });
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});

afterAll(async () => {
  stack?.destroy();
  await rm(dir, { recursive: true, force: true });
});

describe('worker deaths', () => {
  it('kill -9 mid-job: after the visibility timeout a new worker completes it; one result, attempts 2', async () => {
    const first = await worker();
    const jobId = await startedJob(first);
    // Well inside the job (two slow faces take seconds even on an idle machine), so the kill lands mid-job.
    await sleep(500);
    first.child.kill('SIGKILL');
    await first.exited;
    const killedAt = Date.now();
    expect(await getRecord(stack, jobId)).toMatchObject({ status: 'RUNNING', attempts: 1 });
    const second = await worker();
    const record = await waitForRecord(stack, jobId, isTerminal, JOB_END_CEILING_MS);
    expect(record, JSON.stringify(record)).toMatchObject({ status: 'SUCCEEDED', attempts: 2, resultKey: resultKey(TENANT, jobId, 'jpg', 2) });
    // The message came back only once the visibility the dead worker had extended ran out.
    const takeover = second.logs.find((l) => l.message === 'job started' && l.jobId === jobId);
    expect(takeover).toMatchObject({ attempts: 2 });
    expect(Date.parse(String(takeover!.timestamp)) - killedAt).toBeGreaterThan(500);
    // The killed attempt never reached its write; the winner wrote its own key.
    expect(await resultKeys()).toEqual([resultKey(TENANT, jobId, 'jpg', 2)]);
    const deadline = Date.now() + 10_000;
    while ((await queueDepth(stack, stack.resources.queueUrl)) > 0 && Date.now() < deadline) await sleep(250);
    expect(await queueDepth(stack, stack.resources.queueUrl)).toBe(0);
  });

  it('SIGTERM mid-job with no time left: the job is released at once and another worker completes it', async () => {
    // The first worker holds its messages for HELD_VISIBILITY_SECONDS (its heartbeat keeps extending them), far past
    // the wait below: only the release at shutdown (lease cleared, visibility 0) lets another worker take the job
    // over in time. No clock is read, so a loaded machine cannot fail this; it can only be slower.
    const first = await worker({ REVIVE_SHUTDOWN_TIMEOUT_SECONDS: '0', REVIVE_VISIBILITY_TIMEOUT_SECONDS: String(HELD_VISIBILITY_SECONDS) });
    const jobId = await startedJob(first);
    // At once, while the job's two slow faces are still being restored.
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.logs.some((l) => l.message === 'job released at shutdown' && l.jobId === jobId)).toBe(true);
    const second = await worker();
    const record = await waitForRecord(stack, jobId, isTerminal, RELEASED_TAKEOVER_CEILING_MS);
    expect(record).toMatchObject({ status: 'SUCCEEDED', attempts: 2 });
    expect(second.logs.find((l) => l.message === 'job started' && l.jobId === jobId)).toMatchObject({ attempts: 2 });
  });

  it('SIGTERM mid-job with time left: polling stops, the job finishes, then the worker exits', async () => {
    const first = await worker({ REVIVE_SHUTDOWN_TIMEOUT_SECONDS: String(DRAIN_SECONDS) });
    const jobId = await startedJob(first);
    first.child.kill('SIGTERM');
    // A job queued after SIGTERM is not taken by the draining worker.
    const later = await enqueue(stack, { kind: 's3', key: await upload(stack, TENANT, input) }, { tenantId: TENANT, options: { upscale: 1 } });
    expect(await first.exited).toBe(0);
    expect(await getRecord(stack, jobId)).toMatchObject({ status: 'SUCCEEDED', attempts: 1 });
    expect(first.logs.find((l) => l.message === 'shutdown complete')).toMatchObject({ drained: 1, released: 0 });
    expect(await getRecord(stack, later.jobId)).toMatchObject({ status: 'QUEUED', attempts: 0 });
    await worker();
    expect(await waitForRecord(stack, later.jobId, isTerminal, JOB_END_CEILING_MS)).toMatchObject({ status: 'SUCCEEDED', attempts: 1 });
  }, DRAIN_SECONDS * 1000 + 240_000);
});
