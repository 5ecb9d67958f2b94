// `pnpm bench`: the wall time of one video job through the queue with 1 worker slot against 2, side by side in one run
// (issue 22's goal: 1.8× or better with 2). Starts the local AWS emulators and `revive serve` (identity restorer,
// REVIVE_THREADS=1 per pipeline thread), writes the video's record and message as POST /videos does, and times it from
// the send to SUCCEEDED: the probe and fan-out, the segments on the slots, the fan-in. The video is
// ../shared/videos/group_pan_720p.mp4 (6 s, 1280×720, 30 fps, 3 faces) at upscale 1, in segments of
// REVIVE_BENCH_FRAMES_PER_SEGMENT frames (default 45: four segments, so two slots have work to share).
// The ratio is bounded by the cores: on a machine with fewer free cores than slots × threads it cannot reach 2.
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { DEFAULT_JOB_TTL_DAYS, jobOptionsSchema, type JobMessage, type JobRecord } from '@revive/contract';
import { startLocalAws } from '@revive/local-aws';
import { sharedDir, writeIdentityRestorer } from '@revive/pipeline/testing';
import { createStack, sendRaw, startWorkerProcess, upload, waitForRecord } from '../test/service-helpers.js';

const TENANT = 'tenant-bench-video';
const FRAMES_PER_SEGMENT = Number(process.env.REVIVE_BENCH_FRAMES_PER_SEGMENT ?? 45);
/** A run that takes longer is a bug: the bench stops and says what it saw. */
const RUN_TIMEOUT_MS = 30 * 60_000;

async function timeVideo(aws: Awaited<ReturnType<typeof startLocalAws>>, restorer: string, dir: string, slots: number, bytes: Uint8Array): Promise<{ seconds: number; segments: number }> {
  const stack = await createStack(aws, { visibilityTimeoutSeconds: 120, maxReceiveCount: 4 });
  const worker = await startWorkerProcess(stack, {
    restorer,
    healthFile: path.join(dir, `health-${slots}.json`),
    env: { REVIVE_CONCURRENCY: String(slots), REVIVE_THREADS: '1', REVIVE_VIDEO_FRAMES_PER_SEGMENT: String(FRAMES_PER_SEGMENT), REVIVE_JOB_TIMEOUT_SECONDS: '3600' },
  });
  try {
    const key = await upload(stack, TENANT, bytes, 'video/mp4');
    const jobId = randomUUID();
    const now = new Date();
    const options = jobOptionsSchema.parse({ upscale: 1 });
    const record: JobRecord = { jobId, tenantId: TENANT, status: 'QUEUED', kind: 'video', source: { kind: 's3', key }, options, attempts: 0, createdAt: now.toISOString(), expiresAt: Math.floor(now.getTime() / 1000) + DEFAULT_JOB_TTL_DAYS * 86_400 };
    await stack.doc.send(new PutCommand({ TableName: stack.resources.tableName, Item: record }));
    const message: JobMessage = { version: 1, jobId, tenantId: TENANT, source: record.source, options, enqueuedAt: now.toISOString(), kind: 'video' };
    const started = performance.now();
    await sendRaw(stack, JSON.stringify(message));
    const ended = await waitForRecord(stack, jobId, (r) => ['SUCCEEDED', 'FAILED', 'CANCELED'].includes(r.status), RUN_TIMEOUT_MS);
    const seconds = (performance.now() - started) / 1000;
    if (ended.status !== 'SUCCEEDED') throw new Error(`the video ended ${ended.status}: ${ended.errorCode} ${ended.errorMessage}`);
    return { seconds, segments: ended.childrenTotal ?? 0 };
  } finally {
    await worker.stop();
    stack.destroy();
  }
}

const dir = await mkdtemp(path.join(tmpdir(), 'revive-bench-video-'));
const aws = await startLocalAws();
try {
  const restorer = await writeIdentityRestorer(path.join(dir, 'models'));
  const bytes = new Uint8Array(await readFile(path.join(sharedDir(), 'videos', 'group_pan_720p.mp4')));
  console.log(`\nvideo job wall time, 1 slot against 2 (group_pan_720p.mp4, upscale 1, ${FRAMES_PER_SEGMENT} frames per segment, ${os.availableParallelism()} cores)`);
  const one = await timeVideo(aws, restorer, dir, 1, bytes);
  console.log(`  1 slot   ${one.seconds.toFixed(1).padStart(7)} s  (${one.segments} segments)`);
  const two = await timeVideo(aws, restorer, dir, 2, bytes);
  console.log(`  2 slots  ${two.seconds.toFixed(1).padStart(7)} s  (${two.segments} segments)`);
  console.log(`  speed-up ${(one.seconds / two.seconds).toFixed(2)}× (goal 1.8× with the cores for two slots)`);
} finally {
  await aws.stop();
  await rm(dir, { recursive: true, force: true });
}
