// ECS task scale-in protection end to end: `revive serve` as a child process with ECS_AGENT_URI pointing at a
// local stand-in for the ECS container agent. A test-only slow restorer keeps a job running long enough to look.
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { JobQueueConsumer } from '../src/service/queue.js';
import { DEFAULT_PROTECTION_EXPIRES_IN_MINUTES, TASK_PROTECTION_PATH } from '../src/service/task-protection.js';
import {
  createStack,
  enqueue,
  getRecord,
  isTerminal,
  JOB_END_CEILING_MS,
  photo,
  sleep,
  type Stack,
  startWorkerProcess,
  upload,
  waitForRecord,
  type WorkerProcess,
  writeSlowRestorer,
} from './service-helpers.js';

const TENANT = 'tenant-protect';
/** A few seconds per job here (see service-crash.test.ts): long enough to see the protection while it runs. */
const SLOW_CONVS = 30;
const AGENT_PREFIX = '/api/4f3c2b1a-revive-worker';
const ON = { ProtectionEnabled: true, ExpiresInMinutes: DEFAULT_PROTECTION_EXPIRES_IN_MINUTES };
const OFF = { ProtectionEnabled: false };

interface AgentCall {
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly body: unknown;
  readonly at: number;
}

let stack: Stack;
let dir: string;
let restorer: string;
let input: Uint8Array;
let agent: Server;
let agentUri = '';
const calls: AgentCall[] = [];
const workers: WorkerProcess[] = [];

async function worker(env: Record<string, string> = {}, on: Stack = stack, model = restorer): Promise<WorkerProcess> {
  const w = await startWorkerProcess(on, {
    restorer: model,
    healthFile: path.join(dir, `health-${workers.length}.json`),
    env: { REVIVE_CONCURRENCY: '1', ECS_AGENT_URI: agentUri, ...env },
  });
  workers.push(w);
  return w;
}

async function waitForCalls(count: number, timeoutMs = JOB_END_CEILING_MS): Promise<AgentCall[]> {
  const deadline = Date.now() + timeoutMs;
  while (calls.length < count && Date.now() < deadline) await sleep(50);
  expect(calls.length, `agent calls: ${JSON.stringify(calls)}`).toBeGreaterThanOrEqual(count);
  return calls;
}

async function sentJob(on: Stack = stack): Promise<string> {
  const key = await upload(on, TENANT, input);
  return (await enqueue(on, { kind: 's3', key }, { tenantId: TENANT, options: { upscale: 1 } })).jobId;
}

async function startedJob(w: WorkerProcess, on: Stack = stack): Promise<string> {
  const jobId = await sentJob(on);
  await w.waitForLog((l) => l.message === 'job started' && l.jobId === jobId, JOB_END_CEILING_MS);
  return jobId;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-protect-'));
  restorer = await writeSlowRestorer(path.join(dir, 'models'), SLOW_CONVS);
  input = (await photo(360)).bytes;
  stack = await createStack(inject('localAws'), { visibilityTimeoutSeconds: 8, maxReceiveCount: 5 });
  // Answers as the ECS agent does on success: the task's protection state.
  agent = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      const body = JSON.parse(text || 'null') as { ProtectionEnabled?: boolean } | null;
      calls.push({ method: req.method, url: req.url, body, at: Date.now() });
      const enabled = body?.ProtectionEnabled === true;
      const protection = { ExpirationDate: enabled ? new Date(Date.now() + 3_600_000).toISOString() : null, ProtectionEnabled: enabled, TaskArn: 'arn:aws:ecs:us-east-1:123456789012:task/revive/0123' };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ protection }));
    });
  });
  await new Promise<void>((r) => agent.listen(0, '127.0.0.1', r));
  agentUri = `http://127.0.0.1:${(agent.address() as AddressInfo).port}${AGENT_PREFIX}`;
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  calls.splice(0);
});

afterAll(async () => {
  agent?.close();
  stack?.destroy();
  await rm(dir, { recursive: true, force: true });
});

