// The scaling bench's simulator (bench/simulate.ts): the behaviour its figures rest on.
import { describe, expect, it } from 'vitest';
import type { AlarmSpec, ScalingSpec, StepPolicySpec } from '../bench/policy.js';
import { EXACT_CAPACITY_MAX_STEPS, exactCapacityBands, simulate, type WorkerModel } from '../bench/simulate.js';
import type { ScalingSettings } from '../src/scaling-signal/signal.js';

const SETTINGS: ScalingSettings = {
  options: {
    minTasks: 0,
    maxTasks: 5,
    concurrency: 1,
    defaultSecondsPerMessage: 30,
    drainSeconds: 60,
    rateMinutes: 5,
    scaleInMinutes: 3,
    idleMinutesToZero: 3,
    idleProtectionSeconds: 0,
    unknownWorkStartTasks: 4,
  },
  zeroPollSeconds: 2,
  workMixMinutes: 15,
  workCosts: { secondsPerFrame: 10, secondsPerOutputMegapixel: 5, secondsPerFace: 0 },
};
/** +1 task while SQS shows a waiting job (a fallback without the Lambda). */
const visibleAlarm: AlarmSpec = {
  id: 'visible',
  signal: { metrics: { v: { namespace: 'AWS/SQS', metricName: 'ApproximateNumberOfMessagesVisible', stat: 'Maximum', periodSeconds: 60 } }, expression: 'v', periodSeconds: 60 },
  threshold: 0,
  comparison: 'GreaterThanThreshold',
  evaluationPeriods: 1,
  datapointsToAlarm: 1,
  treatMissingData: 'notBreaching',
};
const fallback: StepPolicySpec = {
  kind: 'step',
  id: 'fallback',
  adjustmentType: 'ChangeInCapacity',
  cooldownSeconds: 180,
  cooldownAssumed: false,
  steps: [{ lower: 0, upper: Number.POSITIVE_INFINITY, adjustment: 1 }],
  alarms: [visibleAlarm],
};
const LAMBDA: ScalingSpec = { minCapacity: 0, maxCapacity: 5, signal: SETTINGS, policies: [] };
const FALLBACK_ONLY: ScalingSpec = { minCapacity: 0, maxCapacity: 5, policies: [fallback] };
const CPU: WorkerModel = { mode: 'cpu', secondsPerJob: 30, concurrency: 1, warmPoolSize: 0, idleProtectionSeconds: 0 };
/** The Lambda and the workers with a 60 s idle window. */
const WINDOW: ScalingSpec = { ...LAMBDA, signal: { ...SETTINGS, options: { ...SETTINGS.options, idleProtectionSeconds: 60 } } };
const CPU_WINDOW: WorkerModel = { ...CPU, idleProtectionSeconds: 60 };

