// `pnpm start` as a supervisor, tested through the real entry point as a child process: a worker killed with -9 is
// restarted and its job completes after the visibility timeout; repeated stop signals stop everything once, in
// order (worker drain, API, emulators), and leave no process behind. Every wait is on an event (a log line, a
// request reaching the test's server, a process exit), with generous ceilings for loaded machines.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { JobResponse } from '@revive/contract';
import { sharedDir, writeIdentityRestorer } from '@revive/pipeline/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../src/stack.js';

const PHOTO = path.join(sharedDir(), 'photos', 'whole', 'blurry_face.jpg');
const SOURCE_HOST = '127.0.0.2';
const TENANT = 'supervisor-test';
/** Short, so the redelivery after the crash comes soon; the worker's heartbeat keeps a live job's message hidden. */
const VISIBILITY_TIMEOUT_SECONDS = 6;
/** Ceiling for one awaited event on a loaded machine (JVM start, model load); never a sleep. */
const EVENT_TIMEOUT_MS = 240_000;

let modelDir: string;
let restorer: string;

/** One `pnpm start` run as a child process, with its output as lines. */
class Stack {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  apiUrl = '';
  mainPid = 0;
  readonly #waiters: { test: (line: string) => boolean; resolve: (line: string) => void }[] = [];

