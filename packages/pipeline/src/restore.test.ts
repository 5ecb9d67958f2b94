import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError } from './errors.js';
import {
  CHANNEL_PROBE_GAINS,
  writeBatchMirrorRestorer,
  writeChannelProbeRestorer,
  writeCodeFormerLikeRestorer,
  writeIdentityRestorer,
  writeWrongRankRestorer,
} from './testing/models.js';
import { FaceRestorer, cropToTensor, tensorToCrop } from './restore.js';
import type { RgbImage } from './types.js';

const SIZE = 64;
let dir: string;

/** A crop where R, G and B follow different gradients, so any channel mix-up changes the numbers. */
function gradientCrop(size: number): RgbImage {
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = 3 * (y * size + x);
      data[i] = (x * 4) % 256;
      data[i + 1] = (y * 3 + 17) % 256;
      data[i + 2] = (x * 7 + y * 5 + 90) % 256;
    }
  }
  return { width: size, height: size, data };
}

function maxDiff(a: Uint8Array, b: Uint8Array | ((i: number) => number)): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const expected = typeof b === 'function' ? b(i) : b[i]!;
    max = Math.max(max, Math.abs(a[i]! - expected));
  }
  return max;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-restore-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('FaceRestorer', () => {
  it('reads the input size from the metadata and gives the crop back through the identity model', async () => {
    const restorer = await FaceRestorer.create(await writeIdentityRestorer(dir, { size: SIZE }), { threads: 1 });
    try {
      expect(restorer.inputSize).toBe(SIZE);
      expect(restorer.hasFidelityInput).toBe(false);
      const crop = gradientCrop(SIZE);
      const out = await restorer.restore(crop);
      expect(out.width).toBe(SIZE);
      expect(out.height).toBe(SIZE);
      expect(maxDiff(out.data, crop.data)).toBeLessThanOrEqual(1);
      // The session is reused: a second face through the same restorer.
      const again = await restorer.restore(crop);
      expect(maxDiff(again.data, crop.data)).toBeLessThanOrEqual(1);
    } finally {
      await restorer.dispose();
    }
  });

  it('feeds RGB and reads RGB back: the channel probe keeps R, inverts G and flattens B', async () => {
    const restorer = await FaceRestorer.create(await writeChannelProbeRestorer(dir, { size: SIZE }), { threads: 1 });
    try {
      const crop = gradientCrop(SIZE);
      const out = await restorer.restore(crop);
      // In 8-bit terms a gain g maps v to 127.5 + g·(v − 127.5).
      const expected = (i: number) => Math.round(127.5 + CHANNEL_PROBE_GAINS[i % 3]! * (crop.data[i]! - 127.5));
      expect(maxDiff(out.data, expected)).toBeLessThanOrEqual(1);
      // Sanity: the gradients differ per channel, so a swapped implementation could not pass by accident.
      const swapped = (i: number) => Math.round(127.5 + CHANNEL_PROBE_GAINS[2 - (i % 3)]! * (crop.data[i]! - 127.5));
      expect(maxDiff(out.data, swapped)).toBeGreaterThan(50);
    } finally {
      await restorer.dispose();
    }
  });

  it('blends the restored face with the original crop', async () => {
    const restorer = await FaceRestorer.create(await writeChannelProbeRestorer(dir, { size: SIZE }), { threads: 1 });
    try {
      const crop = gradientCrop(SIZE);
      const full = await restorer.restore(crop, { blend: 1 });
      const none = await restorer.restore(crop, { blend: 0 });
      const half = await restorer.restore(crop, { blend: 0.5 });
      expect(maxDiff(none.data, crop.data)).toBe(0);
      expect(maxDiff(half.data, (i) => (full.data[i]! + crop.data[i]!) / 2)).toBeLessThanOrEqual(1);
    } finally {
      await restorer.dispose();
    }
  });

  it('feeds a CodeFormer-style float64 weight input, and the weight changes the output', async () => {
    const restorer = await FaceRestorer.create(await writeCodeFormerLikeRestorer(dir, { size: SIZE }), { threads: 1 });
    try {
      expect(restorer.hasFidelityInput).toBe(true);
      const crop = gradientCrop(SIZE);
      const atOne = await restorer.restore(crop, { fidelity: 1 });
      expect(maxDiff(atOne.data, crop.data)).toBeLessThanOrEqual(1);
      const atQuarter = await restorer.restore(crop, { fidelity: 0.25 });
      expect(maxDiff(atQuarter.data, (i) => 127.5 + 0.25 * (crop.data[i]! - 127.5))).toBeLessThanOrEqual(1);
      expect(maxDiff(atQuarter.data, atOne.data)).toBeGreaterThan(50);
    } finally {
      await restorer.dispose();
    }
  });

  it('tells a symbolic batch dimension from a batch of 1, and restores a batch face by face as single runs do', async () => {
    const identity = await FaceRestorer.create(await writeIdentityRestorer(dir, { size: SIZE }), { threads: 1 });
    const mirror = await FaceRestorer.create(await writeBatchMirrorRestorer(dir, { size: SIZE }), { threads: 1 });
    try {
      expect([identity.batchable, mirror.batchable]).toEqual([false, true]);
      const crops = [gradientCrop(SIZE), { ...gradientCrop(SIZE), data: gradientCrop(SIZE).data.map((v) => 255 - v) }];
      const single = await Promise.all(crops.map((crop) => mirror.restore(crop)));
      const batched = await mirror.restoreBatch(crops.map(cropToTensor), 0.5);
      expect(batched).toHaveLength(2);
      batched.forEach((tensor, i) => expect(maxDiff(tensorToCrop(tensor, crops[i]!, 1).data, single[i]!.data)).toBe(0));
      // The mirror inverts and flips: pixel (x, y) of the output is 255 − pixel (S−1−x, y) of the input.
      const src = crops[0]!.data;
      expect(maxDiff(single[0]!.data, (i) => 255 - src[3 * (Math.floor(i / 3 / SIZE) * SIZE + (SIZE - 1 - (Math.floor(i / 3) % SIZE))) + (i % 3)]!)).toBeLessThanOrEqual(1);
      await expect(identity.restoreBatch(crops.map(cropToTensor), 0.5)).rejects.toMatchObject({ code: 'INTERNAL' });
    } finally {
      await Promise.all([identity.dispose(), mirror.dispose()]);
    }
  });

  it('fails at load with MODEL_INVALID naming the file when the input rank is wrong', async () => {
    const file = await writeWrongRankRestorer(dir, { size: SIZE });
    const error = await FaceRestorer.create(file, { threads: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ code: 'MODEL_INVALID' });
    expect((error as Error).message).toContain(file);
    expect((error as Error).message).toMatch(/rank 4/);
  });

  it('rejects a crop of the wrong size instead of feeding garbage', async () => {
    const restorer = await FaceRestorer.create(await writeIdentityRestorer(dir, { size: SIZE }), { threads: 1 });
    try {
      await expect(restorer.restore(gradientCrop(SIZE / 2))).rejects.toThrow(/64×64/);
    } finally {
      await restorer.dispose();
    }
  });
});
