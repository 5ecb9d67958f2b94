import { describe, expect, it } from 'vitest';
import { DEFAULT_FACES_PER_FRAME, DEFAULT_PHOTO_WORK, DEFAULT_WORK_COSTS, estimateWorkSeconds, photoWorkEstimate, workEstimateSchema, workUnits } from './work.js';

describe('work estimates', () => {
  it('a photo from its header: one frame, output pixels at upscale², faces left unknown', () => {
    const work = photoWorkEstimate(4000, 3000, 2);
    expect(work).toEqual({ frames: 1, pixelsPerFrame: 12_000_000, outputPixelsPerFrame: 48_000_000 });
    expect(workEstimateSchema.parse(work)).toEqual(work);
  });

  it('counts frames, output megapixels and faces (the default per frame where no detector has seen it)', () => {
    expect(workUnits({ frames: 1, pixelsPerFrame: 1_000_000, outputPixelsPerFrame: 4_000_000 })).toEqual({ frames: 1, outputMegapixels: 4, faces: DEFAULT_FACES_PER_FRAME });
    expect(workUnits({ frames: 1500, pixelsPerFrame: 2_000_000, facesPerFrame: 0.5 })).toEqual({ frames: 1500, outputMegapixels: 3000, faces: 750 });
  });

  it('costs more seconds for bigger outputs, more faces and more frames, at each mode\'s costs', () => {
    for (const mode of ['cpu', 'gpu'] as const) {
      const costs = DEFAULT_WORK_COSTS[mode];
      const photo = estimateWorkSeconds(DEFAULT_PHOTO_WORK, costs);
      expect(estimateWorkSeconds(undefined, costs)).toBe(photo);
      expect(estimateWorkSeconds(photoWorkEstimate(4000, 3000, 2), costs)).toBeGreaterThan(photo);
      expect(estimateWorkSeconds({ ...DEFAULT_PHOTO_WORK, facesPerFrame: 5 }, costs)).toBeGreaterThan(photo);
      // A one-minute segment at 25 fps is 1500 frames: far more than a photo, not 1× a photo.
      expect(estimateWorkSeconds({ frames: 1500, pixelsPerFrame: 921_600, outputPixelsPerFrame: 921_600, facesPerFrame: 1 }, costs)).toBeGreaterThan(1000 * photo);
    }
    // The default photo at the measured CPU costs: 0.3 s per photo + 4 output MP × 0.036 s + one face × 1.9 s (the
    // infra's CPU secondsPerJob is this, rounded to 2.34 s); on GPU the 3.5 s estimate.
    expect(estimateWorkSeconds(DEFAULT_PHOTO_WORK, DEFAULT_WORK_COSTS.cpu)).toBeCloseTo(2.344, 9);
    expect(estimateWorkSeconds(DEFAULT_PHOTO_WORK, DEFAULT_WORK_COSTS.gpu)).toBeCloseTo(3.5, 9);
  });
});
