import { afterEach, describe, expect, it, vi } from 'vitest';
import { createDeps, destroyDeps } from './app.js';
import { lambdaDeps } from './handler.js';

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
