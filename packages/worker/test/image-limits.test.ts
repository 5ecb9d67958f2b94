// Issue 18 items 1 and 2, through the pipeline as `revive restore` and `revive serve` run it: a flat 8000×8000 RGBA
// PNG of a few hundred KB at upscale 4 drove the worker to 8.8 GB of RSS; an 8192×1024 WebP at upscale 2 failed in the
// encoder as INTERNAL. Both are now refused from the header, before any pixel is decoded.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError, readImageHeader, writeSolidImage, RestorationPipeline, type PipelineConfig } from '@revive/pipeline';
import { sharedDir, writeIdentityRestorer } from '@revive/pipeline/testing';
import { photosDir, readReport, runCli } from './restore-helpers.js';

const MiB = 2 ** 20;

async function refusal(work: Promise<unknown>): Promise<PermanentError> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PermanentError);
  return error as PermanentError;
}

/** Runs `work` and reports how far RSS rose above where it was, sampled every 5 ms while it ran. */
async function rssRise<T>(work: () => Promise<T>): Promise<{ result: PromiseSettledResult<T>; riseBytes: number }> {
  const before = process.memoryUsage.rss();
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5);
  const [result] = await Promise.allSettled([work()]);
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage.rss());
  return { result: result!, riseBytes: peak - before };
}

describe('size limits before decoding', () => {
  let dir: string;
  let restorer: string;
  const pipelines: RestorationPipeline[] = [];
  const create = async (config: PipelineConfig = {}) => {
    const pipeline = await RestorationPipeline.create({ modelsDir: path.join(sharedDir(), 'models'), restorer, download: false, ...config });
    pipelines.push(pipeline);
    return pipeline;
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'revive-limits-'));
    restorer = await writeIdentityRestorer(dir);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(pipelines.map((p) => p.dispose()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses the flat 8000×8000 RGBA PNG at upscale 4 from its header: IMAGE_TOO_LARGE, RSS does not move', async () => {
    const pipeline = await create();
    const bomb = await writeSolidImage(8000, 8000, 4, 'png');
    expect(bomb.length).toBeLessThan(2 * MiB);
    expect(await readImageHeader(bomb)).toMatchObject({ width: 8000, height: 8000, hasAlpha: true });
    const { result, riseBytes } = await rssRise(() => pipeline.process(bomb, { upscale: 4, ext: 'auto' }));
    expect(result.status).toBe('rejected');
    const error = (result as PromiseRejectedResult).reason as PermanentError;
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.code).toBe('IMAGE_TOO_LARGE');
    expect(error.message).toBe(
      'The output would be 32000×32000 = 1,024,000,000 pixels (1024.0 MP: the 8000×8000 image at upscale 4); the limit is 256,000,000 pixels (256.0 MP). Ask for a smaller upscale.',
    );
    // Decoding alone would take 8000×8000×4 bytes = 244 MiB (then 8 GiB for the job): the header check takes none.
    expect(riseBytes).toBeLessThan(64 * MiB);
  }, 60_000);

  it('refuses the grey bomb at upscale 4 the same way (grey is expanded to RGB, so it counts as RGB)', async () => {
    const pipeline = await create();
    const bomb = await writeSolidImage(8000, 8000, 1, 'png');
    expect(await readImageHeader(bomb)).toMatchObject({ isGrayscale: true, hasAlpha: false });
    const { result, riseBytes } = await rssRise(() => pipeline.process(bomb, { upscale: 4 }));
    expect((result as PromiseRejectedResult).reason).toMatchObject({ code: 'IMAGE_TOO_LARGE', message: expect.stringMatching(/^The output would be 32000×32000 = 1,024,000,000 pixels/) });
    expect(riseBytes).toBeLessThan(64 * MiB);
  }, 60_000);

  it('accepts a photo whose output is exactly the limit and refuses one pixel over it with the exact message', async () => {
    const bytes = await readFile(path.join(photosDir(), 'whole', 'Blake_Lively.jpg'));
    const { width, height } = await readImageHeader(bytes);
    const exact = width * 2 * height * 2;
    const atLimit = await create({ maxOutputPixels: exact });
    const result = await atLimit.process(bytes, { upscale: 2 });
    expect(result).toMatchObject({ width: width * 2, height: height * 2, format: 'jpeg' });
    const under = await create({ maxOutputPixels: exact - 1 });
    const error = await refusal(under.process(bytes, { upscale: 2 }));
    const n = (v: number) => v.toLocaleString('en-US');
    expect(error.code).toBe('IMAGE_TOO_LARGE');
    expect(error.message).toBe(
      `The output would be ${width * 2}×${height * 2} = ${n(exact)} pixels (${(exact / 1e6).toFixed(1)} MP: the ${width}×${height} image at upscale 2); the limit is ${n(exact - 1)} pixels (${((exact - 1) / 1e6).toFixed(1)} MP). Ask for a smaller upscale.`,
    );
  }, 120_000);

  it('counts alpha in the working memory: the same size passes as RGB and is refused as RGBA', async () => {
    // 2000×2000 at upscale 2: RGB with JPEG output needs 2000²×3 + 4000²×4 bytes ≈ 72 MiB; RGBA with PNG 2000²×8 + 4000²×8 ≈ 153 MiB.
    const pipeline = await create({ jobMemoryMiB: 100 });
    await expect(pipeline.process(await writeSolidImage(2000, 2000, 3, 'jpeg'), { upscale: 2 })).resolves.toMatchObject({ width: 4000, format: 'jpeg' });
    const error = await refusal(pipeline.process(await writeSolidImage(2000, 2000, 4, 'png'), { upscale: 2 }));
    expect(error.code).toBe('IMAGE_TOO_LARGE');
    expect(error.message).toBe(
      'The job would need about 153 MiB of working memory (the 2000×2000 image at upscale 2, RGBA, PNG output of 16,000,000 pixels); the limit is 100 MiB per job. Ask for a smaller upscale or send the photo without alpha.',
    );
  }, 60_000);
});

