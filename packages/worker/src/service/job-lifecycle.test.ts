import type { Message } from '@aws-sdk/client-sqs';
import type { JobRecord } from '@revive/contract';
import { describe, expect, it } from 'vitest';
import { PermanentError, RetryableError } from '@revive/pipeline';
import type { HealthReporter } from './health.js';
import { JobLifecycle, type JobLifecycleSettings } from './job-lifecycle.js';
import type { JobFailure, JobStore, JobSuccess } from './job-store.js';
import type { JobQueueConsumer } from './queue.js';
import type { JobTask, TaskContext, TaskResult } from './tasks/task.js';
import { Telemetry } from './telemetry.js';
import type { WebhookDispatcher } from './webhook-retries.js';

const JOB_ID = '7f1d2c3b-4a5e-4f60-8b7c-9d0e1f2a3b4c';
const body = JSON.stringify({ version: 1, jobId: JOB_ID, tenantId: 't', source: { kind: 's3', key: 'uploads/t/u1' }, options: {}, webhookUrl: 'https://hooks.example/done', enqueuedAt: new Date().toISOString() });
const record: JobRecord = {
  jobId: JOB_ID,
  tenantId: 't',
  status: 'RUNNING',
  source: { kind: 's3', key: 'uploads/t/u1' },
  options: { upscale: 2, onlyCenterFace: false, blend: 1, ext: 'auto', requireFace: false },
  webhookUrl: 'https://hooks.example/done',
  attempts: 2,
  createdAt: new Date().toISOString(),
  expiresAt: 1,
};
/** Far from any retry backoff here (5–20 s with the default base), so a heartbeat's extension is told apart from one. */
const VISIBILITY_SECONDS = 600;
const SUCCESS: TaskResult = { success: { resultKey: 'results/t/x-2.png', resultWidth: 8, resultHeight: 6, facesFound: 0, facesDetected: 0, facesRestored: 0, faces: [], timingsMs: { fake: 3 } } };

/** A task built from one function: the test double of our JobTask interface. */
const task = (run: (context: TaskContext) => Promise<TaskResult | undefined>): JobTask => ({ run: async (_job, context) => run(context) });

/** In-memory stand-ins for our store, queue and webhook dispatcher that record what the lifecycle asked of them. */
function harness(jobTask: JobTask, settings: Partial<JobLifecycleSettings> = {}, options: { leaseLost?: boolean; succeedFails?: boolean } = {}) {
  const calls: string[] = [];
  const written: { success?: JobSuccess; failure?: JobFailure } = {};
  const webhooks: JobRecord[] = [];
  let heartbeats = 0;
  const heartbeatSeen: (() => void)[] = [];
  const store = {
    claim: async () => ({ claimed: true, record }),
    renewLease: async () => {
      heartbeats++;
      // After the heartbeat has acted on this answer (its continuation is a microtask, this runs after those).
      setImmediate(() => heartbeatSeen.splice(0).forEach((f) => f()));
      return !options.leaseLost;
    },
    releaseLease: async () => (calls.push('releaseLease'), true),
    succeed: async (_id: string, _owner: string, success: JobSuccess) => {
      if (options.succeedFails === true) throw new RetryableError('STORAGE', 'DynamoDB UpdateItem (succeed) timed out');
      return (written.success = success), calls.push('succeed'), true;
    },
    fail: async (_id: string, _owner: string, failure: JobFailure) => ((written.failure = failure), calls.push(`fail:${failure.code}`), true),
  } as unknown as JobStore;
  const queue = {
    delete: async () => void calls.push('delete'),
    // The heartbeat extends the visibility by the full timeout; backoffs and releases are told apart from it.
    changeVisibility: async (_r: string, s: number) => void calls.push(s === VISIBILITY_SECONDS ? 'visibility:extend' : `visibility:${s === 0 ? 0 : s > 0 ? '>0' : s}`),
  } as unknown as JobQueueConsumer;
  const dispatcher = { deliver: async (r: JobRecord) => void webhooks.push(r) } as unknown as WebhookDispatcher;
  const health = { jobStarted: () => undefined, jobBudgetSet: () => undefined, jobEnded: () => undefined } as unknown as HealthReporter;
  const lifecycle = new JobLifecycle(
    { store, queue, objects: { presignResult: async (key) => `https://bucket.example/${key}`, deleteObjects: async () => undefined }, webhooks: dispatcher, health, telemetry: new Telemetry({ logLevel: 'SILENT' }) },
    { workerId: 'w', visibilityTimeoutSeconds: VISIBILITY_SECONDS, heartbeatIntervalMs: 60_000, maxReceiveCount: 3, jobTtlDays: 1, jobTimeoutSeconds: 600, ...settings },
    () => jobTask,
  );
  const deliver = async (receiveCount: number) => {
    await lifecycle.handle({ Body: body, ReceiptHandle: 'rh', MessageId: 'm', Attributes: { ApproximateReceiveCount: String(receiveCount) } } as Message, 0);
    await lifecycle.waitForWebhooks(5_000);
  };
  /** Resolves after the next heartbeat has renewed (or failed to renew) the lease. */
  const nextHeartbeat = () => new Promise<void>((resolve) => heartbeatSeen.push(resolve));
  return { calls, written, webhooks, deliver, nextHeartbeat, heartbeats: () => heartbeats };
}

