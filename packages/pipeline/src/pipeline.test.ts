import { describe, expect, it } from 'vitest';
import { largestFaces } from './pipeline.js';
import type { DetectedFace, Landmarks5 } from './types.js';

const LANDMARKS: Landmarks5 = [[0, 0], [0, 0], [0, 0], [0, 0], [0, 0]];
const face = (x: number, side: number, score = 0.9): DetectedFace => ({ box: [x, 10, x + side, 10 + side], score, landmarks: LANDMARKS });

describe('largestFaces', () => {
  it('keeps the N largest boxes by area, in the detector\'s order', () => {
    const faces = [face(0, 20), face(100, 60), face(200, 10), face(300, 45), face(400, 30)];
    expect(largestFaces(faces, 2)).toEqual([faces[1], faces[3]]);
    expect(largestFaces(faces, 3)).toEqual([faces[1], faces[3], faces[4]]);
  });

  it('compares area, not width: a wide short box loses to a square of larger area', () => {
    const wide: DetectedFace = { box: [0, 0, 100, 10], score: 0.99, landmarks: LANDMARKS }; // 1000 px²
    const square = face(200, 40); // 1600 px²
    expect(largestFaces([wide, square], 1)).toEqual([square]);
  });

  it('breaks ties by score, then by order', () => {
    const a = face(0, 30, 0.8);
    const b = face(100, 30, 0.95);
    const c = face(200, 30, 0.8);
    expect(largestFaces([a, b, c], 1)).toEqual([b]);
    expect(largestFaces([a, b, c], 2)).toEqual([a, b]);
  });

  it('returns every face when there are no more than N, and none for N = 0', () => {
    const faces = [face(0, 20), face(100, 60)];
    expect(largestFaces(faces, 2)).toEqual(faces);
    expect(largestFaces(faces, 50)).toEqual(faces);
    expect(largestFaces(faces, 0)).toEqual([]);
    expect(largestFaces([], 3)).toEqual([]);
  });
});
