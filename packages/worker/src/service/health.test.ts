import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkHealthFile, evaluateHealth, HealthReporter, type HealthState } from './health.js';

const NOW = 1_700_000_000_000;
function state(overrides: Partial<HealthState> = {}): HealthState {
  return {
    pid: 1,
    startedAt: NOW - 60_000,
    writtenAt: NOW - 1_000,
    loopHeartbeatAt: NOW - 1_000,
    modelsLoaded: true,
    draining: false,
    waitTimeSeconds: 20,
    writeIntervalMs: 5_000,
    pollStaleMarginMs: 15_000,
    jobWedgedAfterMs: 600_000,
    slots: [{ slot: 0, lastPollAt: NOW - 2_000 }],
    ...overrides,
  };
}

describe('evaluateHealth', () => {
  it('is healthy when models are loaded and every slot is polling or working', () => {
    expect(evaluateHealth(state(), NOW).healthy).toBe(true);
    expect(evaluateHealth(state({ slots: [{ slot: 0, lastPollAt: NOW - 300_000, jobId: 'j', jobStartedAt: NOW - 120_000 }] }), NOW).healthy).toBe(true);
  });

  it.each<[string, Partial<HealthState>, string]>([
    ['models still loading', { modelsLoaded: false }, 'loading'],
    ['models failed', { modelsLoaded: false, modelLoadError: 'bad onnx' }, 'bad onnx'],
    ['a stale file (process frozen)', { writtenAt: NOW - 40_000 }, 'stale'],
    ['an idle slot that stopped polling', { slots: [{ slot: 0, lastPollAt: NOW - 36_000 }] }, 'not polled'],
    ['a wedged job', { slots: [{ slot: 0, lastPollAt: NOW, jobId: 'j', jobStartedAt: NOW - 700_000 }] }, 'wedged'],
  ])('is unhealthy with %s', (_name, overrides, reason) => {
    const verdict = evaluateHealth(state(overrides), NOW);
    expect(verdict.healthy).toBe(false);
    if (!verdict.healthy) expect(verdict.reason).toContain(reason);
  });

  it('does not count idle slots as stuck while draining', () => {
    expect(evaluateHealth(state({ draining: true, slots: [{ slot: 0, lastPollAt: NOW - 60_000 }] }), NOW).healthy).toBe(true);
  });
});

describe('heartbeat file', () => {
  const dirs: string[] = [];
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('is written by the reporter and judged by checkHealthFile', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'revive-health-'));
    dirs.push(dir);
    const file = path.join(dir, 'health.json');
    expect((await checkHealthFile(file)).healthy).toBe(false);
    const reporter = new HealthReporter({ file, concurrency: 2, waitTimeSeconds: 1 });
    await reporter.flush();
    expect(await checkHealthFile(file)).toMatchObject({ healthy: false, reason: 'models are still loading' });
    reporter.modelsLoaded(42);
    reporter.jobStarted(1, 'job-1');
    await reporter.flush();
    expect(await checkHealthFile(file)).toMatchObject({ healthy: true, detail: expect.stringContaining('1/2 slots busy') });
    // Ten minutes later nothing has rewritten the file: stale.
    expect((await checkHealthFile(file, Date.now() + 600_000)).healthy).toBe(false);
    await reporter.modelLoadFailed('corrupt file');
    expect(await checkHealthFile(file)).toMatchObject({ healthy: false, reason: expect.stringContaining('corrupt file') });
    await writeFile(file, '{"pid":');
    expect((await checkHealthFile(file)).healthy).toBe(false);
  });
});
