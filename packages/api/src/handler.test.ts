import type { Context } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { apiEvent } from '../test/helpers.js';
import { createDeps, destroyDeps, type BaseDeps, type RouteLogic } from './app.js';
import { ServiceError } from './errors.js';
import { createBaseDeps, lambdaDeps, toHandler } from './handler.js';

const ENV = {
  REVIVE_QUEUE_URL: 'http://127.0.0.1:1/000000000000/jobs',
  REVIVE_TABLE_NAME: 'jobs',
  REVIVE_BUCKET_NAME: 'media',
  AWS_REGION: 'eu-west-1',
};

/** The `service` field of the JSON line the deps' logger writes. */
function loggedService(log: (message: string) => void): unknown {
  const lines: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    log('probe');
  } finally {
    spy.mockRestore();
  }
  const line = lines.map((text) => text.trim()).find((text) => text.includes('"probe"'));
  expect(line, 'the logger wrote a JSON line').toBeDefined();
  return (JSON.parse(line!) as { service?: unknown }).service;
}

describe('Powertools service name', () => {
  afterEach(() => vi.restoreAllMocks());

  it("is each function's POWERTOOLS_SERVICE_NAME, not one name for all", () => {
    const deps = createDeps({ ...ENV, POWERTOOLS_SERVICE_NAME: 'api-get-job' });
    try {
      expect(loggedService((m) => deps.logger.info(m))).toBe('api-get-job');
    } finally {
      destroyDeps(deps);
    }
    const entry = lambdaDeps({}, { ...ENV, POWERTOOLS_SERVICE_NAME: 'api-openapi' })();
    expect(loggedService((m) => entry.logger.info(m))).toBe('api-openapi');
  });

  it("falls back to 'api' where the variable is not set (the local server)", () => {
    const deps = createDeps(ENV);
    try {
      expect(loggedService((m) => deps.logger.info(m))).toBe('api');
    } finally {
      destroyDeps(deps);
    }
  });
});

describe('request deadline', () => {
  /** A route that waits for its deadline, then fails as a late AWS call would. */
  const signals: AbortSignal[] = [];
  const waitForDeadline: RouteLogic<BaseDeps> = async (_event, deps) => {
    signals.push(deps.signal!);
    if (!deps.signal!.aborted) await new Promise((resolve) => deps.signal!.addEventListener('abort', resolve, { once: true }));
    throw new ServiceError(503, 'SERVICE_UNAVAILABLE', 'ran out of time', { headers: { 'retry-after': '1' } });
  };
  const event = apiEvent({ method: 'GET', path: '/jobs' });

  it('gives each request its own signal, aborted at the deadline, and answers 503 with a code and retryable', async () => {
    const base = createBaseDeps(ENV);
    base.logger.setLogLevel('SILENT');
    const handler = toHandler('probe', waitForDeadline, () => base, { requestDeadlineMs: 50 });
    const started = performance.now();
    const [first, second] = await Promise.all([handler(event), handler(event)]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    for (const res of [first, second]) {
      expect(res.statusCode).toBe(503);
      expect(JSON.parse(res.body!)).toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryable: true });
    }
    expect(signals.at(-1)).not.toBe(signals.at(-2));
    // The shared deps are not changed: the signal is the request's.
    expect(base.signal).toBeUndefined();
  });

  it('keeps a second of a Lambda\'s remaining time to answer: a Lambda with less time left gets an earlier deadline', async () => {
    const base = createBaseDeps(ENV);
    base.logger.setLogLevel('SILENT');
    const handler = toHandler('probe', waitForDeadline, () => base);
    const context = { getRemainingTimeInMillis: () => 900, functionName: 'probe', awsRequestId: 'r' } as unknown as Context;
    // 900 ms left minus the 1 s margin: the deadline has passed before the route starts.
    const res = await handler(event, context);
    expect(res.statusCode).toBe(503);
    expect(signals.at(-1)!.aborted).toBe(true);
  });
});