describe('format limits before encoding', () => {
  let dir: string;
  let pipeline: RestorationPipeline;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'revive-format-limits-'));
    pipeline = await RestorationPipeline.create({ modelsDir: path.join(sharedDir(), 'models'), restorer: await writeIdentityRestorer(dir), download: false });
  }, 120_000);

  afterAll(async () => {
    await pipeline?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('an 8192×1024 WebP at upscale 2 with ext webp is OUTPUT_TOO_LARGE, before decoding', async () => {
    const webp = await writeSolidImage(8192, 1024, 3, 'webp');
    const error = await refusal(pipeline.process(webp, { upscale: 2, ext: 'webp' }));
    expect(error.code).toBe('OUTPUT_TOO_LARGE');
    expect(error.message).toBe(
      'The output would be 16384×2048 (the 8192×1024 image at upscale 2); its width 16,384 is too large: WebP holds at most 16,383 pixels per side. Ask for ext "png" or "auto", or a smaller upscale.',
    );
  });

  it('the same WebP with ext auto is written as PNG, and the result says why', async () => {
    const result = await pipeline.process(await writeSolidImage(8192, 1024, 3, 'webp'), { upscale: 2, ext: 'auto' });
    expect(result).toMatchObject({ format: 'png', width: 16384, height: 2048 });
    expect(result.formatFallback).toBe('written as PNG: the output is 16384×2048 and WebP holds at most 16,383 pixels per side');
    expect((await readImageHeader(result.image)).format).toBe('png');
  }, 60_000);

  it('a 33000×400 JPEG at upscale 2 with ext jpg is OUTPUT_TOO_LARGE (JPEG holds 65500 per side)', async () => {
    const error = await refusal(pipeline.process(await writeSolidImage(33000, 400, 3, 'jpeg'), { upscale: 2, ext: 'jpg' }));
    expect(error.code).toBe('OUTPUT_TOO_LARGE');
    expect(error.message).toContain('its width 66,000 is too large: JPEG holds at most 65,500 pixels per side');
  });
});

describe('revive restore', () => {
  it('refuses the RGBA bomb at upscale 4 and writes the next photo; the reason is in report.json', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'revive-limits-cli-'));
    try {
      const inputs = path.join(dir, 'in');
      await mkdir(inputs);
      await writeFile(path.join(inputs, 'bomb.png'), await writeSolidImage(8000, 8000, 4, 'png'));
      await writeFile(path.join(inputs, 'small.jpg'), await writeSolidImage(64, 64, 3, 'jpeg'));
      const out = path.join(dir, 'out');
      const run = await runCli(['restore', inputs, '--output', out, '--restorer', await writeIdentityRestorer(dir), '--no-download', '-s', '4']);
      expect(run.exitCode).toBe(1);
      expect(run.stderr).toContain('IMAGE_TOO_LARGE: The output would be 32000×32000 = 1,024,000,000 pixels');
      const report = await readReport(out);
      expect(report.images.find((i) => i.input.endsWith('bomb.png'))).toMatchObject({ status: 'failed', error: { code: 'IMAGE_TOO_LARGE' } });
      expect(report.images.find((i) => i.input.endsWith('small.jpg'))).toMatchObject({ status: 'ok', width: 256, height: 256 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
