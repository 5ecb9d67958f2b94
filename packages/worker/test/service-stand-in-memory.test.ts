// `revive serve` with a GFPGAN v1.4-sized restorer (the stand-in from scripts/stand-in) and the memory settings the
// infra gives a CPU task (REVIVE_CONCURRENCY 1, REVIVE_JOB_MEMORY_MIB = the task's share after WORKER_BASELINE_MIB,
// onnxruntime's own thread count): the process's peak RSS over a job with two faces at upscale 4 stays within the
// task's memory, which is what the ECS memory limit kills on, and the worker between jobs (model loaded and run) stays
// within WORKER_BASELINE_MIB, the part of the task kept out of the jobs' share.
import { readFile, rm, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_TASK_MEMORY_MIB, WORKER_BASELINE_MIB, jobMemoryBudgetMiB } from '@revive/contract';
import { standInRestorer, type StandInModel } from '@revive/pipeline/testing';
import { createStack, enqueue, isTerminal, photo, startWorkerProcess, upload, waitForRecord, type Stack, type WorkerProcess } from './service-helpers.js';

const TENANT = 'tenant-stand-in';
const MiB = 2 ** 20;
/** The CPU task's concurrency (infra's DEFAULT_WORKER_CONCURRENCY.cpu). */
const TASK_CONCURRENCY = 1;

let stack: Stack;
let dir: string;
let worker: WorkerProcess | undefined;
let standIn: StandInModel;

async function runJob(bytes: Uint8Array, options: { upscale: number; ext: 'png' | 'jpg' }) {
  const job = await enqueue(stack, { kind: 's3', key: await upload(stack, TENANT, bytes) }, { tenantId: TENANT, options });
  return await waitForRecord(stack, job.jobId, isTerminal, 600_000);
}

/** The kernel's figures for a process: VmHWM is its peak RSS so far (all threads, native allocations included). */
async function memoryOf(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => {
    const value = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1];
    if (value === undefined) throw new Error(`no ${field} for ${pid}`);
    return Number(value) * 1024;
  };
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-stand-in-serve-'));
  standIn = await standInRestorer();
  if (!standIn.available) return;
  stack = await createStack(inject('localAws'), { visibilityTimeoutSeconds: 30 });
  worker = await startWorkerProcess(stack, {
    restorer: standIn.path,
    healthFile: path.join(dir, 'health.json'),
    env: {
      REVIVE_CONCURRENCY: String(TASK_CONCURRENCY),
      REVIVE_JOB_MEMORY_MIB: String(jobMemoryBudgetMiB(DEFAULT_TASK_MEMORY_MIB, TASK_CONCURRENCY)),
      // The infra sets no thread count: onnxruntime uses the task's cores.
      REVIVE_THREADS: '0',
    },
  });
}, 300_000);

afterAll(async () => {
  await worker?.stop();
  stack?.destroy();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('revive serve with a GFPGAN-sized restorer', () => {
  it("restores a two-face photo at upscale 4 with peak RSS within the CPU task's memory, the model at work within the baseline", async (ctx) => {
    if (!standIn.available) ctx.skip(standIn.reason);
    const pid = worker!.child.pid!;
    const ready = await memoryOf(pid);
    // The model is loaded before the worker says it is ready: its weights alone are 337 MB.
    expect(ready.rss).toBeGreaterThan(400 * MiB);
    // A one-face job grows onnxruntime's arena to its working size: what the worker holds from then on, between jobs.
    const small = await photo(undefined, 'blurry_face.jpg');
    const warmJob = await runJob(small.bytes, { upscale: 1, ext: 'jpg' });
    expect(warmJob).toMatchObject({ status: 'SUCCEEDED', facesFound: 1 });
    const warm = await memoryOf(pid);
    expect(warm.rss).toBeGreaterThan(ready.rss + 256 * MiB);

    const input = await photo(undefined, '00.jpg');
    const record = await runJob(input.bytes, { upscale: 4, ext: 'png' });
    const after = await memoryOf(pid);
    expect(record).toMatchObject({ status: 'SUCCEEDED', resultWidth: input.width * 4, resultHeight: input.height * 4, facesFound: 2 });
    console.log(
      `revive serve with the stand-in: RSS ready ${Math.round(ready.rss / MiB)} MiB, after a one-face job ${Math.round(warm.rss / MiB)} MiB, ` +
        `peak over the two-face upscale-4 job ${Math.round(after.peak / MiB)} MiB, after it ${Math.round(after.rss / MiB)} MiB; ` +
        `task ${DEFAULT_TASK_MEMORY_MIB} MiB, baseline ${WORKER_BASELINE_MIB} MiB`,
    );
    // What a worker holds besides a job (WORKER_BASELINE_MIB, kept out of the jobs' share) covers the model at work.
    expect(warm.rss / MiB).toBeLessThan(WORKER_BASELINE_MIB);
    expect(after.peak / MiB).toBeLessThan(DEFAULT_TASK_MEMORY_MIB);
  }, 660_000);
});