describe('JobLifecycle with a task that succeeds', () => {
  it('records what the task returns with its finish time and TTL, deletes the message and posts the webhook', async () => {
    let seen: TaskContext | undefined;
    const h = harness(task(async (context) => ((seen = context), SUCCESS)));
    const before = Date.now();
    await h.deliver(1);
    expect(seen?.attempt).toBe(record.attempts);
    expect(h.calls).toEqual(['succeed', 'delete']);
    expect(h.written.success).toMatchObject(SUCCESS.success);
    expect(h.written.success!.finishedAt.getTime()).toBeGreaterThanOrEqual(before);
    // jobTtlDays 1: the record expires a day after it finished.
    expect(h.written.success!.expiresAt).toBe(Math.floor(h.written.success!.finishedAt.getTime() / 1000) + 86_400);
    expect(h.webhooks).toHaveLength(1);
    expect(h.webhooks[0]).toMatchObject({ jobId: JOB_ID, status: 'SUCCEEDED', resultKey: SUCCESS.success.resultKey, resultWidth: 8 });
    expect(h.webhooks[0]).not.toHaveProperty('leaseOwner');
  });
});

describe('JobLifecycle with a task that cleans up after its success (a video finisher)', () => {
  const cleaning = (calls: string[]): TaskResult => ({ ...SUCCESS, afterSuccess: async () => void calls.push('cleanUp') });

  it('cleans up only once the success is recorded', async () => {
    const calls: string[] = [];
    const h = harness(task(async () => cleaning(calls)));
    await h.deliver(1);
    expect(h.calls).toEqual(['succeed', 'delete']);
    expect(calls).toEqual(['cleanUp']);
  });

  it('keeps what the job worked from when the success could not be recorded, so the retry can finish', async () => {
    const calls: string[] = [];
    const h = harness(task(async () => cleaning(calls)), {}, { succeedFails: true });
    await h.deliver(1);
    expect(calls).toEqual([]);
    expect(h.calls).toEqual(['releaseLease', 'visibility:>0']);
  });
});

describe('JobLifecycle with a task that fails permanently', () => {
  it('fails the job with the error code and reason, deletes the message and posts the failure to the webhook', async () => {
    const h = harness(task(async () => Promise.reject(new PermanentError('SOURCE_NOT_FOUND', 'uploads/t/u1 is gone'))));
    await h.deliver(1);
    expect(h.calls).toEqual(['fail:SOURCE_NOT_FOUND', 'delete']);
    expect(h.written.failure?.message).toBe('uploads/t/u1 is gone');
    expect(h.webhooks).toMatchObject([{ status: 'FAILED', errorCode: 'SOURCE_NOT_FOUND', errorMessage: 'uploads/t/u1 is gone' }]);
  });

  it('maps a worker code that is no job error code to INTERNAL, keeping the reason', async () => {
    const h = harness(task(async () => Promise.reject(new PermanentError('MODEL_INVALID', 'the restorer has 2 inputs'))));
    await h.deliver(1);
    expect(h.calls).toEqual(['fail:INTERNAL', 'delete']);
    expect(h.written.failure?.message).toBe('the restorer has 2 inputs');
  });
});

