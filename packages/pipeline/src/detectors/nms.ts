import type { RawDetection } from './family.js';

/** Intersection over union of two x1,y1,x2,y2 boxes (continuous coordinates, no +1). */
export function iou(a: readonly [number, number, number, number], b: readonly [number, number, number, number]): number {
  const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Greedy non-maximum suppression, as OpenCV's NMSBoxes and insightface's `nms` do: keep the best-scoring
 * detection, drop every other whose IoU with it exceeds `iouThreshold`, repeat. Returns survivors by score.
 */
export function nonMaximumSuppression<T extends RawDetection>(detections: readonly T[], iouThreshold: number): T[] {
  const sorted = [...detections].sort((a, b) => b.score - a.score);
  const kept: T[] = [];
  for (const candidate of sorted) {
    if (kept.every((k) => iou(k.box, candidate.box) <= iouThreshold)) kept.push(candidate);
  }
  return kept;
}
