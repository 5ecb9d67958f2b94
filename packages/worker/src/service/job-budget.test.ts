import { DEFAULT_JOB_TIMEOUT_PER_FACE_SECONDS, DEFAULT_JOB_TIMEOUT_PER_MEGAPIXEL_SECONDS, DEFAULT_JOB_TIMEOUT_SECONDS } from '@revive/contract';
import { PermanentError } from '@revive/pipeline/errors';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { JobDeadline, jobBudget, PARENT_BUDGET_PER_1000_FRAMES_SECONDS, PARENT_BUDGET_PER_CHILD_SECONDS, PARENT_BUDGET_PER_GIB_SECONDS } from './job-budget.js';

describe('jobBudget', () => {
  it('is the base alone before the faces are found', () => {
    expect(jobBudget({ baseSeconds: 30 }).seconds).toBe(30);
    expect(jobBudget({}).seconds).toBe(DEFAULT_JOB_TIMEOUT_SECONDS);
  });

  it('adds a share per face to restore and per megapixel of output', () => {
    const settings = { baseSeconds: 60, perFaceSeconds: 5, perMegapixelSeconds: 0.5 };
    expect(jobBudget(settings, { faces: 0, outputPixels: 0 }).seconds).toBe(60);
    expect(jobBudget(settings, { faces: 4, outputPixels: 0 }).seconds).toBe(80);
    expect(jobBudget(settings, { faces: 0, outputPixels: 48_000_000 }).seconds).toBe(84);
    expect(jobBudget(settings, { faces: 4, outputPixels: 48_000_000 }).seconds).toBe(104);
  });

  it('uses the contract defaults: a 12 MP photo at upscale 2 with 3 faces gets base + 3 faces + 48 MP', () => {
    const seconds = jobBudget({}, { faces: 3, outputPixels: 48_000_000 }).seconds;
    expect(seconds).toBe(DEFAULT_JOB_TIMEOUT_SECONDS + 3 * DEFAULT_JOB_TIMEOUT_PER_FACE_SECONDS + 48 * DEFAULT_JOB_TIMEOUT_PER_MEGAPIXEL_SECONDS);
    // More faces, more time: the 340-face photo is not held to a one-face photo's budget.
    expect(jobBudget({}, { faces: 50, outputPixels: 48_000_000 }).seconds).toBeGreaterThan(seconds);
  });

  it('explains how the budget was made up', () => {
    expect(jobBudget({ baseSeconds: 60, perFaceSeconds: 5, perMegapixelSeconds: 0.5 }, { faces: 2, outputPixels: 3_000_000 }).explanation).toBe(
      '60 s + 5 s × 2 face(s) + 0.5 s × 3 MP of output (REVIVE_JOB_TIMEOUT_SECONDS, _PER_FACE_SECONDS, _PER_MEGAPIXEL_SECONDS)',
    );
  });
});

describe('jobBudget of a parent (a video planner or finisher, an album ZIP)', () => {
  it('grows with the bytes it moves, the frames it muxes and the children it handles', () => {
    const base = 120;
    expect(jobBudget({ baseSeconds: base }, {}).seconds).toBe(base);
    expect(jobBudget({ baseSeconds: base }, { bytes: 2 * 2 ** 30 }).seconds).toBe(base + 2 * PARENT_BUDGET_PER_GIB_SECONDS);
    expect(jobBudget({ baseSeconds: base }, { frames: 36_000 }).seconds).toBe(base + 36 * PARENT_BUDGET_PER_1000_FRAMES_SECONDS);
    expect(jobBudget({ baseSeconds: base }, { children: 500 }).seconds).toBe(base + 500 * PARENT_BUDGET_PER_CHILD_SECONDS);
    expect(jobBudget({ baseSeconds: base }, { bytes: 2 ** 30, frames: 1000, children: 10 }).explanation).toContain('1 GiB');
  });

  it('lets a large video finisher run past the base budget that a photo without faces gets', () => {
    const deadline = new JobDeadline({ baseSeconds: 120 });
    vi.useFakeTimers();
    try {
      deadline.start();
      deadline.detected({ bytes: 2 ** 30, frames: 18_000, children: 60 });
      vi.advanceTimersByTime(120_000 + PARENT_BUDGET_PER_GIB_SECONDS * 1000);
      expect(deadline.signal.aborted).toBe(false);
      vi.advanceTimersByTime((18 * PARENT_BUDGET_PER_1000_FRAMES_SECONDS + 60 * PARENT_BUDGET_PER_CHILD_SECONDS) * 1000);
      expect(deadline.signal.aborted).toBe(true);
    } finally {
      deadline.clear();
      vi.useRealTimers();
    }
  });
});

describe('JobDeadline', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('runs the base from start(), then the whole budget from the same start once the faces are found', () => {
    const deadline = new JobDeadline({ baseSeconds: 10, perFaceSeconds: 5, perMegapixelSeconds: 0 });
    deadline.start();
    vi.advanceTimersByTime(8_000);
    deadline.detected({ faces: 2, outputPixels: 1_000_000 });
    // Budget 20 s from the start: 8 s have gone, so it ends 12 s later, not 20.
    vi.advanceTimersByTime(11_000);
    expect(deadline.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1_000);
    expect(deadline.signal.aborted).toBe(true);
    expect(deadline.signal.reason).toBeInstanceOf(PermanentError);
    expect(deadline.signal.reason).toMatchObject({ code: 'JOB_TIMEOUT', message: expect.stringContaining('budget of 20 s (10 s + 5 s × 2 face(s)') });
  });

  it('ends at the base when the faces are never found (a decode that hangs)', () => {
    const deadline = new JobDeadline({ baseSeconds: 10 });
    deadline.start();
    deadline.start();
    vi.advanceTimersByTime(9_999);
    expect(deadline.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect(deadline.signal.reason).toMatchObject({ code: 'JOB_TIMEOUT', message: expect.stringContaining('budget of 10 s') });
  });

  it('does not run before start() (the job waits for a thread), and stops at clear()', () => {
    const deadline = new JobDeadline({ baseSeconds: 1 });
    deadline.detected({ faces: 1, outputPixels: 1 });
    vi.advanceTimersByTime(60_000);
    expect(deadline.signal.aborted).toBe(false);
    deadline.start();
    deadline.clear();
    vi.advanceTimersByTime(60_000);
    expect(deadline.signal.aborted).toBe(false);
  });
});
