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
      const batched = await mirror.restoreBatch(crops.map((crop) => cropToTensor(crop)), 0.5);
      expect(batched).toHaveLength(2);
      batched.forEach((tensor, i) => expect(maxDiff(tensorToCrop(tensor, crops[i]!, 1).data, single[i]!.data)).toBe(0));
      // The mirror inverts and flips: pixel (x, y) of the output is 255 − pixel (S−1−x, y) of the input.
      const src = crops[0]!.data;
      expect(maxDiff(single[0]!.data, (i) => 255 - src[3 * (Math.floor(i / 3 / SIZE) * SIZE + (SIZE - 1 - (Math.floor(i / 3) % SIZE))) + (i % 3)]!)).toBeLessThanOrEqual(1);
      await expect(identity.restoreBatch(crops.map((crop) => cropToTensor(crop)), 0.5)).rejects.toMatchObject({ code: 'INTERNAL' });
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

/** The conversions as first written (GFPGAN's arithmetic, a plane at a time), the reference for the fast ones. */
function referenceCropToTensor(crop: RgbImage): Float32Array {
  const plane = crop.width * crop.height;
  const out = new Float32Array(plane * 3);
  for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) out[c * plane + i] = (crop.data[3 * i + c]! / 255 - 0.5) / 0.5;
  return out;
}
function referenceTensorToCrop(tensor: Float32Array, original: RgbImage, blend: number): Uint8Array {
  const plane = original.width * original.height;
  const out = new Uint8Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < plane; i++) {
      const v = tensor[c * plane + i]!;
      const restored = ((v < -1 ? -1 : v > 1 ? 1 : v) + 1) * 0.5 * 255;
      out[3 * i + c] = Math.round(restored * blend + original.data[3 * i + c]! * (1 - blend));
    }
  }
  return out;
}

/** A seeded generator (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The float32 at `index` in the ordered float32s of [-1, 1]: 0 is ±0, ±0x3f800000 is ±1. */
function orderedFloat32(index: number): number {
  const bits = new Uint32Array([index < 0 ? (-index | 0x80000000) >>> 0 : index]);
  return new Float32Array(bits.buffer)[0]!;
}

