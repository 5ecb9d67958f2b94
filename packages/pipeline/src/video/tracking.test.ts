import { describe, expect, it } from 'vitest';
import type { DetectedFace, Landmarks5 } from '../types.js';
import { alignmentJitterPx, FaceTracker, OneEuroFilter } from './tracking.js';

/** A face at (x, y), `size` px wide, with its landmarks where a frontal face has them. */
function face(x: number, y: number, size = 100): DetectedFace {
  const s = size / 100;
  const at = (dx: number, dy: number) => [x + dx * s, y + dy * s] as const;
  return { box: [x, y, x + size, y + size], score: 0.9, landmarks: [at(30, 40), at(70, 40), at(50, 60), at(35, 80), at(65, 80)] as unknown as Landmarks5 };
}

/** Deterministic noise in [-1, 1]. */
function noise(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return (state / 2 ** 31) * 2 - 1;
  };
}

describe('OneEuroFilter', () => {
  it('passes a constant through, damps noise around it, and follows a ramp with a small lag', () => {
    const constant = new OneEuroFilter(1, 2, 1);
    for (let i = 0; i < 10; i++) expect(constant.filter(5, 1 / 30)).toBe(5);

    const rand = noise(7);
    const noisy = new OneEuroFilter(1, 2, 1);
    let rawSq = 0;
    let outSq = 0;
    for (let i = 0; i < 300; i++) {
      const x = 0.02 * rand();
      const y = noisy.filter(x, 1 / 30);
      if (i > 30) {
        rawSq += x * x;
        outSq += y * y;
      }
    }
    expect(Math.sqrt(outSq / rawSq)).toBeLessThan(0.5);

    // One unit a second: the speed raises the cut-off, so the lag stays well under the still cut-off's 1/(2π) s.
    const ramp = new OneEuroFilter(1, 2, 1);
    let last = 0;
    for (let i = 0; i <= 90; i++) last = ramp.filter(i / 30, 1 / 30);
    expect(3 - last).toBeLessThan(0.12);
  });
});

describe('FaceTracker', () => {
  it('keeps each face on its own track when the detector lists them in another order', () => {
    const tracker = new FaceTracker();
    tracker.update([face(0, 0), face(300, 0)], 0);
    const [right, left] = tracker.update([face(302, 1), face(1, 1)], 1 / 30);
    // Smoothed towards each face's own history, not the other's.
    expect(right!.box[0]).toBeGreaterThan(299);
    expect(right!.box[0]).toBeLessThan(302);
    expect(left!.box[0]).toBeGreaterThanOrEqual(0);
    expect(left!.box[0]).toBeLessThan(1);
  });

  it('reduces the alignment jitter of a still face that the detector sees with noise', () => {
    const rand = noise(3);
    const tracker = new FaceTracker();
    const raw: Landmarks5[] = [];
    const smoothed: Landmarks5[] = [];
    for (let i = 0; i < 120; i++) {
      const detected = face(200 + 2 * rand(), 150 + 2 * rand(), 100 + 2 * rand());
      raw.push(detected.landmarks);
      smoothed.push(tracker.update([detected], i / 30)[0]!.landmarks);
    }
    expect(alignmentJitterPx(smoothed) / alignmentJitterPx(raw)).toBeLessThan(0.5);
    expect(alignmentJitterPx([face(10, 10).landmarks, face(10, 10).landmarks])).toBe(0);
  });

  it('starts a new track for a face that appears, unsmoothed', () => {
    const tracker = new FaceTracker();
    tracker.update([face(0, 0)], 0);
    const appeared = face(500, 500);
    expect(tracker.update([face(0, 0), appeared], 1 / 30)[1]).toEqual(appeared);
  });
});