  /** `detached`: its own process group, as a terminal's foreground job, so the test can signal the group like Ctrl-C. */
  constructor(detached = false) {
    this.child = spawn('pnpm', ['start'], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        PORT: '0',
        REVIVE_RESTORER: restorer,
        REVIVE_MODELS_DIR: path.join(sharedDir(), 'models'),
        REVIVE_WAIT_TIME_SECONDS: '1',
        REVIVE_VISIBILITY_TIMEOUT_SECONDS: String(VISIBILITY_TIMEOUT_SECONDS),
        REVIVE_URL_ALLOW_CIDRS: `${SOURCE_HOST}/32`,
        // A state folder per stack: this file runs two at once, and the repository's own is a developer's.
        REVIVE_STATE_DIR: path.join(modelDir, `state-${started.length}`),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached,
    });
    this.child.stdout!.on('data', (chunk: Buffer) => this.#onOutput(chunk));
    this.child.stderr!.on('data', (chunk: Buffer) => this.#onOutput(chunk));
  }

  /** Resolves once the stack is up (its banner printed). */
  async ready(): Promise<this> {
    await this.waitForLine(/Ctrl-C stops everything/);
    this.apiUrl = /API\s+(http:\/\/\S+)/.exec(this.lines.find((l) => /^\s+API\s+http/.test(l))!)![1]!;
    this.mainPid = Number(/processes\s+main (\d+)/.exec(this.lines.find((l) => /processes\s+main/.test(l))!)![1]);
    return this;
  }

  /** The first line (already seen or still to come) that matches; rejects when the stack exits first or on timeout. */
  waitForLine(pattern: RegExp, from = 0): Promise<string> {
    const seen = this.lines.slice(from).find((l) => pattern.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${EVENT_TIMEOUT_MS} ms:\n${this.lines.slice(-30).join('\n')}`)), EVENT_TIMEOUT_MS);
      const exited = () => reject(new Error(`pnpm start exited before a line matching ${pattern}:\n${this.lines.slice(-30).join('\n')}`));
      this.child.once('exit', exited);
      this.#waiters.push({
        test: (l) => pattern.test(l),
        resolve: (l) => {
          clearTimeout(timer);
          this.child.off('exit', exited);
          resolve(l);
        },
      });
    });
  }

  #onOutput(chunk: Buffer): void {
    for (const line of chunk.toString().split('\n')) {
      if (!line) continue;
      this.lines.push(line);
      for (const w of [...this.#waiters]) {
        if (w.test(line)) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  }

  /** Only after a failure is anything left: kill what the test started. */
  killAll(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      for (const pid of descendants(this.child.pid!)) process.kill(pid, 'SIGKILL');
      this.child.kill('SIGKILL');
    }
  }
}

let stack: Stack;
/** Every stack the tests started, for afterAll. */
const started: Stack[] = [];
const launch = (detached = false) => {
  const s = new Stack(detached);
  started.push(s);
  return s.ready();
};

/** Process state from /proc: undefined when the process is gone; 'Z' for a zombie (exited, not yet reaped). */
function procState(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '')[0];
  } catch {
    return undefined;
  }
}
const alive = (pid: number) => {
  const state = procState(pid);
  return state !== undefined && state !== 'Z';
};

/** Every living descendant of `root` (pnpm → sh → pnpm → sh → main → worker, JVM, esbuild…). */
function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
      if (fields[0] !== 'Z') parent.set(pid, Number(fields[1]));
    } catch {
      // Gone meanwhile.
    }
  }
  const found: number[] = [];
  const walk = (pid: number) => {
    for (const [p, pp] of parent) {
      if (pp === pid) {
        found.push(p);
        walk(p);
      }
    }
  };
  walk(root);
  return found;
}

async function api(method: string, route: string, body?: unknown) {
  const res = await fetch(`${stack.apiUrl}${route}`, {
    method,
    headers: { 'content-type': 'application/json', 'x-revive-tenant': TENANT },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as unknown };
}

beforeAll(async () => {
  modelDir = await mkdtemp(path.join(tmpdir(), 'revive-supervisor-models-'));
  restorer = await writeIdentityRestorer(modelDir);
  stack = await launch();
}, EVENT_TIMEOUT_MS + 10_000);

afterAll(async () => {
  for (const s of started) s.killAll();
  await rm(modelDir, { recursive: true, force: true });
});

describe('pnpm start restarts a crashed worker', () => {
  it('kill -9 of the worker mid-job: the API and emulators stay up, a new worker starts, the job completes after the visibility timeout', async () => {
    // The job's source URL is served by this test: the first fetch is held open, so the worker is surely mid-job
    // when it is killed; the fetch after the redelivery gets the photo.
    const photo = await readFile(PHOTO);
    let fetches = 0;
    let firstFetch: () => void = () => undefined;
    const fetched = new Promise<void>((resolve) => (firstFetch = resolve));
    const source: Server = createServer((req, res) => {
      fetches += 1;
      if (fetches === 1) {
        firstFetch();
        return; // held until the worker dies
      }
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': String(photo.length) }).end(photo);
    });
    await new Promise<void>((resolve) => source.listen(0, SOURCE_HOST, resolve));
    try {
      const url = `http://${SOURCE_HOST}:${(source.address() as AddressInfo).port}/photo.jpg`;
      const created = await api('POST', '/jobs', { source: { url }, options: { upscale: 1 } });
      expect(created.status, JSON.stringify(created.body)).toBe(202);
      const job = created.body as JobResponse;

      await fetched;
      const startedLine = stack.lines.filter((l) => /revive serve started \(pid \d+\)/.test(l)).at(-1)!;
      const workerPid = Number(/pid (\d+)/.exec(startedLine)![1]);
      const mark = stack.lines.length;
      process.kill(workerPid, 'SIGKILL');
      await stack.waitForLine(/revive serve exited \(SIGKILL\).*restarting it in \d+ ms/, mark);

      // The API answers while the worker is down (it is the same process as the emulators' host).
      const during = await api('GET', `/jobs/${job.id}`);
      expect(during.status).toBe(200);
      expect(['QUEUED', 'RUNNING']).toContain((during.body as JobResponse).status);

      const restarted = await stack.waitForLine(/revive serve started \(pid \d+\)/, mark);
      expect(Number(/pid (\d+)/.exec(restarted)![1])).not.toBe(workerPid);

      // Redelivery after the visibility timeout; poll the API as a front end does, until the job ends.
      let current = during.body as JobResponse;
      const deadline = Date.now() + EVENT_TIMEOUT_MS;
      while ((current.status === 'QUEUED' || current.status === 'RUNNING') && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        current = (await api('GET', `/jobs/${job.id}`)).body as JobResponse;
      }
      expect(current.status, `${JSON.stringify(current.error)}\n${stack.lines.slice(-20).join('\n')}`).toBe('SUCCEEDED');
      expect(current.metrics.attempts).toBeGreaterThanOrEqual(2);
      expect(fetches).toBeGreaterThanOrEqual(2);
      expect(alive(stack.mainPid)).toBe(true);
    } finally {
      source.closeAllConnections();
      await new Promise((resolve) => source.close(resolve));
    }
  }, EVENT_TIMEOUT_MS * 2);
});

