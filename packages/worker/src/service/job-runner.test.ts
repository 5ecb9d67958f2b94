import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Message } from '@aws-sdk/client-sqs';
import type { JobRecord } from '@revive/contract';
import { describe, expect, it } from 'vitest';
import { PermanentError, RetryableError, type ProcessResult, type RestorationService } from '@revive/pipeline';
import type { HealthReporter } from './health.js';
import { JobRunner, parseBody, type JobRunnerDeps, type JobRunnerSettings } from './job-runner.js';
import type { JobStore } from './job-store.js';
import type { ObjectStore } from './object-store.js';
import type { JobQueueConsumer } from './queue.js';
import type { SafeHttpClient } from './source-fetch.js';
import { Telemetry } from './telemetry.js';
import type { WebhookDispatcher } from './webhook-retries.js';

const JOB_ID = '0b6e8f0e-5f2c-4f5e-9a7e-2d7c7d1f0a11';
const JPEG = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);
const body = JSON.stringify({ version: 1, jobId: JOB_ID, tenantId: 't', source: { kind: 's3', key: 'uploads/t/u1' }, options: {}, enqueuedAt: new Date().toISOString() });
const record: JobRecord = { jobId: JOB_ID, tenantId: 't', status: 'RUNNING', source: { kind: 's3', key: 'uploads/t/u1' }, options: { upscale: 2, onlyCenterFace: false, blend: 1, ext: 'auto', requireFace: false }, attempts: 1, createdAt: new Date().toISOString(), expiresAt: 1 };

const RESULT: ProcessResult = { image: new Uint8Array(0), byteLength: 3, format: 'jpeg', width: 4, height: 4, faces: [], facesDetected: 0, timingsMs: { decode: 1 } };

interface HarnessOptions {
  /** Runs while the claim is under way (before it resolves). */
  readonly duringClaim?: (runner: JobRunner) => void;
  readonly deleteFails?: boolean;
  readonly settings?: Partial<JobRunnerSettings>;
  readonly body?: string;
}

/** In-memory stand-ins that record what the runner asked of SQS and DynamoDB. */
function harness(process: RestorationService['process'], options: HarnessOptions = {}) {
  const calls: string[] = [];
  /** Whether each uploaded result file existed when its upload started. */
  const uploaded: boolean[] = [];
  const ref: { runner?: JobRunner } = {};
  const store = {
    claim: async () => {
      options.duringClaim?.(ref.runner!);
      await new Promise((r) => setTimeout(r, 5));
      return { claimed: true, record };
    },
    renewLease: async () => true,
    releaseLease: async () => (calls.push('releaseLease'), true),
    succeed: async () => (calls.push('succeed'), true),
    fail: async (_id: string, _o: string, f: { code: string }) => (calls.push(`fail:${f.code}`), true),
  } as unknown as JobStore;
  const queue = {
    delete: async () => {
      calls.push('delete');
      if (options.deleteFails) throw new RetryableError('STORAGE', 'DeleteMessage: 500');
    },
    changeVisibility: async (_r: string, s: number) => void calls.push(`visibility:${s === 0 ? 0 : s > 0 ? '>0' : s}`),
  } as unknown as JobQueueConsumer;
  const objects = {
    getUpload: async () => JPEG,
    putResultFile: async (_key: string, file: string) => {
      calls.push('put');
      uploaded.push(existsSync(file));
    },
  } as unknown as ObjectStore;
  const health = { jobStarted: () => undefined, jobBudgetSet: () => undefined, jobEnded: () => undefined } as unknown as HealthReporter;
  const frames = { detectFrame: () => Promise.reject(new Error('no video here')), processFrame: () => Promise.reject(new Error('no video here')) };
  const deps: JobRunnerDeps = { pipeline: { process, ...frames }, store, queue, objects, health, http: {} as SafeHttpClient, webhooks: {} as WebhookDispatcher, telemetry: new Telemetry({ logLevel: 'SILENT' }) };
  const runner = new JobRunner(deps, { workerId: 'w', visibilityTimeoutSeconds: 10, heartbeatIntervalMs: 60_000, maxReceiveCount: 3, jobTtlDays: 1, maxSourceBytes: 1_000, jobTimeoutSeconds: 600, restorer: 'gfpgan-1.4', bgUpsampler: undefined, video: { maxBytes: 1, maxDurationSeconds: 1, maxPixelsPerFrame: 1, workDir: '/nonexistent' }, ...options.settings });
  ref.runner = runner;
  const deliver = (receiveCount: number) => runner.handle({ Body: options.body ?? body, ReceiptHandle: 'rh', MessageId: 'm', Attributes: { ApproximateReceiveCount: String(receiveCount) } } as Message, 0);
  return { calls, uploaded, deliver, runner };
}

