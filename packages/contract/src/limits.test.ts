// Issue 18 items 1 and 2: limits on the output (input × upscale², channels, memory) and on each format's largest side.
import { describe, expect, it } from 'vitest';
import { defaultJobMemoryMiB, DEFAULT_GPU_TASK_MEMORY_MIB, DEFAULT_MAX_OUTPUT_PIXELS, jobMemoryBudgetMiB, planOutput, workerEnvSchema } from './index.js';

const rgb = (width: number, height: number, format: 'jpeg' | 'png' | 'webp' = 'jpeg') => ({ width, height, hasAlpha: false, format });
const rgba = (width: number, height: number) => ({ width, height, hasAlpha: true, format: 'png' as const });

describe('planOutput: output pixels and working memory', () => {
  it('lets the 64 MP photo through at upscale 2, on a CPU task (1 job) and a GPU task (2 jobs)', () => {
    for (const jobMemoryMiB of [defaultJobMemoryMiB(1), jobMemoryBudgetMiB(DEFAULT_GPU_TASK_MEMORY_MIB, 2)]) {
      const plan = planOutput(rgb(8000, 8000), { upscale: 2, ext: 'auto' }, { jobMemoryMiB });
      expect(plan).toMatchObject({ ok: true, width: 16000, height: 16000, format: 'jpeg' });
    }
  });

  it('refuses the 8000×8000 RGBA bomb at upscale 4 with the output size, the upscale and the limit', () => {
    expect(planOutput(rgba(8000, 8000), { upscale: 4, ext: 'auto' })).toEqual({
      ok: false,
      code: 'IMAGE_TOO_LARGE',
      message:
        'The output would be 32000×32000 = 1,024,000,000 pixels (1024.0 MP: the 8000×8000 image at upscale 4); the limit is 256,000,000 pixels (256.0 MP). Ask for a smaller upscale.',
    });
  });

  it('refuses the grey bomb at upscale 4 (grey counts as RGB)', () => {
    expect(planOutput({ width: 8000, height: 8000, hasAlpha: false, format: 'png' }, { upscale: 4, ext: 'auto' })).toMatchObject({ ok: false, code: 'IMAGE_TOO_LARGE' });
  });

  it('accepts an output at exactly the limit and refuses one pixel over it, with exact counts', () => {
    // 16000×4000 = 64,000,000 at upscale 2 = 256,000,000: the limit. One more row is 4 × 16000 pixels more.
    expect(planOutput(rgb(16000, 4000), { upscale: 2, ext: 'png' })).toMatchObject({ ok: true, width: 32000, height: 8000 });
    const over = planOutput(rgb(1, 64_000_001), { upscale: 2, ext: 'png' }, { maxInputPixels: 1e9 });
    expect(over).toEqual({
      ok: false,
      code: 'IMAGE_TOO_LARGE',
      message:
        'The output would be 2×128000002 = 256,000,004 pixels (256.0 MP: the 1×64000001 image at upscale 2); the limit is 256,000,000 pixels (256.0 MP). Ask for a smaller upscale.',
    });
  });

  it('counts alpha: an RGBA photo that fits as RGB is refused for memory when a job may have 1536 MiB', () => {
    const limits = { jobMemoryMiB: 1536 };
    expect(planOutput(rgb(8000, 8000, 'png'), { upscale: 2, ext: 'jpg' }, limits)).toMatchObject({ ok: true });
    const refused = planOutput(rgba(8000, 8000), { upscale: 2, ext: 'auto' }, limits);
    expect(refused).toMatchObject({ ok: false, code: 'IMAGE_TOO_LARGE' });
    expect((refused as { message: string }).message).toBe(
      'The job would need about 2,442 MiB of working memory (the 8000×8000 image at upscale 2, RGBA, PNG output of 256,000,000 pixels); the limit is 1,536 MiB per job. Ask for a smaller upscale or send the photo without alpha.',
    );
  });
});

describe('planOutput: a background upsampler', () => {
  it('counts the model-scale intermediate: a ×4 model on the 64 MP photo at upscale 2 does not fit a CPU task', () => {
    const limits = { jobMemoryMiB: defaultJobMemoryMiB(1) };
    expect(planOutput(rgb(8000, 8000), { upscale: 2, ext: 'jpg' }, limits)).toMatchObject({ ok: true });
    // A ×2 model writes the output size directly: nothing more to hold.
    expect(planOutput(rgb(8000, 8000), { upscale: 2, ext: 'jpg', bgUpsamplerScale: 2 }, limits)).toMatchObject({ ok: true });
    // A ×4 model holds 32000² RGB (about 2.9 GiB) beside the output while it is resized down.
    expect(planOutput(rgb(8000, 8000), { upscale: 2, ext: 'jpg', bgUpsamplerScale: 4 }, limits)).toMatchObject({ ok: false, code: 'IMAGE_TOO_LARGE' });
  });
});

describe('planOutput: each format’s largest side', () => {
  it('an explicit webp that cannot hold 16384 pixels is OUTPUT_TOO_LARGE', () => {
    expect(planOutput(rgb(8192, 1024, 'webp'), { upscale: 2, ext: 'webp' })).toEqual({
      ok: false,
      code: 'OUTPUT_TOO_LARGE',
      message:
        'The output would be 16384×2048 (the 8192×1024 image at upscale 2); its width 16,384 is too large: WebP holds at most 16,383 pixels per side. Ask for ext "png" or "auto", or a smaller upscale.',
    });
  });

  it('ext auto on a WebP input falls back to PNG and says so', () => {
    expect(planOutput(rgb(8192, 1024, 'webp'), { upscale: 2, ext: 'auto' })).toMatchObject({
      ok: true,
      format: 'png',
      fallback: 'written as PNG: the output is 16384×2048 and WebP holds at most 16,383 pixels per side',
    });
  });

  it('JPEG holds 65500 pixels per side: 32750 at upscale 2 fits, 33000 does not', () => {
    expect(planOutput(rgb(32750, 400), { upscale: 2, ext: 'jpg' })).toMatchObject({ ok: true, format: 'jpeg' });
    expect(planOutput(rgb(33000, 400), { upscale: 2, ext: 'jpg' })).toMatchObject({ ok: false, code: 'OUTPUT_TOO_LARGE' });
    expect(planOutput(rgb(400, 33000), { upscale: 2, ext: 'auto' })).toMatchObject({ ok: true, format: 'png' });
  });
});

describe('worker environment', () => {
  it('reads the output and memory limits, with units, and refuses nonsense', () => {
    const base = { REVIVE_QUEUE_URL: 'http://localhost:4566/q', REVIVE_TABLE_NAME: 't', REVIVE_BUCKET_NAME: 'b' };
    expect(workerEnvSchema.parse(base)).toMatchObject({ REVIVE_MAX_OUTPUT_PIXELS: DEFAULT_MAX_OUTPUT_PIXELS });
    expect(workerEnvSchema.parse({ ...base, REVIVE_MAX_OUTPUT_PIXELS: '1000', REVIVE_JOB_MEMORY_MIB: '512' })).toMatchObject({ REVIVE_MAX_OUTPUT_PIXELS: 1000, REVIVE_JOB_MEMORY_MIB: 512 });
    expect(workerEnvSchema.safeParse({ ...base, REVIVE_JOB_MEMORY_MIB: 'lots' }).success).toBe(false);
  });
});
