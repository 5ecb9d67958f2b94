// Temporary folders of processes killed outright (kill -9): the supervisor removes a crashed worker's folder, and a
// start removes every stack's or worker's folder whose owner is gone, never one whose owner still runs (stacks run
// side by side, as these tests do). Against the real stack on the shared emulators.
import type {} from '@revive/local-aws/vitest-setup';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sharedDir, writeIdentityRestorer } from '@revive/pipeline/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../src/stack.js';

/** Ceiling for one awaited event on a loaded machine (model load); never a sleep. */
const EVENT_TIMEOUT_MS = 180_000;
let modelDir: string;
const stacks: LocalStack[] = [];

/** Folders in os.tmpdir() that a process with this pid owns, by the naming convention. */
function foldersOf(pid: number, kind: string): string[] {
  return readdirSync(tmpdir()).filter((name) => name.startsWith(`revive-${kind}-${pid}-`));
}

/** Resolves once `check` holds, checked every 50 ms, or rejects after `ceilingMs`. */
async function until(check: () => boolean, what: string, ceilingMs = 20_000): Promise<void> {
  const deadline = Date.now() + ceilingMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${ceilingMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A pid that surely belonged to a process that has exited: a child that ran and was reaped. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  return child.pid!;
}

beforeAll(async () => {
  modelDir = await mkdtemp(path.join(tmpdir(), 'revive-orphans-models-'));
});

afterAll(async () => {
  for (const stack of stacks) await stack.stop();
  await rm(modelDir, { recursive: true, force: true });
});

describe('temporary folders left by kill -9', () => {
  it('a worker killed with -9: the supervisor removes its folder, and the next worker makes its own', async () => {
    const restorer = await writeIdentityRestorer(modelDir);
    const lines: string[] = [];
    const stack = await startLocalStack({
      target: inject('localAws'),
      port: 0,
      env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'INFO', REVIVE_RESTORER: restorer, REVIVE_MODELS_DIR: path.join(sharedDir(), 'models'), REVIVE_WAIT_TIME_SECONDS: '1' },
      workerOutput: (line) => lines.push(line),
      log: (line) => lines.push(line),
      sweepIntervalMs: 0,
    });
    stacks.push(stack);
    const first = stack.worker!.child!;
    // The worker makes its folder before it loads the models.
    await until(() => lines.some((l) => l.includes('"models loaded"')), 'the first worker loaded its models', EVENT_TIMEOUT_MS);
    expect(foldersOf(first.pid!, 'worker')).toHaveLength(1);

    const respawned = once(stack.worker!, 'spawn') as Promise<[ChildProcess]>;
    first.kill('SIGKILL');
    const [second] = await respawned;
    expect(second.pid).not.toBe(first.pid);
    await until(() => foldersOf(first.pid!, 'worker').length === 0, `the killed worker's folder is removed (${foldersOf(first.pid!, 'worker').join(', ')})`);
    await until(() => foldersOf(second.pid!, 'worker').length === 1, 'the new worker made its own folder', EVENT_TIMEOUT_MS);
  }, EVENT_TIMEOUT_MS * 2);

  it("a start removes the folders of stacks and workers that are gone, and keeps those of processes still running", async () => {
    const dead = await deadPid();
    // A process that outlives the start: its folders belong to a stack still running.
    const live = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      const orphans = ['health', 'worker', 's3-upload'].map((kind) => path.join(tmpdir(), `revive-${kind}-${dead}-test`));
      const kept = ['health', 'worker'].map((kind) => path.join(tmpdir(), `revive-${kind}-${live.pid}-test`));
      for (const folder of [...orphans, ...kept]) await mkdir(path.join(folder, 'inside'), { recursive: true });
      const lines: string[] = [];
      stacks.push(await startLocalStack({ target: inject('localAws'), port: 0, worker: false, sweepIntervalMs: 0, log: (line) => lines.push(line) }));
      expect(orphans.filter(existsSync), lines.join('\n')).toEqual([]);
      expect(kept.filter(existsSync)).toEqual(kept);
      expect(lines.join('\n')).toMatch(/removed \d+ temporary folder\(s\) left by stopped stacks/);
      for (const folder of kept) await rm(folder, { recursive: true, force: true });
    } finally {
      live.kill('SIGKILL');
    }
  });
});