describe('JobLifecycle with a task that fails retryably', () => {
  it('releases the lease and backs the message off, writing no outcome and posting no webhook', async () => {
    const h = harness(task(async () => Promise.reject(new RetryableError('STORAGE', 'S3 answered 503'))));
    await h.deliver(2);
    expect(h.calls).toEqual(['releaseLease', 'visibility:>0']);
    expect(h.webhooks).toEqual([]);
  });

  it('fails RETRIES_EXHAUSTED on the last delivery with the last error, and leaves the message to the DLQ', async () => {
    const h = harness(task(async () => Promise.reject(new RetryableError('THROTTLED', 'slow down'))));
    await h.deliver(3);
    expect(h.calls).toEqual(['fail:RETRIES_EXHAUSTED', 'visibility:0']);
    expect(h.written.failure?.message).toBe('gave up after 3 deliveries; last error: slow down');
    expect(h.webhooks).toMatchObject([{ status: 'FAILED', errorCode: 'RETRIES_EXHAUSTED' }]);
  });
});

describe('JobLifecycle budget and lease', () => {
  it('aborts a started task at its budget and fails the job JOB_TIMEOUT', async () => {
    let reason: unknown;
    const h = harness(
      task(async ({ signal, startBudget }) => {
        startBudget();
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        reason = signal.reason;
        throw signal.reason;
      }),
      { jobTimeoutSeconds: 0.05 },
    );
    await h.deliver(1);
    expect(reason).toBeInstanceOf(PermanentError);
    expect(h.calls).toEqual(['fail:JOB_TIMEOUT', 'delete']);
    expect(h.written.failure?.message).toMatch(/budget of 0.05 s/);
  });

  it('fails a task that returns after its budget ran out instead of recording its success', async () => {
    const h = harness(
      task(async ({ signal, startBudget }) => {
        startBudget();
        // A last step that ignores the signal and only settles after the abort.
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        return SUCCESS;
      }),
      { jobTimeoutSeconds: 0.05 },
    );
    await h.deliver(1);
    expect(h.calls).toEqual(['fail:JOB_TIMEOUT', 'delete']);
  });

  it('does not count time before the task starts its budget', async () => {
    const h = harness(
      task(async ({ signal }) => {
        // Longer than the budget, but the budget was never started (the task still waits for its resources).
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(signal.aborted).toBe(false);
        return SUCCESS;
      }),
      { jobTimeoutSeconds: 0.05 },
    );
    await h.deliver(1);
    expect(h.calls).toEqual(['succeed', 'delete']);
  });

  it('tells a task it is abandoned once a heartbeat finds the lease taken, and writes nothing for it', async () => {
    let abandonedAtStart: boolean | undefined;
    const ref: { h?: ReturnType<typeof harness> } = {};
    const fake = task(async (context) => {
      abandonedAtStart = context.abandoned;
      await ref.h!.nextHeartbeat();
      return context.abandoned ? undefined : SUCCESS;
    });
    const h = (ref.h = harness(fake, { heartbeatIntervalMs: 10 }, { leaseLost: true }));
    await h.deliver(1);
    expect(abandonedAtStart).toBe(false);
    expect(h.heartbeats()).toBeGreaterThanOrEqual(1);
    // The message keeps the visibility the heartbeat gave it: the new lease owner's worker finishes the job.
    expect(h.calls).toEqual(['visibility:extend']);
    expect(h.webhooks).toEqual([]);
  });

  it('writes no failure for an abandoned task that throws', async () => {
    const ref: { h?: ReturnType<typeof harness> } = {};
    const fake = task(async () => {
      await ref.h!.nextHeartbeat();
      throw new PermanentError('INVALID_IMAGE', 'found while abandoned');
    });
    const h = (ref.h = harness(fake, { heartbeatIntervalMs: 10 }, { leaseLost: true }));
    await h.deliver(1);
    expect(h.calls).toEqual(['visibility:extend']);
  });
});