describe('pnpm start stops in order on one signal or several', () => {
  it('two SIGTERMs 50 ms apart (pnpm, then main): worker drain, then API, then emulators; exit 0; no process left', async () => {
    const family = descendants(stack.child.pid!);
    expect(family).toContain(stack.mainPid);
    const mark = stack.lines.length;
    // 'close': pnpm has exited AND every process holding its output pipes (tsx, main, the worker) has too. pnpm
    // itself may exit first: it re-raises the signal once it has passed it on.
    const exited = once(stack.child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
    stack.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 50));
    process.kill(stack.mainPid, 'SIGTERM');
    const [code, signal] = await exited;
    const log = stack.lines.slice(mark);
    const at = (pattern: RegExp) => log.findIndex((l) => pattern.test(l));
    const order = [/stopping revive serve/, /revive serve stopped/, /stopped: API/, /stopped: emulators/, /local stack stopped/].map(at);
    expect(order.every((i) => i >= 0), log.join('\n')).toBe(true);
    expect([...order].sort((a, b) => a - b), log.join('\n')).toEqual(order);
    // The release calls of the draining worker reached live emulators.
    expect(log.join('\n')).not.toMatch(/ECONNREFUSED/);
    // main.ts returned 0 ("local stack stopped" is its last line); pnpm ends itself with the signal it was sent.
    expect(log.at(-1), log.join('\n')).toMatch(/local stack stopped/);
    expect([0, 'SIGTERM']).toContain(code ?? signal);
    // Exit of the pnpm process is not the end of its children: wait for each to go, each under the ceiling.
    const deadline = Date.now() + 30_000;
    while (family.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(family.filter(alive).map((pid) => `${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').slice(0, 120)}`)).toEqual([]);
    const refused = await fetch(`${stack.apiUrl}/openapi.json`).then(
      () => false,
      () => true,
    );
    expect(refused).toBe(true);
  }, EVENT_TIMEOUT_MS);
});

const cmdline = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
};

/** Waits, under a ceiling, until none of `pids` is alive; returns those still alive with their command lines. */
async function leftOver(pids: number[], ceilingMs = 60_000): Promise<string[]> {
  const deadline = Date.now() + ceilingMs;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return pids.filter(alive).map((pid) => `${pid} ${cmdline(pid).slice(0, 120)}`);
}

describe('Ctrl-C (SIGINT to the whole foreground process group)', () => {
  it('stops in order with DynamoDB Local alive until the worker has drained; no process left', async () => {
    const s = await launch(true);
    const family = descendants(s.child.pid!);
    const jvm = family.find((pid) => cmdline(pid).includes('DynamoDbLocalLoopback'));
    // Outside the group Ctrl-C signals: the JVM is stopped by the stack, after the worker and the API.
    if (jvm !== undefined) expect(readFileSync(`/proc/${jvm}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[2]).not.toBe(String(s.child.pid));
    // So is the worker: a Ctrl-C while it still loads (before its handlers exist) would kill it, not drain it.
    const workerPid = Number(/processes\s+main \d+, worker (\d+)/.exec(s.lines.find((l) => /processes\s+main/.test(l))!)![1]);
    expect(readFileSync(`/proc/${workerPid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[2]).not.toBe(String(s.child.pid));
    try {
      const mark = s.lines.length;
      const exited = once(s.child, 'close');
      let jvmAliveAfterDrain: boolean | undefined;
      const drained = s.waitForLine(/revive serve stopped/, mark).then(() => {
        if (jvm !== undefined) jvmAliveAfterDrain = alive(jvm);
      });
      // What a terminal does on Ctrl-C: SIGINT to every process of the foreground group (pnpm's, as it is the leader).
      process.kill(-s.child.pid!, 'SIGINT');
      await exited;
      await drained;
      const log = s.lines.slice(mark);
      const at = (pattern: RegExp) => log.findIndex((l) => pattern.test(l));
      const order = [/stopping revive serve/, /revive serve stopped/, /stopped: API/, /stopped: emulators/, /local stack stopped/].map(at);
      expect(order.every((i) => i >= 0), log.join('\n')).toBe(true);
      expect([...order].sort((a, b) => a - b), log.join('\n')).toEqual(order);
      expect(log.join('\n')).not.toMatch(/ECONNREFUSED/);
      // With the dynalite fallback (no JDK) there is no JVM to check.
      if (jvm !== undefined) expect(jvmAliveAfterDrain, log.join('\n')).toBe(true);
      expect(await leftOver(family)).toEqual([]);
    } finally {
      for (const pid of family.filter(alive)) process.kill(pid, 'SIGKILL');
    }
  }, EVENT_TIMEOUT_MS * 2);
});

describe('kill -9 of pnpm start\'s main process', () => {
  it('the worker (and DynamoDB Local) see their stdin close and exit; no process left', async () => {
    const s = await launch(true);
    const family = descendants(s.child.pid!);
    const workerPid = Number(/processes\s+main \d+, worker (\d+)/.exec(s.lines.find((l) => /processes\s+main/.test(l))!)![1]);
    expect(family).toContain(workerPid);
    try {
      process.kill(s.mainPid, 'SIGKILL');
      expect(await leftOver(family)).toEqual([]);
    } finally {
      for (const pid of family.filter(alive)) process.kill(pid, 'SIGKILL');
    }
  }, EVENT_TIMEOUT_MS * 2);
});
