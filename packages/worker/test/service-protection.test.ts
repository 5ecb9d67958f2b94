// ECS task scale-in protection end to end: `revive serve` as a child process with ECS_AGENT_URI pointing at a
// local stand-in for the ECS container agent. A test-only slow restorer keeps a job running long enough to look.
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
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
const SLOW_CONVS = 120;
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

async function worker(env: Record<string, string> = {}): Promise<WorkerProcess> {
  const w = await startWorkerProcess(stack, {
    restorer,
    healthFile: path.join(dir, `health-${workers.length}.json`),
    env: { REVIVE_CONCURRENCY: '1', ECS_AGENT_URI: agentUri, ...env },
  });
  workers.push(w);
  return w;
}

async function waitForCalls(count: number, timeoutMs = 30_000): Promise<AgentCall[]> {
  const deadline = Date.now() + timeoutMs;
  while (calls.length < count && Date.now() < deadline) await sleep(50);
  expect(calls.length, `agent calls: ${JSON.stringify(calls)}`).toBeGreaterThanOrEqual(count);
  return calls;
}

async function startedJob(w: WorkerProcess): Promise<string> {
  const key = await upload(stack, TENANT, input);
  const job = await enqueue(stack, { kind: 's3', key }, { tenantId: TENANT, options: { upscale: 1 } });
  await w.waitForLog((l) => l.message === 'job started' && l.jobId === job.jobId, 30_000);
  return job.jobId;
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
});
