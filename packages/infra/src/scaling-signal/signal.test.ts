import { describe, expect, it } from 'vitest';
import { MIN_IDLE_PROTECTION_SECONDS, SCALE_IN_DEAD_BAND_SHARE, SCALE_IN_MAX_BUSY_SHARE, scalingSignal, type ScalingHistory, type ScalingSignalOptions, type ScalingSnapshot, type SignalMinute } from './signal.js';

const OPTIONS: ScalingSignalOptions = {
  minTasks: 0,
  maxTasks: 50,
  concurrency: 1,
  defaultSecondsPerMessage: 60,
  drainSeconds: 120,
  rateMinutes: 5,
  scaleInMinutes: 5,
  idleMinutesToZero: 2,
  idleProtectionSeconds: 0,
  unknownWorkStartTasks: 4,
};
/** `n` complete minutes, each with these jobs and wanted tasks and `sent` messages. */
const minutes = (n: number, m: SignalMinute, sent = 0): Pick<ScalingHistory, 'minutes' | 'sent'> => ({
  minutes: Array.from({ length: n }, () => m),
  sent: Array.from({ length: n }, () => sent),
});
const KNOWN: ScalingHistory = { ...minutes(15, { jobs: 0, wantedTasks: 0 }), secondsPerMessage: 60 };
const at = (s: Partial<ScalingSnapshot>, history: ScalingHistory = KNOWN, o: Partial<ScalingSignalOptions> = {}) =>
  scalingSignal({ visible: 0, inFlight: 0, desired: 0, running: 0, pending: 0, ...s }, history, { ...OPTIONS, ...o });