describe('the conversions around the model', () => {
  const next = random(24);
  const randomCrop = (size: number): RgbImage => ({ width: size, height: size, data: Uint8Array.from({ length: size * size * 3 }, () => Math.floor(next() * 256)) });

  it('writes the same tensor as GFPGAN\'s arithmetic, in a new buffer or in the one given', () => {
    const crop = randomCrop(SIZE);
    const expected = referenceCropToTensor(crop);
    expect(cropToTensor(crop)).toEqual(expected);
    // A reused buffer holding another face's values is overwritten everywhere.
    const reused = cropToTensor(randomCrop(SIZE));
    expect(cropToTensor(crop, reused)).toBe(reused);
    expect(reused).toEqual(expected);
    expect(() => cropToTensor(crop, new Float32Array(10))).toThrow(RangeError);
  });

  it('gives back the same bytes as GFPGAN\'s tensor2img and blend on random values, out of range and non-finite ones included', () => {
    const crop = randomCrop(SIZE);
    const plane = SIZE * SIZE;
    const tensor = Float32Array.from({ length: plane * 3 }, () => next() * 2.4 - 1.2);
    // Values at and around the rounding ties of every output byte, the clamps and the non-finite values.
    for (let k = 0; k < 256; k++) {
      const tie = (k + 0.5) / 127.5 - 1;
      tensor.set([tie, Math.fround(tie), Math.fround(tie) + 2 ** -24, Math.fround(tie) - 2 ** -24, k / 127.5 - 1], k * 5);
    }
    tensor.set([-1, 1, -0, 0, NaN, Infinity, -Infinity, 1.0000001, -1.0000001], 5 * 256);
    for (const blend of [1, 0.5, 0.3, 0]) {
      expect(maxDiff(tensorToCrop(tensor, crop, blend).data, referenceTensorToCrop(tensor, crop, blend)), `blend ${blend}`).toBe(0);
    }
  });

  it('rounds every float32 in [-1, 1] as Math.round does: each output byte starts at the same value', () => {
    // Both roundings are non-decreasing in v, so they agree on every float32 when each byte k is first reached at the
    // same float32: found by bisection over the ordered float32s of [-1, 1].
    const one: RgbImage = { width: 1, height: 1, data: new Uint8Array(3) };
    const fast = (v: number) => tensorToCrop(Float32Array.of(v, v, v), one, 1).data[0]!;
    const reference = (v: number) => referenceTensorToCrop(Float32Array.of(v, v, v), one, 1)[0]!;
    const firstReaching = (byte: (v: number) => number, k: number) => {
      let lo = -0x3f800000, hi = 0x3f800000; // byte(lo) < k ≤ byte(hi)
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (byte(orderedFloat32(mid)) >= k) hi = mid;
        else lo = mid;
      }
      return hi;
    };
    expect([fast(-1), reference(-1), fast(1), reference(1)]).toEqual([0, 0, 255, 255]);
    for (let k = 1; k < 256; k++) expect(firstReaching(fast, k), `byte ${k}`).toBe(firstReaching(reference, k));
  });

  it('rounds the doubles at and next to every .5 tie of 0..255 as Math.round does', () => {
    // The fast rounding's own rule, (x + 0.5) | 0, on the exact ties and their neighbouring doubles.
    const round = (x: number) => (x + 0.5) | 0;
    const nextTo = (x: number, up: boolean) => {
      const f = new Float64Array([x]);
      const bits = new BigInt64Array(f.buffer);
      bits[0] = bits[0]! + (up === x >= 0 ? 1n : -1n);
      return f[0]!;
    };
    // The one double of [0, 255] where it does not (x + 0.5 rounds up to 1), which a float32 face value cannot give.
    const exception = 0.49999999999999994;
    expect(nextTo(0.5, false)).toBe(exception);
    expect(round(exception)).not.toBe(Math.round(exception));
    for (let k = 0; k < 256; k++) {
      const around = [k, k + 0.5, nextTo(k + 0.5, true), nextTo(k + 0.5, false)].filter((x) => x !== exception);
      for (const x of around) expect(round(x), `${x}`).toBe(Math.round(x));
    }
  });

  it('restores faces one after another through its reused buffers without mixing them up', async () => {
    const mirror = await FaceRestorer.create(await writeBatchMirrorRestorer(dir, { size: SIZE }), { threads: 1 });
    try {
      const crops = [randomCrop(SIZE), randomCrop(SIZE), randomCrop(SIZE)];
      const expected = async (crop: RgbImage) => tensorToCrop((await mirror.restoreBatch([referenceCropToTensor(crop)], 0.5))[0]!, crop, 1).data;
      for (const crop of [...crops, ...crops.reverse()]) expect(maxDiff((await mirror.restore(crop)).data, await expected(crop))).toBe(0);
      // Batches of two, the batch's input buffer reused: each face's output is its own.
      const first = await mirror.restoreBatch([referenceCropToTensor(crops[0]!), referenceCropToTensor(crops[1]!)], 0.5);
      const second = await mirror.restoreBatch([referenceCropToTensor(crops[2]!), referenceCropToTensor(crops[0]!)], 0.5);
      expect(maxDiff(tensorToCrop(second[0]!, crops[2]!, 1).data, await expected(crops[2]!))).toBe(0);
      expect(maxDiff(tensorToCrop(second[1]!, crops[0]!, 1).data, tensorToCrop(first[0]!, crops[0]!, 1).data)).toBe(0);
      // Outputs written into buffers handed in (an earlier batch's, still holding its faces), or a new one where the
      // buffer given is not a face's size.
      const [spare, wrongSize] = [first[1]!, new Float32Array(7)];
      const third = await mirror.restoreBatch([referenceCropToTensor(crops[0]!), referenceCropToTensor(crops[2]!)], 0.5, [spare, wrongSize]);
      expect(third[0]).toBe(spare);
      expect(third[1]).not.toBe(wrongSize);
      expect(maxDiff(tensorToCrop(third[0]!, crops[0]!, 1).data, await expected(crops[0]!))).toBe(0);
      expect(maxDiff(tensorToCrop(third[1]!, crops[2]!, 1).data, await expected(crops[2]!))).toBe(0);
    } finally {
      await mirror.dispose();
    }
  });
});
