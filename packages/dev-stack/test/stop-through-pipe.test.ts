// `pnpm start 2>&1 | tee log`, then Ctrl-C. The terminal's SIGINT ends tee at once; the stack's own stop then
// writes to a pipe nobody reads. The stack must still stop in order (worker drain and release, API, emulators), exit
// 0 and leave none of its temporary folders. The real entry point (main.ts under `node --import tsx`, as `pnpm start`
// runs it) writes into the real `tee`; every wait is on an event (a line, a request, a process exit).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { GetQueueUrlCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { JobResponse } from '@revive/contract';
import { localClients, startLocalAws } from '@revive/local-aws';
import { sharedDir, writeIdentityRestorer } from '@revive/pipeline/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, STATE_RESOURCE_PREFIX } from '../src/stack.js';

const PHOTO = path.join(sharedDir(), 'photos', 'whole', 'blurry_face.jpg');
const SOURCE_HOST = '127.0.0.2';
const TENANT = 'pipe-test';
/** Ceiling for one awaited event on a loaded machine (JVM start, model load); never a sleep. */
const EVENT_TIMEOUT_MS = 240_000;

let tmp: string;
let restorer: string;
const spawned: ChildProcess[] = [];

function alive(pid: number): boolean {
  try {
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '')[0];
    return state !== 'Z';
  } catch {
    return false;
  }
}

/** Waits, under a ceiling, until none of `pids` is alive; returns those still alive. */
async function stillAlive(pids: number[], ceilingMs = 60_000): Promise<number[]> {
  const deadline = Date.now() + ceilingMs;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return pids.filter(alive);
}

/** Temporary folders in os.tmpdir() named for one of these owners. */
function foldersOf(pids: number[]): string[] {
  return readdirSync(tmpdir()).filter((name) => pids.some((pid) => new RegExp(`^revive-[a-z0-9-]+?-${pid}-`).test(name)));
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'revive-pipe-test-'));
  restorer = await writeIdentityRestorer(tmp);
});

afterAll(async () => {
  for (const child of spawned) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await rm(tmp, { recursive: true, force: true });
});

describe('Ctrl-C on `pnpm start 2>&1 | tee log`', () => {
  it('tee ends first; the stack still drains and releases the running job, stops in order, exits 0 and leaves no temporary folder', async () => {
    const stateDir = path.join(tmp, 'state');
    const tee = spawn('tee', [path.join(tmp, 'log')], { stdio: ['pipe', 'pipe', 'ignore'] });
    spawned.push(tee);
    // main's stdout and stderr are both the pipe into tee, as with `2>&1 |`. Its own process group, as a terminal's
    // foreground job; tee is signalled alongside, as a terminal signals the whole pipeline.
    const main = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: path.join(REPO_ROOT, 'packages', 'dev-stack'),
      env: {
        ...process.env,
        PORT: '0',
        // The worker's "worker ready" line is awaited.
        POWERTOOLS_LOG_LEVEL: 'INFO',
        REVIVE_RESTORER: restorer,
        REVIVE_MODELS_DIR: path.join(sharedDir(), 'models'),
        REVIVE_WAIT_TIME_SECONDS: '1',
        REVIVE_URL_ALLOW_CIDRS: `${SOURCE_HOST}/32`,
        // The held job cannot finish: the drain gives up after 2 s and releases it.
        REVIVE_SHUTDOWN_TIMEOUT_SECONDS: '2',
        REVIVE_STATE_DIR: stateDir,
      },
      stdio: ['ignore', tee.stdin, tee.stdin],
      detached: true,
    });
    spawned.push(main);
    const mainExit = once(main, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const lines: string[] = [];
    const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
    createInterface({ input: tee.stdout }).on('line', (line) => {
      lines.push(line);
      for (const w of [...waiters]) {
        if (!w.pattern.test(line)) continue;
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    });
    const waitForLine = (pattern: RegExp) =>
      lines.find((l) => pattern.test(l)) ??
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no line matching ${pattern}:\n${lines.slice(-30).join('\n')}`)), EVENT_TIMEOUT_MS);
        void mainExit.then(() => reject(new Error(`main exited before a line matching ${pattern}:\n${lines.slice(-30).join('\n')}`)));
        waiters.push({ pattern, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      });

    await waitForLine(/Ctrl-C stops everything/);
    const apiUrl = /API\s+(http:\/\/\S+)/.exec(lines.find((l) => /^\s+API\s+http/.test(l))!)![1]!;
    const [, mainPid, workerPid] = /processes\s+main (\d+), worker (\d+)/.exec(lines.find((l) => /processes\s+main/.test(l))!)!.map(Number);
    expect(mainPid).toBe(main.pid);
    await waitForLine(/"worker ready"/);

    // A job the worker is surely running when Ctrl-C comes: its source request is held open.
    const photo = await readFile(PHOTO);
    let fetches = 0;
    let firstFetch: () => void = () => undefined;
    const fetched = new Promise<void>((resolve) => (firstFetch = resolve));
    const source: Server = createServer((_req, res) => {
      fetches += 1;
      if (fetches === 1) return firstFetch();
      res.writeHead(200, { 'content-type': 'image/jpeg' }).end(photo);
    });
    await new Promise<void>((resolve) => source.listen(0, SOURCE_HOST, resolve));
    try {
      const url = `http://${SOURCE_HOST}:${(source.address() as AddressInfo).port}/photo.jpg`;
      const created = await fetch(`${apiUrl}/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-revive-tenant': TENANT },
        body: JSON.stringify({ source: { url }, options: { upscale: 1 } }),
      });
      expect(created.status).toBe(202);
      const job = (await created.json()) as JobResponse;
      await fetched;
      expect((await (await fetch(`${apiUrl}/jobs/${job.id}`, { headers: { 'x-revive-tenant': TENANT } })).json()) as JobResponse).toMatchObject({ status: 'RUNNING' });

      // Ctrl-C: tee goes first (its default SIGINT action), so every line of the stop meets a closed pipe.
      const teeExit = once(tee, 'exit');
      tee.kill('SIGINT');
      await teeExit;
      process.kill(-main.pid!, 'SIGINT');
      const [code, signal] = await mainExit;
      expect({ code, signal }, lines.slice(-20).join('\n')).toEqual({ code: 0, signal: null });
      expect(await stillAlive([workerPid!])).toEqual([]);
      expect(foldersOf([mainPid!, workerPid!])).toEqual([]);

      // Released, as the state folder shows: lease cleared, and the message visible again at once (not after the
      // visibility timeout) for the next start's worker.
      const aws = await startLocalAws({ stateDir });
      const clients = localClients(aws);
      try {
        const record = await clients.dynamodb.send(new GetItemCommand({ TableName: `${STATE_RESOURCE_PREFIX}-jobs`, Key: { jobId: { S: job.id } }, ConsistentRead: true }));
        expect(record.Item?.status?.S).toBe('RUNNING');
        expect(record.Item?.leaseExpiresAt?.N).toBe('0');
        expect(record.Item?.leaseOwner).toBeUndefined();
        const { QueueUrl } = await clients.sqs.send(new GetQueueUrlCommand({ QueueName: `${STATE_RESOURCE_PREFIX}-jobs` }));
        const received = await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 1 }));
        expect(received.Messages?.map((m) => (JSON.parse(m.Body!) as { jobId: string }).jobId)).toEqual([job.id]);
      } finally {
        for (const client of Object.values(clients)) client.destroy();
        await aws.stop();
      }
    } finally {
      source.closeAllConnections();
      await new Promise((resolve) => source.close(resolve));
    }
  }, EVENT_TIMEOUT_MS * 2);
});