describe('scalingSignal', () => {
  it('asks for the tasks that drain the work within drainSeconds, in seconds of work, not in jobs', () => {
    expect(at({ visible: 1 })).toMatchObject({ wantedTasks: 1, targetTasks: 1, reason: 'out' }); // from zero
    // 20 photos of 60 s: 1200 s of work over 120 s = 10 tasks.
    expect(at({ visible: 20 }).targetTasks).toBe(10);
    // The same 20 messages at 1.5 s each are 30 s of work: one task.
    expect(at({ visible: 20 }, { ...KNOWN, secondsPerMessage: 1.5 }).targetTasks).toBe(1);
    // 10-minute jobs: never more tasks than the jobs can occupy (two slots a task).
    expect(at({ visible: 6 }, { ...KNOWN, secondsPerMessage: 600 }, { concurrency: 2 }).targetTasks).toBe(3);
  });

  it('sets an absolute target: a deficit already being filled is not added twice', () => {
    // 10 wanted, 10 already desired but not yet running: nothing more.
    expect(at({ visible: 20, desired: 10, pending: 10 })).toMatchObject({ targetTasks: 10, reason: 'hold' });
    expect(at({ visible: 20, desired: 6, running: 6 }).targetTasks).toBe(10);
  });

  it('bounds the target by min and max', () => {
    expect(at({ visible: 5000 }).targetTasks).toBe(50);
    expect(at({ visible: 5000 }, KNOWN, { maxTasks: 7 }).targetTasks).toBe(7);
    expect(at({}, KNOWN, { minTasks: 2 }).targetTasks).toBe(2);
  });

  it('keeps up with the median minute of arrivals, so a burst is drained, not taken for a rate', () => {
    // 120 jobs a minute at 3.5 s: 7 tasks' throughput.
    const steady: ScalingHistory = { ...minutes(15, { jobs: 14, wantedTasks: 7 }, 120), secondsPerMessage: 3.5 };
    expect(at({ inFlight: 5, desired: 2, running: 2 }, steady, { drainSeconds: 645 }).targetTasks).toBe(7);
    // One minute of 500: the median minute is 0; the drain term sizes it.
    const burst: ScalingHistory = { minutes: steady.minutes, sent: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 500], secondsPerMessage: 3.5 };
    expect(at({ visible: 500 }, burst, { drainSeconds: 645 }).targetTasks).toBe(Math.ceil((500 * 3.5) / 645));
  });

  it('while the work of a burst into a quiet queue is not visible yet, starts no more than unknownWorkStartTasks', () => {
    const unknown: ScalingHistory = { ...minutes(15, { jobs: 0, wantedTasks: 0 }), secondsPerMessage: undefined };
    expect(at({ visible: 500 }, unknown).targetTasks).toBe(4);
    expect(at({ visible: 500, desired: 6, running: 6 }, unknown).targetTasks).toBe(6);
    // Sends visible but no declared work (older senders): the default counts, uncapped.
    const undeclared: ScalingHistory = { ...minutes(15, { jobs: 0, wantedTasks: 0 }, 10), secondsPerMessage: undefined };
    expect(at({ visible: 500 }, undeclared).targetTasks).toBe(50);
  });

  it('removes an idle surplus in one step, only after scaleInMinutes complete minutes that all wanted fewer', () => {
    const calm: ScalingHistory = { ...minutes(15, { jobs: 2, wantedTasks: 2 }, 2), secondsPerMessage: 60 };
    expect(at({ inFlight: 2, desired: 40, running: 40 }, calm)).toMatchObject({ targetTasks: 3, reason: 'in' });
    expect(2 / 3).toBeLessThanOrEqual(SCALE_IN_MAX_BUSY_SHARE);
    // One minute of the streak wanted 40: hold.
    const recent: ScalingHistory = { ...calm, minutes: [...calm.minutes.slice(0, 14), { jobs: 40, wantedTasks: 40 }] };
    expect(at({ inFlight: 2, desired: 40, running: 40 }, recent).reason).toBe('hold');
    // A missing minute (the Lambda did not publish) breaks the streak: nothing shrinks on missing data.
    const gap: ScalingHistory = { ...calm, minutes: [...calm.minutes.slice(0, 14), undefined] };
    expect(at({ inFlight: 2, desired: 40, running: 40 }, gap).reason).toBe('hold');
    // A surplus of one task in twenty is inside the dead band (a tenth of the fleet): hold.
    const nearly: ScalingHistory = { ...minutes(15, { jobs: 19, wantedTasks: 19 }, 19), secondsPerMessage: 60 };
    expect(at({ inFlight: 15, desired: 20, running: 20 }, nearly).reason).toBe('hold');
    expect(SCALE_IN_DEAD_BAND_SHARE * 20).toBeGreaterThan(1);
    // Nothing goes while a job waits.
    expect(at({ visible: 1, inFlight: 2, desired: 40, running: 40 }, calm).targetTasks).toBe(40);
  });

  it('dead band: busy tasks are never a surplus', () => {
    const calm: ScalingHistory = { ...minutes(15, { jobs: 0, wantedTasks: 1 }, 1), secondsPerMessage: 1 };
    // 20 tasks each running a job that the work estimate says is short: all 20 stay (and headroom above).
    expect(at({ inFlight: 20, desired: 20, running: 20 }, calm).targetTasks).toBe(20);
    expect(at({ inFlight: 14, desired: 20, running: 20 }, calm).targetTasks).toBe(Math.ceil(14 / SCALE_IN_MAX_BUSY_SHARE));
  });

  it('goes to zero only after idleMinutesToZero complete minutes with no job and no message sent', () => {
    expect(at({ desired: 1, running: 1 })).toMatchObject({ targetTasks: 0, reason: 'zero' });
    const sentLastMinute: ScalingHistory = { ...KNOWN, sent: [...KNOWN.sent.slice(0, 14), 1] };
    expect(at({ desired: 1, running: 1 }, sentLastMinute).targetTasks).toBe(1);
    const busyLastMinute: ScalingHistory = { ...KNOWN, minutes: [...KNOWN.minutes.slice(0, 14), { jobs: 1, wantedTasks: 1 }] };
    expect(at({ desired: 1, running: 1 }, busyLastMinute).targetTasks).toBe(1);
    const missing: ScalingHistory = { ...KNOWN, minutes: [...KNOWN.minutes.slice(0, 14), undefined] };
    expect(at({ desired: 1, running: 1 }, missing).targetTasks).toBe(1);
    // A job now (waiting or running) keeps the task, whatever the history says.
    expect(at({ desired: 1, running: 1, inFlight: 1 }).targetTasks).toBe(1);
    // A trickle's rate alone never brings the fleet back up.
    const trickle: ScalingHistory = { ...KNOWN, sent: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0] };
    expect(at({}, trickle).targetTasks).toBe(0);
  });

  it('with tasks that hold an idle window, takes a single task to zero on an empty queue, whatever the late points say', () => {
    const window = { idleProtectionSeconds: 60 };
    // A message sent in the last minute (the task that ran it holds its window), a job in the signal's last minute,
    // a minute the signal did not publish: none keeps the desired count once the queue is empty.
    const sentLastMinute: ScalingHistory = { ...KNOWN, sent: [...KNOWN.sent.slice(0, 14), 1] };
    expect(at({ desired: 1, running: 1 }, sentLastMinute, window)).toMatchObject({ targetTasks: 0, reason: 'zero' });
    const busyLastMinute: ScalingHistory = { ...KNOWN, minutes: [...KNOWN.minutes.slice(0, 14), { jobs: 1, wantedTasks: 1 }] };
    expect(at({ desired: 1, running: 1 }, busyLastMinute, window).targetTasks).toBe(0);
    expect(at({ desired: 1, running: 1 }, { ...KNOWN, minutes: [...KNOWN.minutes.slice(0, 14), undefined] }, window).targetTasks).toBe(0);
    // A job now, waiting or running, keeps it.
    expect(at({ desired: 1, running: 1, inFlight: 1 }, sentLastMinute, window).targetTasks).toBe(1);
    expect(at({ desired: 1, running: 1, visible: 1 }, sentLastMinute, window).targetTasks).toBe(1);
    // More than one task: an empty queue at one instant is no proof of a quiet fleet; the quiet minutes still rule
    // zero (here the scale-in streak leaves the last task, which goes at the next empty reading).
    expect(at({ desired: 3, running: 3 }, sentLastMinute, window)).toMatchObject({ targetTasks: 1, reason: 'in' });
    // minTasks still bounds it.
    expect(at({ desired: 1, running: 1 }, sentLastMinute, { ...window, minTasks: 1 }).targetTasks).toBe(1);
  });

  it('never goes to zero while a delayed message (a re-sent child) waits, though it is no work to size the fleet for', () => {
    const window = { idleProtectionSeconds: 60 };
    const sentLastMinute: ScalingHistory = { ...KNOWN, sent: [...KNOWN.sent.slice(0, 14), 1] };
    expect(at({ desired: 1, running: 1, delayed: 1 }, sentLastMinute, window)).toMatchObject({ targetTasks: 1, reason: 'hold', jobs: 0, workSeconds: 0 });
    expect(at({ desired: 1, running: 1, delayed: 0 }, sentLastMinute, window)).toMatchObject({ targetTasks: 0, reason: 'zero' });
    // Nor do the quiet minutes take the fleet to zero under it.
    expect(at({ desired: 1, running: 1, delayed: 1 }).targetTasks).toBe(1);
    // From zero, a delayed message starts nothing until it shows.
    expect(at({ delayed: 3 }).targetTasks).toBe(0);
    expect(() => at({ delayed: -1 })).toThrow(RangeError);
  });

  it('a window shorter than a minute does not take a single task to zero on an empty queue: the quiet minutes decide', () => {
    const sentLastMinute: ScalingHistory = { ...KNOWN, sent: [...KNOWN.sent.slice(0, 14), 1] };
    for (const idleProtectionSeconds of [1, 3, 20, MIN_IDLE_PROTECTION_SECONDS - 1]) {
      expect(at({ desired: 1, running: 1 }, sentLastMinute, { idleProtectionSeconds }).targetTasks).toBe(1);
    }
    expect(at({ desired: 1, running: 1 }, sentLastMinute, { idleProtectionSeconds: MIN_IDLE_PROTECTION_SECONDS }).targetTasks).toBe(0);
    // The quiet minutes still take it to zero with a short window.
    expect(at({ desired: 1, running: 1 }, KNOWN, { idleProtectionSeconds: 20 })).toMatchObject({ targetTasks: 0, reason: 'zero' });
  });

  it('refuses counts that are not whole numbers ≥ 0 (no action beats a wrong one)', () => {
    expect(() => at({ desired: -1 })).toThrow(RangeError);
    expect(() => at({ visible: Number.NaN })).toThrow(RangeError);
    expect(() => at({}, KNOWN, { concurrency: 0 })).toThrow(RangeError);
  });
});