describe('simulate', () => {
  it('the Lambda starts a task from zero within its poll, not at its next minute, and goes to zero after the quiet minutes', () => {
    const r = simulate(LAMBDA, CPU, [10], 3600);
    expect(r.unstarted).toBe(0);
    expect(r.launches).toBe(1);
    // Fargate's 60–90 s plus at most one 2 s poll.
    expect(r.firstStartSeconds).toBeLessThanOrEqual(92);
    expect(r.fromZeroWaitsSeconds).toEqual([r.firstStartSeconds]);
    expect(r.zeroActions).toBe(1);
    expect(r.zeroWithWork).toBe(0);
    expect(r.costMinutes).toBeLessThan(10);
  });

  it('with the Lambda out, nothing scales without a fallback; a fallback on SQS starts the fleet, one metric lag late', () => {
    const out = { signalOutages: [[0, 3600]] as const };
    expect(simulate(LAMBDA, CPU, [10], 3600, 1, out)).toMatchObject({ launches: 0, unstarted: 1 });
    const at = (metricLagSeconds: number) => simulate(FALLBACK_ONLY, CPU, [10], 3600, 1, { ...out, metricLagSeconds }).firstStartSeconds!;
    expect(at(120) - at(60)).toBeGreaterThanOrEqual(60 - 30); // Fargate's start time varies by 30 s
    expect(at(120) - at(60)).toBeLessThanOrEqual(60 + 30);
  });

  it('a missing point is missing: with every point lost, a fallback on SQS never fires', () => {
    const r = simulate(FALLBACK_ONLY, CPU, [0], 3600, 1, { missingPointRate: 0.999_999 });
    expect([r.launches, r.unstarted]).toEqual([0, 1]);
  });

  it('sizes the fleet on the declared work: short jobs ask for fewer tasks than the default would', () => {
    const burst = (seconds: number) => Array.from({ length: 40 }, () => ({ at: 0, seconds, estimatedSeconds: seconds }));
    // One task while the burst's work is not visible yet, then what the declared work asks for.
    const spec: ScalingSpec = { ...LAMBDA, signal: { ...SETTINGS, options: { ...SETTINGS.options, unknownWorkStartTasks: 1 } } };
    expect(simulate(spec, CPU, burst(30), 3600).peakTasks).toBe(5); // 1200 s over 60 s = 20 tasks: max 5
    expect(simulate(spec, CPU, burst(1), 3600).peakTasks).toBe(1); // 40 s of work
  });

  it('counts reversals of the desired count per hour', () => {
    // Two jobs half an hour apart in one simulated hour: up, down (to zero), up, down: three reversals.
    const r = simulate(LAMBDA, CPU, [0, 1800], 3600);
    expect([r.launches, r.zeroActions]).toEqual([2, 2]);
    expect(r.reversalsPerHour).toBeCloseTo(3, 9);
  });

  it('the last busy task holds its idle window: a job inside it is served without a start, and the fleet reaches zero a window after the last job', () => {
    const job = (at: number) => ({ at, seconds: 1 });
    // The first job ends between 70.8 s (poll at 10 s, a 60 s start, 0.8 s of work) and 103.2 s: its window holds the
    // task past 125 s, when the second job comes.
    const r = simulate(WINDOW, CPU_WINDOW, [job(10), job(125)], 3600);
    expect([r.launches, r.unstarted, r.zeroWithWork, r.zeroInSentMinute]).toEqual([1, 0, 0, 0]);
    expect(r.fromZeroWaitsSeconds).toHaveLength(1);
    expect(r.waitMaxSeconds).toBe(r.fromZeroWaitsSeconds[0]);
    // Billed from 10 s to a window after the second job (ends by 126.2 s), plus the stop: 3.0–3.3 min.
    expect(r.costMinutes).toBeGreaterThanOrEqual((125 + 60 - 10) / 60);
    expect(r.costMinutes).toBeLessThanOrEqual((127 + 60 + 1 - 10 + 10) / 60);
    // Without the window the Lambda waits for quiet minutes it sees a minute late: the task idles longer.
    expect(simulate(LAMBDA, CPU, [job(10), job(125)], 3600).costMinutes).toBeGreaterThan(r.costMinutes + 1);
  });

  it('counts a fleet reaching zero within 60 s of a send, not a decision that stops nothing', () => {
    const job = (at: number) => ({ at, seconds: 1 });
    // Two jobs, the second at 105 s on the task the first started (it ran 70.8–101.2 s). The Lambda takes the desired
    // count to zero at its 120 s run, on the empty queue; the task outlives its window (to 166–167 s): not counted.
    const jobs = [job(10), job(105)];
    const held = simulate(WINDOW, CPU_WINDOW, jobs, 3600);
    expect([held.launches, held.zeroActions, held.zeroInSentMinute]).toEqual([1, 1, 0]);
    // Without the task's side of it, the same decision stops the task at 120 s, 15 s after the send: counted.
    const bare = simulate(WINDOW, CPU, jobs, 3600);
    expect([bare.launches, bare.zeroActions, bare.zeroInSentMinute]).toEqual([1, 1, 1]);
  });

  it('ExactCapacity bands: at most 20 steps, every count up to 5, and max itself', () => {
    for (const max of [4, 50, 1000]) {
      const bands = exactCapacityBands(max);
      expect(bands.length).toBeLessThanOrEqual(EXACT_CAPACITY_MAX_STEPS);
      expect(bands.at(-1)).toBe(max);
      expect(bands.slice(0, Math.min(max, 5))).toEqual(Array.from({ length: Math.min(max, 5) }, (_, i) => i + 1));
    }
  });
});