describe('JobRunner failure handling', () => {
  it('leaves a transient failure for redelivery: lease released, visibility backed off, nothing deleted', async () => {
    const h = harness(async () => Promise.reject(new RetryableError('STORAGE', 'S3 hiccup')));
    await h.deliver(1);
    expect(h.calls).toEqual(['releaseLease', 'visibility:>0']);
  });

  it('marks RETRIES_EXHAUSTED on the last delivery and lets SQS move the message to the DLQ', async () => {
    const h = harness(async () => Promise.reject(new RetryableError('THROTTLED', 'slow down')));
    await h.deliver(3);
    expect(h.calls).toEqual(['fail:RETRIES_EXHAUSTED', 'visibility:0']);
  });

  it('fails a permanent error with its code and deletes the message', async () => {
    const h = harness(async () => Promise.reject(new PermanentError('NO_FACE', 'no face found')));
    await h.deliver(1);
    expect(h.calls).toEqual(['fail:NO_FACE', 'delete']);
  });

  it('treats an unexpected exception as an INTERNAL permanent failure', async () => {
    const h = harness(async () => Promise.reject(new TypeError('undefined is not a function')));
    await h.deliver(2);
    expect(h.calls).toEqual(['fail:INTERNAL', 'delete']);
  });
});

describe('JobRunner success and shutdown edges', () => {
  it('keeps a recorded success when the delete fails: no failure is written, the redelivery will be skipped', async () => {
    const h = harness(async () => RESULT, { deleteFails: true });
    await h.deliver(1);
    expect(h.calls).toEqual(['put', 'succeed', 'delete']);
  });

  it('releases a job whose claim was still under way when SIGTERM started draining', async () => {
    let processed = false;
    const h = harness(
      async () => ((processed = true), RESULT),
      { duringClaim: (runner) => runner.startDraining() },
    );
    const delivery = h.deliver(1);
    // Shutdown's wait sees the claim in flight and returns only once it has been settled (here: released).
    await new Promise((r) => setTimeout(r, 1));
    expect(await h.runner.waitForActive(1_000)).toBe(true);
    await delivery;
    expect(processed).toBe(false);
    expect(h.calls).toEqual(['releaseLease', 'visibility:0']);
  });
});

describe('JobRunner options to the pipeline', () => {
  it("caps a job's maxFaces at the worker's, which is also the default", async () => {
    const seen: (number | undefined)[] = [];
    const run = async (maxFaces: number | undefined) => {
      const withMax = JSON.stringify({ ...JSON.parse(body), options: maxFaces === undefined ? {} : { maxFaces } });
      const h = harness(async (_input, options) => (seen.push(options?.maxFaces), RESULT), { body: withMax, settings: { maxFaces: 5 } });
      await h.deliver(1);
    };
    await run(2);
    await run(500);
    await run(undefined);
    expect(seen).toEqual([2, 5, 5]);
  });

  it('has the pipeline encode into a file in the spool folder, uploads that file and removes it', async () => {
    const spoolDir = await mkdtemp(path.join(tmpdir(), 'revive-spool-'));
    try {
      let outputPath: string | undefined;
      const h = harness(
        async (_input, options) => {
          outputPath = options?.outputPath;
          await writeFile(outputPath!, 'encoded');
          return RESULT;
        },
        { settings: { spoolDir } },
      );
      await h.deliver(1);
      expect(path.dirname(outputPath!)).toBe(spoolDir);
      expect(h.calls).toEqual(['put', 'succeed', 'delete']);
      expect(h.uploaded).toEqual([true]);
      expect(await readdir(spoolDir)).toEqual([]);
    } finally {
      await rm(spoolDir, { recursive: true, force: true });
    }
  });
});

describe('parseBody', () => {
  it('accepts the contract and explains what is wrong otherwise', () => {
    expect(parseBody(body).ok).toBe(true);
    expect(parseBody('nope')).toEqual({ ok: false, reason: 'the body is not JSON' });
    const bad = parseBody(JSON.stringify({ ...JSON.parse(body), options: { upscale: 9 } }));
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.reason).toContain('options.upscale');
  });
});
