import { describe, expect, it } from 'vitest';
import { SCALE_IN_MAX_BUSY_SHARE, scalingSignal, type ScalingSnapshot } from './signal.js';

const at = (s: Partial<ScalingSnapshot>, jobsPerTask = 2, concurrency = 1) =>
  scalingSignal({ visible: 0, inFlight: 0, desired: 0, running: 0, pending: 0, ...s }, { jobsPerTask, concurrency });

describe('scalingSignal', () => {
  it('the deficit is CEIL(waiting + running jobs / jobsPerTask) minus the desired count', () => {
    expect(at({ visible: 1 }).taskDeficit).toBe(1); // from zero
    expect(at({ visible: 500, desired: 1, running: 1 }, 8).taskDeficit).toBe(Math.ceil(500 / 8) - 1);
    expect(at({ visible: 3, inFlight: 4, desired: 2, running: 2 }, 2).taskDeficit).toBe(2);
    // Busy workers hold the queue empty: in-flight jobs keep the count.
    expect(at({ inFlight: 30, desired: 15, running: 15 }, 2).taskDeficit).toBe(0);
  });

  it('the desired count is what it is: a service with tasks desired but none yet running is not short of tasks', () => {
    expect(at({ visible: 10, desired: 5, running: 0, pending: 5 }, 2).taskDeficit).toBe(0);
  });

  it('dead band: busy tasks are never a surplus, however few tasks jobsPerTask would allow', () => {
    // CPU: 20 tasks, each running its one job, nothing waiting: the work asks for 10, but none is idle.
    const busy = at({ inFlight: 20, desired: 20, running: 20 }, 2, 1);
    expect(busy.taskDeficit).toBe(-10);
    expect(busy).toMatchObject({ idleTasks: 0, idleSurplus: 0 });
    // Two idle of 20 is the noise of Poisson arrivals at 90 % busy: nothing goes.
    expect(at({ inFlight: 18, desired: 20, running: 20 }, 2, 1)).toMatchObject({ idleTasks: 2, idleSurplus: 0 });
    // Six idle: the running jobs would fill 14 / 18 = 78 % ≤ 80 % of 18 tasks, so two go, not six.
    expect(at({ inFlight: 14, desired: 20, running: 20 }, 2, 1)).toMatchObject({ idleTasks: 6, idleSurplus: 2 });
    expect(14 / (20 - 2)).toBeLessThanOrEqual(SCALE_IN_MAX_BUSY_SHARE);
    expect(14 / (20 - 3)).toBeGreaterThan(SCALE_IN_MAX_BUSY_SHARE);
    // The work's own ask still bounds it (ceil(14 / 1) = 14 tasks with jobsPerTask 1).
    expect(at({ inFlight: 4, desired: 8, running: 8 }, 1, 1).idleSurplus).toBe(3);
    expect(at({ inFlight: 6, desired: 8, running: 8 }, 3, 1).idleSurplus).toBe(0);
    // GPU (2 jobs a task): one job on one of two tasks fills a quarter of the slots; one task may go.
    expect(at({ inFlight: 1, desired: 2, running: 2 }, 100, 2)).toMatchObject({ idleTasks: 1, idleSurplus: 1 });
    expect(at({ inFlight: 2, desired: 2, running: 2 }, 100, 2).idleSurplus).toBe(0);
  });

  it('idle counts whole tasks of free slots (concurrency), and nothing is idle while a job waits', () => {
    expect(at({ inFlight: 3, desired: 4, running: 4 }, 8, 2).idleTasks).toBe(2);
    expect(at({ visible: 1, inFlight: 0, desired: 4, running: 4 }, 8, 2)).toMatchObject({ idleTasks: 0, idleSurplus: 0 });
  });

  it('scale-in keeps the last task; quiet is 1 only with tasks desired and no job at all', () => {
    expect(at({ desired: 1, running: 1 })).toMatchObject({ idleTasks: 1, idleSurplus: 0, quiet: 1 });
    expect(at({ desired: 3, running: 3 })).toMatchObject({ idleSurplus: 2, quiet: 1 });
    expect(at({ desired: 1, running: 1, inFlight: 1 }).quiet).toBe(0);
    expect(at({ desired: 1, running: 1, visible: 1 }).quiet).toBe(0);
    expect(at({}).quiet).toBe(0); // already at zero: nothing to do
  });

  it('refuses counts that are not whole numbers ≥ 0 (no point beats a wrong one)', () => {
    expect(() => at({ desired: -1 })).toThrow(RangeError);
    expect(() => at({ visible: Number.NaN })).toThrow(RangeError);
    expect(() => at({}, 0)).toThrow(RangeError);
  });
});
