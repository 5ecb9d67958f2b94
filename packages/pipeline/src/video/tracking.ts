// Faces that hold still: detection jitters by a pixel or two from frame to frame, and a restored face pasted with a
// jittering alignment shimmers. Faces are followed across frames (box overlap) and each track's landmarks go through a
// One-Euro filter (Casiez, Roussel & Vogel, CHI 2012): heavy smoothing while a face holds still, little lag while it
// moves. Coordinates are filtered in units of the face's size, so the same settings fit a small and a large face.
import { applyAffine, estimateSimilarity, invertAffine, templateForSize } from '../align.js';
import type { DetectedFace, Landmarks5, Point } from '../types.js';

/** Cut-off while still, in Hz: below the detector's frame-to-frame noise, above a head's slow drift. @default 1 */
export const DEFAULT_SMOOTHING_MIN_CUTOFF_HZ = 1;
/**
 * How fast the cut-off rises with speed, in Hz per face-size per second: a face panning one face-width a second is
 * followed at ≈ 3 Hz (≈ 1/20 s of lag). On a still face
 * with noise (test/video.test.ts) 1 Hz and 2 keep ≈ 0.25 of the raw jitter; 5 kept 0.33. @default 2
 */
export const DEFAULT_SMOOTHING_BETA = 2;
/** Cut-off of the speed estimate, in Hz (the paper's). @default 1 */
export const DEFAULT_SMOOTHING_DERIVATIVE_CUTOFF_HZ = 1;
/** Box overlap (IoU) above which a detection continues a track. @default 0.3 */
export const DEFAULT_TRACK_MIN_IOU = 0.3;
/** Frames a track outlives its face (a missed detection, a hand in front) before it is dropped. @default 5 */
export const DEFAULT_TRACK_MAX_MISSED_FRAMES = 5;
/**
 * Frames decoded before a segment only to warm its filters, so smoothing runs on across segment boundaries: at 30 fps,
 * 1 s, five time constants of the 1 Hz cut-off. @default 30
 */
export const DEFAULT_WARMUP_FRAMES = 30;

export interface SmoothingOptions {
  /** @default DEFAULT_SMOOTHING_MIN_CUTOFF_HZ */
  readonly minCutoffHz?: number;
  /** @default DEFAULT_SMOOTHING_BETA */
  readonly beta?: number;
  /** @default DEFAULT_SMOOTHING_DERIVATIVE_CUTOFF_HZ */
  readonly derivativeCutoffHz?: number;
  /** @default DEFAULT_TRACK_MIN_IOU */
  readonly minIou?: number;
  /** @default DEFAULT_TRACK_MAX_MISSED_FRAMES */
  readonly maxMissedFrames?: number;
}

const alpha = (cutoffHz: number, dtSeconds: number) => 1 / (1 + 1 / (2 * Math.PI * cutoffHz * dtSeconds));

/** One-Euro filter of one value. */
export class OneEuroFilter {
  private value: number | undefined;
  private derivative = 0;
  constructor(
    private readonly minCutoffHz: number,
    private readonly beta: number,
    private readonly derivativeCutoffHz: number,
  ) {}

  filter(x: number, dtSeconds: number): number {
    if (this.value === undefined || dtSeconds <= 0) {
      this.value ??= x;
      return this.value;
    }
    const rawDerivative = (x - this.value) / dtSeconds;
    this.derivative += alpha(this.derivativeCutoffHz, dtSeconds) * (rawDerivative - this.derivative);
    const cutoff = this.minCutoffHz + this.beta * Math.abs(this.derivative);
    this.value += alpha(cutoff, dtSeconds) * (x - this.value);
    return this.value;
  }
}

function iou(a: DetectedFace['box'], b: DetectedFace['box']): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const area = (r: DetectedFace['box']) => (r[2] - r[0]) * (r[3] - r[1]);
  return inter / (area(a) + area(b) - inter);
}

interface Track {
  face: DetectedFace;
  missed: number;
  /** 10 landmark coordinates, then the 4 box coordinates. */
  readonly filters: OneEuroFilter[];
}

/**
 * Follows faces across a video's frames and smooths each one's landmarks and box. `update` takes one frame's
 * detections in display order and returns them smoothed, in the detector's order; a detection that starts a track is
 * returned as it is.
 */
export class FaceTracker {
  private tracks: Track[] = [];
  private lastSeconds: number | undefined;
  private readonly options: Required<SmoothingOptions>;

