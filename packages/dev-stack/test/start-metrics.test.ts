// Issue 18 point 11: `pnpm start` flooded the terminal with Powertools' EMF metric lines (one or more per request,
// job, model load and 10 s sweep). The real entry point, run as a child process from its start to its stop, with the
// worker's model load and API requests in between: its whole output has no EMF line, and the banner says how to
// have them. The test's own POWERTOOLS_METRICS_DISABLED (vitest sets it) is removed from the child's environment.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sharedDir, writeIdentityRestorer } from '@revive/pipeline/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../src/stack.js';

/** Ceiling for one awaited event on a loaded machine (JVM start, model load); never a sleep. */
const EVENT_TIMEOUT_MS = 240_000;
const TENANT = 'metrics-test';
/** What every EMF line carries (the metadata CloudWatch reads). */
const EMF_MARK = /"_aws"\s*:\s*\{\s*"Timestamp"/;

let modelDir: string | undefined;
let group: number | undefined;

afterAll(async () => {
  if (group !== undefined) {
    try {
      process.kill(-group, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  if (modelDir) await rm(modelDir, { recursive: true, force: true });
});

describe('pnpm start keeps EMF metric lines out of the terminal', () => {
  it('prints no EMF line from start to stop (model load, API requests), and the banner says how to turn them on', async () => {
    modelDir = await mkdtemp(path.join(tmpdir(), 'revive-metrics-models-'));
    const restorer = await writeIdentityRestorer(modelDir);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: '0',
      REVIVE_RESTORER: restorer,
      REVIVE_MODELS_DIR: path.join(sharedDir(), 'models'),
      REVIVE_WAIT_TIME_SECONDS: '1',
      // Its own state folder: other stacks (tests in parallel, a developer's pnpm start) may hold the repository's.
      REVIVE_STATE_DIR: path.join(modelDir, 'state'),
    };
    delete env.POWERTOOLS_METRICS_DISABLED;
    delete env.POWERTOOLS_LOG_LEVEL;
    // Its own process group, so the stop is a terminal's Ctrl-C to the whole group.
    const child = spawn('pnpm', ['start'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    group = child.pid;
    const lines: string[] = [];
    const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
    // Whole lines only, per stream: a pipe may cut an EMF line in two, and neither half would match EMF_MARK.
    const partial = { stdout: '', stderr: '' };
    const onOutput = (stream: keyof typeof partial) => (chunk: Buffer) => {
      const parts = (partial[stream] + chunk.toString()).split('\n');
      partial[stream] = parts.pop() ?? '';
      for (const line of parts) {
        if (!line) continue;
        lines.push(line);
        for (const w of [...waiters]) {
          if (w.pattern.test(line)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    };
    child.stdout.on('data', onOutput('stdout'));
    child.stderr.on('data', onOutput('stderr'));
    const closed = once(child, 'close');
    const waitForLine = (pattern: RegExp) => {
      const seen = lines.find((l) => pattern.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${EVENT_TIMEOUT_MS} ms:\n${lines.slice(-30).join('\n')}`)), EVENT_TIMEOUT_MS);
        void closed.then(() => reject(new Error(`pnpm start exited before a line matching ${pattern}:\n${lines.slice(-30).join('\n')}`)));
        waiters.push({ pattern, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      });
    };

    await waitForLine(/Ctrl-C stops everything/);
    const apiUrl = /API\s+(http:\/\/\S+)/.exec(lines.find((l) => /^\s+API\s+http/.test(l))!)![1]!;
    expect(lines.find((l) => /^\s+metrics\s/.test(l))).toMatch(/EMF lines off \(POWERTOOLS_METRICS_DISABLED=false pnpm start prints them\)/);
    // The worker publishes ModelLoadMs just before it logs this.
    await waitForLine(/"models loaded"/);
    // Each API request publishes its latency and status metrics before it answers.
    const headers = { 'content-type': 'application/json', 'x-revive-tenant': TENANT };
    expect((await fetch(`${apiUrl}/uploads`, { method: 'POST', headers, body: '{}' })).status).toBe(201);
    expect((await fetch(`${apiUrl}/jobs`, { headers })).status).toBe(200);
    expect((await fetch(`${apiUrl}/jobs/00000000-0000-4000-8000-000000000000`, { headers })).status).toBe(404);

    // Stop it and read everything it printed.
    process.kill(-group!, 'SIGINT');
    await closed;
    group = undefined;
    lines.push(...[partial.stdout, partial.stderr].filter((l) => l.length > 0));
    expect(lines.join('\n')).toMatch(/local stack stopped/);
    const emf = lines.filter((l) => EMF_MARK.test(l));
    expect(emf, emf.slice(0, 3).join('\n')).toEqual([]);
    // The terminal still has the logs: the worker's JSON lines and the API's.
    expect(lines.some((l) => l.includes('"models loaded"'))).toBe(true);
  }, EVENT_TIMEOUT_MS * 2);
});
