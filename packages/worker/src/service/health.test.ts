import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkHealthFile, DEFAULT_JOB_WEDGE_MARGIN_MS, evaluateHealth, HealthReporter, type HealthState } from './health.js';

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

  it("gives a job whose own budget grew past the worker's limit (a video finisher) until that budget plus the margin", () => {
    const slot = { slot: 0, lastPollAt: NOW, jobId: 'video', jobStartedAt: NOW - 1_500_000, jobWedgedAfterMs: 2_000_000 };
    expect(evaluateHealth(state({ slots: [slot] }), NOW).healthy).toBe(true);
    const later = NOW + 600_000;
    expect(evaluateHealth(state({ writtenAt: later - 1_000, loopHeartbeatAt: later - 1_000, slots: [slot] }), later)).toMatchObject({ healthy: false, reason: expect.stringContaining('wedged after 2000000 ms') });
    // Never less than the worker-wide limit.
    expect(evaluateHealth(state({ slots: [{ ...slot, jobStartedAt: NOW - 500_000, jobWedgedAfterMs: 1_000 }] }), NOW).healthy).toBe(true);
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
    // The job's budget grew to 30 min: its slot is wedged only past that plus the margin, not the default 15 min.
    reporter.jobBudgetSet(1, 1_800);
    await reporter.flush();
    expect(await checkHealthFile(file, Date.now() + 1_000)).toMatchObject({ healthy: true });
    const written = JSON.parse(await readFile(file, 'utf8')) as HealthState;
    expect(written.slots[1]?.jobWedgedAfterMs).toBe(1_800_000 + DEFAULT_JOB_WEDGE_MARGIN_MS);
    // Ten minutes later nothing has rewritten the file: stale.
    expect((await checkHealthFile(file, Date.now() + 600_000)).healthy).toBe(false);
    await reporter.modelLoadFailed('corrupt file');
    expect(await checkHealthFile(file)).toMatchObject({ healthy: false, reason: expect.stringContaining('corrupt file') });
    await writeFile(file, '{"pid":');
    expect((await checkHealthFile(file)).healthy).toBe(false);
  });
});