describe('task scale-in protection', () => {
  it('is on while a job runs and off once it has ended', async () => {
    const w = await worker();
    expect(w.logs.find((l) => l.message === 'worker ready')).toMatchObject({ taskProtection: true });
    // Idle after start: nothing to protect, no calls.
    await sleep(300);
    expect(calls).toEqual([]);
    const jobId = await startedJob(w);
    const [on] = await waitForCalls(1);
    expect(on).toMatchObject({ method: 'PUT', url: `${AGENT_PREFIX}${TASK_PROTECTION_PATH}`, body: ON });
    // Protected while the job is still running.
    expect(await getRecord(stack, jobId)).toMatchObject({ status: 'RUNNING' });
    const record = await waitForRecord(stack, jobId, isTerminal, JOB_END_CEILING_MS);
    expect(record.status).toBe('SUCCEEDED');
    const [, off] = await waitForCalls(2);
    expect(off).toMatchObject({ method: 'PUT', url: `${AGENT_PREFIX}${TASK_PROTECTION_PATH}`, body: OFF });
    // "on" came before the job finished, "off" only after.
    expect(on!.at).toBeLessThan(Date.parse(record.finishedAt!));
    expect(off!.at).toBeGreaterThanOrEqual(Date.parse(record.finishedAt!));
    // An orderly shutdown of an idle worker that already said "off" has nothing to undo.
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    expect(calls.map((c) => c.body)).toEqual([ON, OFF]);
  });

  it('is switched off at SIGTERM after the drain, even when the job was released unfinished', async () => {
    const w = await worker({ REVIVE_SHUTDOWN_TIMEOUT_SECONDS: '0' });
    const jobId = await startedJob(w);
    await waitForCalls(1);
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    expect(w.logs.some((l) => l.message === 'job released at shutdown' && l.jobId === jobId)).toBe(true);
    expect(calls.map((c) => c.body)).toEqual([ON, OFF]);
    // The "off" was sent during the shutdown, before "shutdown complete", while the job had not finished.
    const complete = w.logs.find((l) => l.message === 'shutdown complete')!;
    expect(calls[1]!.at).toBeLessThanOrEqual(Date.parse(String(complete.timestamp)));
    expect((await getRecord(stack, jobId))?.status).not.toBe('SUCCEEDED');
  });

  describe('idle window', () => {
    // A queue of their own: the window depends on the queue being empty, and the tests above leave a released job.
    let own: Stack;
    /** Four times slower than the file's restorer. */
    let slower: string;
    /**
     * Forty times slower (over a minute a face here): a job still running after another worker's start (minutes on a
     * loaded machine), a failed job and the release delay. Its worker is killed at the end rather than drained.
     */
    let stuck: string;
    beforeAll(async () => {
      own = await createStack(inject('localAws'), { visibilityTimeoutSeconds: 8, maxReceiveCount: 5 });
      slower = await writeSlowRestorer(path.join(dir, 'slower'), SLOW_CONVS * 4);
      stuck = await writeSlowRestorer(path.join(dir, 'stuck'), SLOW_CONVS * 40);
    });
    afterAll(() => own?.destroy());
    const kept = (l: { message?: unknown }) => l.message === 'task scale-in protection kept for the idle window';

    it('the last busy task keeps protection for its idle window after its last job, and lets go once it has passed', async () => {
      const windowSeconds = 20;
      const w = await worker({ REVIVE_IDLE_PROTECTION_SECONDS: String(windowSeconds) }, own);
      const job = await startedJob(w, own);
      await waitForCalls(1);
      const done = await waitForRecord(own, job, isTerminal, JOB_END_CEILING_MS);
      expect(done.status).toBe('SUCCEEDED');
      // The queue is empty once the job is done (the emulator's counts): the worker keeps its protection and says so.
      await w.waitForLog(kept, JOB_END_CEILING_MS);
      // "off" only once the window after the job has passed (the wait: the window plus the file's ceiling).
      const [, off] = await waitForCalls(2, windowSeconds * 1000 + JOB_END_CEILING_MS);
      expect(off).toMatchObject({ body: OFF });
      expect(off!.at - Date.parse(done.finishedAt!)).toBeGreaterThanOrEqual(windowSeconds * 1000);
      expect(calls.map((c) => c.body)).toEqual([ON, OFF]);
    });

    it('a job sent inside the window re-arms it with no call at all; SIGTERM then unprotects after the drain', async () => {
      // A window far longer than anything here can take: the second job starts inside it however loaded the machine.
      const w = await worker({ REVIVE_IDLE_PROTECTION_SECONDS: '600' }, own);
      const first = await startedJob(w, own);
      await waitForCalls(1);
      expect((await waitForRecord(own, first, isTerminal, JOB_END_CEILING_MS)).status).toBe('SUCCEEDED');
      await w.waitForLog(kept, JOB_END_CEILING_MS);
      expect(calls.map((c) => c.body)).toEqual([ON]);
      // The next job runs on this task, still protected: no call.
      const second = await startedJob(w, own);
      expect((await waitForRecord(own, second, isTerminal, JOB_END_CEILING_MS)).status).toBe('SUCCEEDED');
      // The window starts again after the second job (a second "kept"), still without a call.
      await w.waitForLog(() => w.logs.filter(kept).length >= 2, JOB_END_CEILING_MS);
      expect(calls.map((c) => c.body)).toEqual([ON]);
      w.child.kill('SIGTERM');
      expect(await w.exited).toBe(0);
      expect(calls.map((c) => c.body)).toEqual([ON, OFF]);
    });

    it('back-to-back jobs keep protection on; after the last the window holds, and SIGTERM inside it unprotects after the drain', async () => {
      const w = await worker({ REVIVE_IDLE_PROTECTION_SECONDS: '600' }, own);
      const first = await startedJob(w, own);
      await waitForCalls(1);
      // The second waits behind the first on this one-slot worker: when the first ends the queue is not empty.
      const second = await sentJob(own);
      expect((await waitForRecord(own, first, isTerminal, JOB_END_CEILING_MS)).status).toBe('SUCCEEDED');
      expect((await waitForRecord(own, second, isTerminal, JOB_END_CEILING_MS)).status).toBe('SUCCEEDED');
      await w.waitForLog(kept, JOB_END_CEILING_MS);
      expect(calls.map((c) => c.body)).toEqual([ON]);
      w.child.kill('SIGTERM');
      expect(await w.exited).toBe(0);
      expect(calls.map((c) => c.body)).toEqual([ON, OFF]);
    });

    it('the queue read that decides the window counts a delayed message (a re-sent child) as work, and can be aborted', async () => {
      // A queue of its own: the delayed message must not reach the other tests' workers.
      const fresh = await createStack(inject('localAws'), { visibilityTimeoutSeconds: 8 });
      try {
        const queue = new JobQueueConsumer(fresh.resources.queueUrl, fresh.clients.sqs);
        expect(await queue.isIdle()).toBe(true);
        await fresh.clients.sqs.send(new SendMessageCommand({ QueueUrl: fresh.resources.queueUrl, MessageBody: '{}', DelaySeconds: 900 }));
        expect(await queue.isIdle()).toBe(false);
        await expect(queue.isIdle(AbortSignal.abort())).rejects.toThrow();
      } finally {
        fresh.destroy();
      }
    });

    it('a task that goes idle while another task still runs a job lets go after its reads, without the window', async () => {
      // Y's job fails at once (not an image) while X's photo is still restoring: Y is not the last busy task.
      const x = await worker({ REVIVE_IDLE_PROTECTION_SECONDS: '600', ECS_AGENT_URI: `${agentUri}-x` }, own, stuck);
      const slow = await startedJob(x, own);
      const y = await worker({ REVIVE_IDLE_PROTECTION_SECONDS: '600', ECS_AGENT_URI: `${agentUri}-y` }, own, slower);
      const key = await upload(own, TENANT, new TextEncoder().encode('not an image'));
      const bad = (await enqueue(own, { kind: 's3', key }, { tenantId: TENANT, options: { upscale: 1 } })).jobId;
      expect(await waitForRecord(own, bad, isTerminal, JOB_END_CEILING_MS)).toMatchObject({ status: 'FAILED', errorCode: 'INVALID_IMAGE' });
      const ofY = () => calls.filter((c) => c.url?.startsWith(`${AGENT_PREFIX}-y/`)).map((c) => c.body);
      const deadline = Date.now() + JOB_END_CEILING_MS;
      while (ofY().length < 2 && Date.now() < deadline) await sleep(50);
      // Y let go (after its reads, not 600 s) while X's job was still running, and never kept the window.
      expect(ofY()).toEqual([ON, OFF]);
      expect((await getRecord(own, slow))?.status).toBe('RUNNING');
      expect(y.logs.some(kept)).toBe(false);
      expect(calls.filter((c) => c.url?.startsWith(`${AGENT_PREFIX}-x/`)).map((c) => c.body)).toEqual([ON]);
      // A drain would wait out the stuck job; nothing is left to check on X.
      x.child.kill('SIGKILL');
      await x.exited;
    });
  });
});
