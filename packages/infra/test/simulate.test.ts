// The scaling bench's simulator (bench/simulate.ts): the behaviour its figures rest on.
import { SCALING_SIGNAL_METRICS, SCALING_SIGNAL_NAMESPACE } from '../src/scaling-signal/signal.js';
import { describe, expect, it } from 'vitest';
import type { AlarmSpec, ScalingSpec, StepPolicySpec } from '../bench/policy.js';
import { simulate, type WorkerModel } from '../bench/simulate.js';

const signalMetric = (field: keyof typeof SCALING_SIGNAL_METRICS) => ({
  [field]: { namespace: SCALING_SIGNAL_NAMESPACE, metricName: SCALING_SIGNAL_METRICS[field], stat: 'Maximum', periodSeconds: 60 },
});
const alarm = (id: string, field: keyof typeof SCALING_SIGNAL_METRICS, periods: number): AlarmSpec => ({
  id,
  signal: { metrics: signalMetric(field), expression: field, periodSeconds: 60 },
  threshold: 0,
  comparison: 'GreaterThanThreshold',
  evaluationPeriods: periods,
  datapointsToAlarm: periods,
  treatMissingData: 'notBreaching',
});
const policy = (id: string, adjustmentType: string, adjustment: number, a: AlarmSpec): StepPolicySpec => ({
  kind: 'step',
  id,
  adjustmentType,
  cooldownSeconds: 180,
  cooldownAssumed: false,
  steps: [{ lower: 0, upper: Number.POSITIVE_INFINITY, adjustment }],
  alarms: [a],
});
/** +1 task on a deficit, and ExactCapacity 0 after 3 quiet minutes. */
const SPEC: ScalingSpec = {
  minCapacity: 0,
  maxCapacity: 5,
  signal: { jobsPerTask: 1, concurrency: 1 },
  policies: [
    policy('out', 'ChangeInCapacity', 1, alarm('deficit', 'taskDeficit', 1)),
    policy('zero', 'ExactCapacity', 0, alarm('quiet', 'quiet', 3)),
  ],
};
const CPU: WorkerModel = { mode: 'cpu', secondsPerJob: 30, concurrency: 1, warmPoolSize: 0 };

describe('simulate', () => {
  it('applies an ExactCapacity 0 step: the service scales to zero after the quiet minutes, with no job in flight', () => {
    const r = simulate(SPEC, CPU, [0], 3600);
    expect(r.unstarted).toBe(0);
    expect(r.launches).toBe(1);
    expect(r.zeroActions).toBe(1);
    expect(r.zeroWithWork).toBe(0);
    // One task, from the first scale-out to the scale-to-zero: well under the hour simulated.
    expect(r.costMinutes).toBeLessThan(15);
  });

  it('a missing point is missing: with every point of the signal lost, nothing scales (and nothing reads as 0 tasks)', () => {
    const r = simulate(SPEC, CPU, [0], 3600, 1, { missingPointRate: 0.999_999 });
    expect([r.launches, r.zeroActions, r.unstarted]).toEqual([0, 0, 1]);
  });

  it('metric lag delays the first start by the lag', () => {
    const at = (metricLagSeconds: number) => simulate(SPEC, CPU, [0], 3600, 1, { metricLagSeconds }).firstStartSeconds!;
    expect(at(120) - at(60)).toBeGreaterThanOrEqual(60 - 30); // Fargate's start time varies by 30 s
    expect(at(120) - at(60)).toBeLessThanOrEqual(60 + 30);
  });

  it('counts reversals of the desired count per hour', () => {
    // Two jobs half an hour apart in one simulated hour: up, down (to zero), up, down: three reversals.
    const r = simulate(SPEC, CPU, [0, 1800], 3600);
    expect([r.launches, r.zeroActions]).toEqual([2, 2]);
    expect(r.reversalsPerHour).toBeCloseTo(3, 9);
  });
});
