// The upscaled background of a photo is kept once the photo is encoded, and the next photo's upscale writes into it
// (pipeline.ts SPARE_OUTPUT_MAX_BYTES): nothing of the photo before may show through in the next one, whether
// where the upscale computes pixels or where it leaves them to the paste (the opaque inside of the faces).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImage } from '../src/image.js';
import { RestorationPipeline } from '../src/pipeline.js';
import { maxColourDistance, psnr } from '../src/testing/metrics.js';
import { writeIdentityRestorer } from '../src/testing/models.js';
import { sharedDir } from '../src/testing/shared-dir.js';

let dir: string;
let pipeline: RestorationPipeline;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-reuse-'));
  pipeline = await RestorationPipeline.create({ modelsDir: path.join(sharedDir(), 'models'), restorer: await writeIdentityRestorer(dir), download: false, threads: 1 });
}, 120_000);

afterAll(async () => {
  await pipeline?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const whole = (name: string): Promise<Buffer> => readFile(path.join(sharedDir(), 'photos', 'whole', name));

describe('the background kept between photos', () => {
  it('restores a photo into the background of a larger one before it as it does into a new one', async () => {
    const small = await whole('blurry_face.jpg');
    const large = await whole('Blake_Lively.jpg');
    const restore = async (input: Buffer) => {
      const result = await pipeline.process(input, { upscale: 2, ext: 'png' });
      expect(result.faces.length).toBeGreaterThan(0);
      return (await readImage(result.image, { maxPixels: 1e8 })).rgb;
    };
    // The first into a new buffer; then a larger photo, whose background is kept; then the first again, into it.
    const first = await restore(small);
    const between = await restore(large);
    const again = await restore(small);
    expect(again.width * again.height).toBeLessThan(between.width * between.height);
    // Another photo's pixels showing through would be tens of levels off; the same computation gives the same bytes.
    expect(maxColourDistance(again, first)).toBeLessThanOrEqual(1);
    expect(psnr(again, first)).toBeGreaterThanOrEqual(60);
  }, 120_000);
});
