import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_PROTECTION_EXPIRES_IN_MINUTES, QUEUE_IDLE_READS, TaskProtection, type ProtectionLogger, type TaskProtectionOptions } from './task-protection.js';

interface AgentRequest {
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly body: unknown;
}

/** A local stand-in for the ECS container agent: records requests, answers with `respond` (after `delayMs`). */
async function fakeAgent(respond: (body: { ProtectionEnabled?: boolean }, res: ServerResponse) => void = ok, delayMs = 0) {
  const requests: AgentRequest[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const server: Server = createServer((req, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      const body = JSON.parse(text) as { ProtectionEnabled?: boolean };
      requests.push({ method: req.method, url: req.url, headers: req.headers, body });
      setTimeout(() => {
        inFlight--;
        respond(body, res);
      }, delayMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // ECS_AGENT_URI carries a per-container path: the adapter must append to it, not replace it.
  return { uri: `${base}/api/container-1234`, requests, maxInFlight: () => maxInFlight };
}

function ok(body: { ProtectionEnabled?: boolean }, res: ServerResponse): void {
  const protection = { ExpirationDate: body.ProtectionEnabled ? new Date(Date.now() + 3_600_000).toISOString() : null, ProtectionEnabled: body.ProtectionEnabled, TaskArn: 'arn:aws:ecs:us-east-1:123456789012:task/revive/abc' };
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ protection }));
}

function recordingLogger() {
  const lines: { level: 'info' | 'warn'; message: string; extra: Record<string, unknown> }[] = [];
  const logger = {
    info: (message: string, extra: Record<string, unknown> = {}) => lines.push({ level: 'info', message, extra }),
    warn: (message: string, extra: Record<string, unknown> = {}) => lines.push({ level: 'warn', message, extra }),
  } as unknown as ProtectionLogger;
  return { logger, lines, warnings: () => lines.filter((l) => l.level === 'warn') };
}

const servers: Server[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

describe('TaskProtection', () => {
  it('without ECS_AGENT_URI does nothing and calls nothing', async () => {
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    const { logger, lines } = recordingLogger();
    const protection = new TaskProtection({ agentUri: undefined, logger });
    expect(protection.active).toBe(false);
    protection.jobsRunning(1);
    protection.jobsRunning(0);
    await protection.close();
    expect(fetchSpy).not.toHaveBeenCalled();
    expect(lines).toEqual([]);
  });

  it('PUTs ProtectionEnabled true with ExpiresInMinutes on the first job and false when the last one ends', async () => {
    const agent = await fakeAgent();
    const { logger, warnings } = recordingLogger();
    const protection = new TaskProtection({ agentUri: agent.uri, logger });
    expect(protection.active).toBe(true);
    protection.jobsRunning(1);
    await protection.settled();
    protection.jobsRunning(2); // still busy: no call
    protection.jobsRunning(1);
    await protection.settled();
    expect(agent.requests).toHaveLength(1);
    protection.jobsRunning(0);
    await protection.settled();
    expect(agent.requests.map((r) => [r.method, r.url])).toEqual([
      ['PUT', '/api/container-1234/task-protection/v1/state'],
      ['PUT', '/api/container-1234/task-protection/v1/state'],
    ]);
    expect(agent.requests[0]!.headers['content-type']).toBe('application/json');
    expect(agent.requests[0]!.body).toEqual({ ProtectionEnabled: true, ExpiresInMinutes: DEFAULT_PROTECTION_EXPIRES_IN_MINUTES });
    expect(agent.requests[1]!.body).toEqual({ ProtectionEnabled: false });
    expect(warnings()).toEqual([]);
    // Already confirmed off: shutdown has nothing to undo.
    await protection.close();
    expect(agent.requests).toHaveLength(2);
  });

  it('serialises calls: flips while a call is in flight never overlap and the last state wins', async () => {
    const agent = await fakeAgent(ok, 40);
    const { logger } = recordingLogger();
    const protection = new TaskProtection({ agentUri: agent.uri, logger });
    protection.jobsRunning(1);
    await new Promise((r) => setTimeout(r, 10)); // the "on" call is now in flight
    for (const count of [0, 1, 0, 1, 0]) protection.jobsRunning(count);
    await protection.settled();
    expect(agent.maxInFlight()).toBe(1);
    expect(agent.requests[0]!.body).toMatchObject({ ProtectionEnabled: true });
    expect(agent.requests.at(-1)!.body).toEqual({ ProtectionEnabled: false });
    // Queued flips collapse into the state wanted when each call runs, not one call per flip.
    expect(agent.requests.length).toBeLessThan(6);
  });

  it('renews protection while jobs keep running and stops renewing once idle', async () => {
    const agent = await fakeAgent();
    const { logger } = recordingLogger();
    const protection = new TaskProtection({ agentUri: agent.uri, logger, renewIntervalMs: 50, expiresInMinutes: 5 });
    protection.jobsRunning(1);
    await new Promise((r) => setTimeout(r, 230));
    await protection.settled();
    const ons = agent.requests.filter((r) => (r.body as { ProtectionEnabled: boolean }).ProtectionEnabled);
    expect(ons.length).toBeGreaterThanOrEqual(3);
    for (const on of ons) expect(on.body).toEqual({ ProtectionEnabled: true, ExpiresInMinutes: 5 });
    protection.jobsRunning(0);
    await protection.settled();
    const afterIdle = agent.requests.length;
    await new Promise((r) => setTimeout(r, 150));
    expect(agent.requests.length).toBe(afterIdle);
    expect(agent.requests.at(-1)!.body).toEqual({ ProtectionEnabled: false });
  });

  it('debounces the release: back-to-back jobs keep protection on with no call, and "off" goes out once the task stays idle', async () => {
    const agent = await fakeAgent();
    const { logger } = recordingLogger();
    const protection = new TaskProtection({ agentUri: agent.uri, logger, releaseDelayMs: 300 });
    protection.jobsRunning(1);
    await new Promise((r) => setTimeout(r, 20));
    // Ten jobs one after another, each next one starting within the delay.
    for (let job = 0; job < 10; job++) {
      protection.jobsRunning(0);
      await new Promise((r) => setTimeout(r, 5));
      protection.jobsRunning(1);
    }
    await new Promise((r) => setTimeout(r, 20));
    expect(agent.requests.map((r) => r.body)).toEqual([{ ProtectionEnabled: true, ExpiresInMinutes: DEFAULT_PROTECTION_EXPIRES_IN_MINUTES }]);
    protection.jobsRunning(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(agent.requests).toHaveLength(1); // still inside the delay: protected
    await protection.settled();
    expect(agent.requests.map((r) => r.body)).toEqual([{ ProtectionEnabled: true, ExpiresInMinutes: DEFAULT_PROTECTION_EXPIRES_IN_MINUTES }, { ProtectionEnabled: false }]);
  });

  it('shutdown during the release delay unprotects at once', async () => {
    const agent = await fakeAgent();
    const { logger } = recordingLogger();
    const protection = new TaskProtection({ agentUri: agent.uri, logger, releaseDelayMs: 60_000 });
    protection.jobsRunning(1);
    await protection.settled();
    protection.jobsRunning(0);
    // Resolves long before the 60 s delay (the test timeout is 30 s).
    await protection.close();
    expect(agent.requests.map((r) => r.body)).toEqual([{ ProtectionEnabled: true, ExpiresInMinutes: DEFAULT_PROTECTION_EXPIRES_IN_MINUTES }, { ProtectionEnabled: false }]);
  });

  it('logs a failure answer (HTTP 200 with `failure`) as a warning, never throws, and retries on the next change', async () => {
    let refuse = true;
    const agent = await fakeAgent((body, res) => {
      if (!refuse) return ok(body, res);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ failure: { Arn: 'arn:aws:ecs:us-east-1:123456789012:task/revive/abc', Reason: 'TASK_NOT_VALID', Detail: null } }));
    });
    const { logger, warnings } = recordingLogger();
    const protection = new TaskProtection({ agentUri: agent.uri, logger });
    protection.jobsRunning(1);
    await protection.settled();
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({ message: 'task scale-in protection refused by ECS', extra: { reason: 'TASK_NOT_VALID', protectionEnabled: true } });
    refuse = false;
    // "off" was never confirmed either way, so shutdown still sends it.
    await protection.close();
    expect(agent.requests.map((r) => r.body)).toEqual([{ ProtectionEnabled: true, ExpiresInMinutes: DEFAULT_PROTECTION_EXPIRES_IN_MINUTES }, { ProtectionEnabled: false }]);
  });

  it('logs an `error` answer (4xx) and an unreachable agent as warnings, never throws', async () => {
    const agent = await fakeAgent((_body, res) => {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { Arn: '', Code: 'AccessDeniedException', Message: 'not authorized to perform ecs:UpdateTaskProtection' }, requestID: 'req-1' }));
    });
    const { logger, warnings } = recordingLogger();
    const protection = new TaskProtection({ agentUri: agent.uri, logger });
    protection.jobsRunning(1);
    await protection.settled();
    expect(warnings()[0]).toMatchObject({ message: 'task scale-in protection call failed', extra: { status: 400, code: 'AccessDeniedException', requestId: 'req-1' } });

    // A port nothing listens on: connection refused.
    const dead = await fakeAgent();
    const deadUri = dead.uri;
    await Promise.all(servers.splice(1).map((s) => new Promise((r) => s.close(r))));
    const unreachable = recordingLogger();
    const other = new TaskProtection({ agentUri: deadUri, logger: unreachable.logger, requestTimeoutMs: 1_000 });
    other.jobsRunning(1);
    await expect(other.close()).resolves.toBeUndefined();
    expect(unreachable.warnings().length).toBe(2);
    expect(unreachable.warnings()[0]!.extra.error).toMatch(/fetch failed|ECONNREFUSED/);
  });

  describe('idle window', () => {
    const ON = { ProtectionEnabled: true, ExpiresInMinutes: DEFAULT_PROTECTION_EXPIRES_IN_MINUTES };
    const OFF = { ProtectionEnabled: false };
    /** A queueIdle that answers `idle` and records when it was asked; `asked` resolves on the first call. */
    function queueCounts(idle: (read: number) => boolean | Promise<boolean>) {
      const askedAt: number[] = [];
      let first!: () => void;
      const asked = new Promise<void>((r) => (first = r));
      const queueIdle = async () => {
        askedAt.push(Date.now());
        first();
        return idle(askedAt.length);
      };
      return { queueIdle, askedAt, asked };
    }

    /**
     * A protection against a fresh fake agent that has run one job and just gone idle (the release under way, started
     * at `idleAt`).
     */
    async function idleAfterOneJob(options: Omit<TaskProtectionOptions, 'agentUri' | 'logger'>) {
      const agent = await fakeAgent();
      const log = recordingLogger();
      const protection = new TaskProtection({ agentUri: agent.uri, logger: log.logger, ...options });
      protection.jobsRunning(1);
      await protection.settled();
      const idleAt = Date.now();
      protection.jobsRunning(0);
      return { agent, ...log, protection, idleAt };
    }

    it('the last busy task (queue empty) keeps protection until the window after its last job has passed', async () => {
      const counts = queueCounts(() => true);
      const { agent, protection, lines, idleAt } = await idleAfterOneJob({ releaseDelayMs: 50, idleProtectionMs: 600, queueIdle: counts.queueIdle });
      await counts.asked;
      // Asked once the release delay had passed, and still protected: no "off" yet.
      // (Less a millisecond: Date.now() rounds, the timers do not.)
      expect(counts.askedAt[0]! - idleAt).toBeGreaterThanOrEqual(50 - 1);
      expect(agent.requests.map((r) => r.body)).toEqual([ON]);
      await protection.settled();
      expect(Date.now() - idleAt).toBeGreaterThanOrEqual(600 - 1);
      expect(agent.requests.map((r) => r.body)).toEqual([ON, OFF]);
      expect(counts.askedAt).toHaveLength(1);
      expect(lines.some((l) => l.message === 'task scale-in protection kept for the idle window')).toBe(true);
    });

    it('a job within the window re-arms it: no call until the window after the new last job', async () => {
      const counts = queueCounts(() => true);
      const { agent, protection } = await idleAfterOneJob({ releaseDelayMs: 20, idleProtectionMs: 500, queueIdle: counts.queueIdle });
      await counts.asked;
      // The next job arrives inside the window, and ends.
      protection.jobsRunning(1);
      protection.jobsRunning(0);
      const lastIdleAt = Date.now();
      await protection.settled();
      expect(Date.now() - lastIdleAt).toBeGreaterThanOrEqual(500 - 1);
      // One "on" for both jobs and the window between them, one "off" at the end.
      expect(agent.requests.map((r) => r.body)).toEqual([ON, OFF]);
      expect(counts.askedAt).toHaveLength(2);
    });

    it('a task idle while other work waits or runs lets go once a few reads, the release delay apart, all say so', async () => {
      const counts = queueCounts(() => false);
      const { agent, protection, idleAt } = await idleAfterOneJob({ releaseDelayMs: 50, idleProtectionMs: 60_000, queueIdle: counts.queueIdle });
      // Resolves long before the 60 s window (the test timeout is 30 s).
      await protection.settled();
      expect(Date.now() - idleAt).toBeGreaterThanOrEqual(QUEUE_IDLE_READS * 50 - 1);
      expect(counts.askedAt).toHaveLength(QUEUE_IDLE_READS);
      for (let i = 1; i < QUEUE_IDLE_READS; i++) expect(counts.askedAt[i]! - counts.askedAt[i - 1]!).toBeGreaterThanOrEqual(50 - 1);
      expect(agent.requests.map((r) => r.body)).toEqual([ON, OFF]);
    });

    it('a "not idle" read (the just-deleted message still counted) followed by an idle one keeps the window', async () => {
      const counts = queueCounts((read) => read >= 2);
      const { agent, protection, idleAt } = await idleAfterOneJob({ releaseDelayMs: 20, idleProtectionMs: 600, queueIdle: counts.queueIdle });
      await protection.settled();
      expect(Date.now() - idleAt).toBeGreaterThanOrEqual(600 - 1);
      expect(counts.askedAt).toHaveLength(2);
      expect(agent.requests.map((r) => r.body)).toEqual([ON, OFF]);
    });

    it('unreadable queue counts: lets go after the reads and says why', async () => {
      const counts = queueCounts(() => Promise.reject(new Error('AccessDenied: sqs:GetQueueAttributes')));
      const { agent, protection, warnings } = await idleAfterOneJob({ releaseDelayMs: 20, idleProtectionMs: 60_000, queueIdle: counts.queueIdle });
      await protection.settled();
      expect(agent.requests.map((r) => r.body)).toEqual([ON, OFF]);
      expect(warnings()).toHaveLength(QUEUE_IDLE_READS);
      expect(warnings()[0]).toMatchObject({ message: 'queue counts unreadable: read as not idle' });
      expect(String(warnings()[0]!.extra.error)).toMatch(/AccessDenied/);
    });

    it('a queue read that never answers cannot hold protection past the window', async () => {
      let aborted = 0;
      const { agent, protection, idleAt } = await idleAfterOneJob({
        releaseDelayMs: 20,
        idleProtectionMs: 500,
        // Longer than the window: the window's own end must release the task, not the read's timeout.
        queueReadTimeoutMs: 60_000,
        queueIdle: (signal) => {
          signal.addEventListener('abort', () => aborted++);
          return new Promise<boolean>(() => undefined);
        },
      });
      await protection.settled();
      expect(Date.now() - idleAt).toBeGreaterThanOrEqual(500 - 1);
      expect(Date.now() - idleAt).toBeLessThan(30_000);
      expect(agent.requests.map((r) => r.body)).toEqual([ON, OFF]);
      expect(aborted).toBe(0);
    });

    it('a queue read that times out reads as "not idle" and is aborted', async () => {
      const signals: AbortSignal[] = [];
      const { agent, protection, warnings } = await idleAfterOneJob({
        releaseDelayMs: 20,
        idleProtectionMs: 60_000,
        queueReadTimeoutMs: 50,
        // A reader that ignores its signal: the timeout still decides.
        queueIdle: (signal) => {
          signals.push(signal);
          return new Promise<boolean>(() => undefined);
        },
      });
      // Resolves long before the 60 s window (the test timeout is 30 s).
      await protection.settled();
      expect(agent.requests.map((r) => r.body)).toEqual([ON, OFF]);
      expect(signals).toHaveLength(QUEUE_IDLE_READS);
      expect(signals.every((s) => s.aborted)).toBe(true);
      expect(warnings()[0]).toMatchObject({ message: 'queue counts unreadable: read as not idle' });
    });

    it('shutdown inside the window unprotects at once', async () => {
      const counts = queueCounts(() => true);
      const { agent, protection } = await idleAfterOneJob({ releaseDelayMs: 20, idleProtectionMs: 60_000, queueIdle: counts.queueIdle });
      await counts.asked;
      await protection.close();
      expect(agent.requests.map((r) => r.body)).toEqual([ON, OFF]);
    });
  });
});
