// `pnpm start` keeps its state in a folder: a job queued before a stop runs after the next start, its result is still
// served after another restart, `--fresh` starts empty, and one folder serves one stack at a time. The real stack
// with its own emulators on a temporary state folder (tests must never share the repository's `.revive/`).
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CreateUploadResponse, JobListResponse, JobResponse } from '@revive/contract';
import { sharedDir, writeIdentityRestorer } from '@revive/pipeline/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockStateDir, startLocalStack, STATE_LOCK_FILE, StateDirInUseError, type LocalStack, type LocalStackOptions } from '../src/stack.js';

const PHOTO = path.join(sharedDir(), 'photos', 'whole', 'blurry_face.jpg');
const TENANT = 'state-tenant';
let tmp: string;
let stateDir: string;
let restorer: string;
let running: LocalStack | undefined;
const log: string[] = [];

async function start(options: Partial<LocalStackOptions> = {}): Promise<LocalStack> {
  running = await startLocalStack({
    port: 0,
    stateDir,
    env: { ...process.env, REVIVE_RESTORER: restorer, REVIVE_MODELS_DIR: path.join(sharedDir(), 'models'), REVIVE_WAIT_TIME_SECONDS: '1' },
    workerOutput: (line) => log.push(line),
    log: (line) => log.push(line),
    sweepIntervalMs: 0,
    ...options,
  });
  return running;
}

async function stop(): Promise<void> {
  await running?.stop();
  running = undefined;
}

async function call(stack: LocalStack, method: string, route: string, body?: unknown) {
  const res = await fetch(`${stack.server.url}${route}`, {
    method,
    headers: { 'content-type': 'application/json', 'x-revive-tenant': TENANT },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as unknown };
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'revive-state-stack-'));
  stateDir = path.join(tmp, 'state');
  restorer = await writeIdentityRestorer(tmp);
});

afterAll(async () => {
  await stop();
  await rm(tmp, { recursive: true, force: true });
});

describe('the local stack keeps its state across restarts', () => {
  let jobId = '';
  let resultBytes: Buffer;

  it('a job queued before a stop runs after the next start; its upload is still there', async () => {
    const first = await start({ worker: false });
    const created = await call(first, 'POST', '/uploads', {});
    const upload = created.body as CreateUploadResponse;
    const form = new FormData();
    for (const [k, v] of Object.entries(upload.fields)) form.append(k, v);
    form.append('Content-Type', 'image/jpeg');
    form.append('file', new Blob([await readFile(PHOTO)], { type: 'image/jpeg' }), 'photo.jpg');
    expect((await fetch(upload.url, { method: 'POST', body: form })).status).toBe(204);
    const job = await call(first, 'POST', '/jobs', { source: { uploadKey: upload.uploadKey } });
    expect(job.status).toBe(202);
    jobId = (job.body as JobResponse).id;
    await stop();

    const second = await start();
    let current = (await call(second, 'GET', `/jobs/${jobId}`)).body as JobResponse;
    const deadline = Date.now() + 150_000;
    while ((current.status === 'QUEUED' || current.status === 'RUNNING') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      current = (await call(second, 'GET', `/jobs/${jobId}`)).body as JobResponse;
    }
    expect(current.status, `${JSON.stringify(current.error)}\n${log.slice(-15).join('\n')}`).toBe('SUCCEEDED');
    const result = await fetch(current.output!.url);
    expect(result.status).toBe(200);
    resultBytes = Buffer.from(await result.arrayBuffer());
    expect(resultBytes.length).toBeGreaterThan(0);
    await stop();
  }, 300_000);

  it('a finished job and its result are still served after another restart', async () => {
    const third = await start({ worker: false });
    const job = (await call(third, 'GET', `/jobs/${jobId}`)).body as JobResponse;
    expect(job.status).toBe('SUCCEEDED');
    const result = await fetch(job.output!.url);
    expect(result.status).toBe(200);
    expect(Buffer.from(await result.arrayBuffer()).equals(resultBytes)).toBe(true);
    const list = (await call(third, 'GET', '/jobs')).body as JobListResponse;
    expect(list.jobs.map((j) => j.id)).toContain(jobId);
    await stop();
  }, 120_000);

  it('fresh: starts empty', async () => {
    const fresh = await start({ worker: false, fresh: true });
    expect((await call(fresh, 'GET', `/jobs/${jobId}`)).status).toBe(404);
    expect(((await call(fresh, 'GET', '/jobs')).body as JobListResponse).jobs).toEqual([]);
    await stop();
  }, 120_000);
});

describe('one stack per state folder', () => {
  it('a folder held by a running process is refused; one left by a process that is gone is taken over', async () => {
    const dir = path.join(tmp, 'locked');
    await mkdir(dir, { recursive: true });
    const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      await writeFile(path.join(dir, STATE_LOCK_FILE), String(holder.pid));
      const refused = await lockStateDir(dir, false).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(StateDirInUseError);
      expect((refused as StateDirInUseError).ownerPid).toBe(holder.pid);
    } finally {
      holder.kill('SIGKILL');
      await once(holder, 'exit');
    }
    await writeFile(path.join(dir, 'kept-data'), 'x');
    const release = await lockStateDir(dir, true);
    expect(await readFile(path.join(dir, STATE_LOCK_FILE), 'utf8')).toBe(String(process.pid));
    // fresh: everything but the lock is gone.
    expect(existsSync(path.join(dir, 'kept-data'))).toBe(false);
    await release();
    expect(existsSync(path.join(dir, STATE_LOCK_FILE))).toBe(false);
  });
});