  constructor(options: SmoothingOptions = {}) {
    this.options = {
      minCutoffHz: options.minCutoffHz ?? DEFAULT_SMOOTHING_MIN_CUTOFF_HZ,
      beta: options.beta ?? DEFAULT_SMOOTHING_BETA,
      derivativeCutoffHz: options.derivativeCutoffHz ?? DEFAULT_SMOOTHING_DERIVATIVE_CUTOFF_HZ,
      minIou: options.minIou ?? DEFAULT_TRACK_MIN_IOU,
      maxMissedFrames: options.maxMissedFrames ?? DEFAULT_TRACK_MAX_MISSED_FRAMES,
    };
  }

  /** `timeSeconds`: the frame's presentation time (a variable-rate video's gaps weigh as they last). */
  update(faces: readonly DetectedFace[], timeSeconds: number): DetectedFace[] {
    const dt = this.lastSeconds === undefined ? 0 : timeSeconds - this.lastSeconds;
    this.lastSeconds = timeSeconds;
    // Greedy matching, best overlap first: faces in one frame rarely overlap, so greedy equals optimal in practice.
    const pairs: { track: number; face: number; overlap: number }[] = [];
    this.tracks.forEach((track, t) =>
      faces.forEach((face, f) => {
        const overlap = iou(track.face.box, face.box);
        if (overlap >= this.options.minIou) pairs.push({ track: t, face: f, overlap });
      }),
    );
    pairs.sort((a, b) => b.overlap - a.overlap);
    const trackOf = new Map<number, Track>();
    const taken = new Set<number>();
    for (const pair of pairs) {
      if (taken.has(pair.track) || trackOf.has(pair.face)) continue;
      taken.add(pair.track);
      trackOf.set(pair.face, this.tracks[pair.track] as Track);
    }
    const kept = this.tracks.filter((track, t) => taken.has(t) || ++track.missed <= this.options.maxMissedFrames);
    const out = faces.map((face, f) => {
      const track = trackOf.get(f);
      if (!track) {
        const fresh: Track = { face, missed: 0, filters: this.newFilters() };
        this.smooth(fresh, face, 0);
        kept.push(fresh);
        return face;
      }
      track.missed = 0;
      track.face = this.smooth(track, face, dt);
      return track.face;
    });
    this.tracks = kept;
    return out;
  }

  private newFilters(): OneEuroFilter[] {
    const { minCutoffHz, beta, derivativeCutoffHz } = this.options;
    return Array.from({ length: 14 }, () => new OneEuroFilter(minCutoffHz, beta, derivativeCutoffHz));
  }

  private smooth(track: Track, face: DetectedFace, dt: number): DetectedFace {
    const [x1, y1, x2, y2] = face.box;
    // The unit is the track's smoothed size (its last output), not this detection's: a jittering size would
    // otherwise scale the filtered values and bring the jitter back.
    const [u1, v1, u2, v2] = track.face.box;
    const size = Math.max(1, Math.hypot(u2 - u1, v2 - v1));
    const f = (i: number, v: number) => (track.filters[i] as OneEuroFilter).filter(v / size, dt) * size;
    const landmarks = face.landmarks.map(([x, y], i) => [f(2 * i, x), f(2 * i + 1, y)] as const) as unknown as Landmarks5;
    return { ...face, landmarks, box: [f(10, x1), f(11, y1), f(12, x2), f(13, y2)] };
  }
}

/**
 * Jitter of the alignment transform over a sequence of one face's landmarks: the root mean square, over consecutive
 * frames, of how far the aligned crop's corners move in the frame (pixels). A still face should give 0.
 */
export function alignmentJitterPx(landmarksPerFrame: readonly Landmarks5[], cropSize = 512): number {
  const template = templateForSize(cropSize);
  const corners: Point[] = [
    [0, 0],
    [cropSize, 0],
    [0, cropSize],
    [cropSize, cropSize],
  ];
  const placed = landmarksPerFrame.map((landmarks) => {
    const toFrame = invertAffine(estimateSimilarity(landmarks, template));
    return corners.map((corner) => applyAffine(toFrame, corner));
  });
  let sum = 0;
  let count = 0;
  for (let i = 1; i < placed.length; i++) {
    const a = placed[i - 1] as Point[];
    const b = placed[i] as Point[];
    a.forEach(([x, y], c) => {
      const [u, v] = b[c] as Point;
      sum += (u - x) ** 2 + (v - y) ** 2;
      count++;
    });
  }
  return count === 0 ? 0 : Math.sqrt(sum / count);
}
