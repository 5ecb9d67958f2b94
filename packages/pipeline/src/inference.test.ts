import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError } from './errors.js';
import { writeIdentityRestorer, writeTinyUpsampler } from './testing/models.js';
import { OnnxModel } from './inference.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-inference-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('OnnxModel', () => {
  it('reads names, types and shapes, with null for symbolic dimensions, and runs', async () => {
    const model = await OnnxModel.create(await writeTinyUpsampler(dir), { threads: 1 });
    try {
      expect(model.inputs).toEqual([{ name: 'input', type: 'float32', shape: [null, 3, null, null] }]);
      expect(model.outputs[0]?.shape).toEqual([null, 3, null, null]);
      const out = await model.run({ input: { type: 'float32', data: Float32Array.of(0.1, 0.2, 0.3), dims: [1, 3, 1, 1] } });
      expect(out.output?.dims).toEqual([1, 3, 2, 2]);
      expect(Array.from(out.output!.data as Float32Array).map((v) => Math.round(v * 10))).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
    } finally {
      await model.dispose();
    }
  });

  it('turns a validate failure into MODEL_INVALID naming the file and the reason', async () => {
    const file = await writeIdentityRestorer(dir, { size: 16 });
    const error = await OnnxModel.create(file, {
      validate: (m) => {
        if (m.inputs.length !== 2) throw new Error(`expected 2 inputs, found ${m.inputs.length}`);
      },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ code: 'MODEL_INVALID' });
    expect((error as Error).message).toContain(file);
    expect((error as Error).message).toContain('expected 2 inputs, found 1');
  });

  it('gives clear errors for a missing file and for a file that is not a model', async () => {
    const missing = path.join(dir, 'nope.onnx');
    await expect(OnnxModel.create(missing, {})).rejects.toMatchObject({ code: 'MODEL_UNAVAILABLE', message: expect.stringContaining(missing) });
    const corrupt = path.join(dir, 'corrupt.onnx');
    await writeFile(corrupt, 'this is not protobuf');
    await expect(OnnxModel.create(corrupt, {})).rejects.toMatchObject({ code: 'MODEL_INVALID', message: expect.stringContaining(corrupt) });
  });

  it('runs on CUDA when the provider loads, and otherwise fails with DEVICE_UNAVAILABLE (no CPU fallback)', async () => {
    const file = await writeIdentityRestorer(dir, { size: 16 });
    const result = await OnnxModel.create(file, { device: 'cuda' }).catch((e: unknown) => e);
    if (result instanceof OnnxModel) {
      expect(result.device).toBe('cuda');
      await result.dispose();
    } else {
      expect(result).toBeInstanceOf(PermanentError);
      expect(result).toMatchObject({ code: 'DEVICE_UNAVAILABLE', message: expect.stringContaining('cuda') });
    }
  });

  it('refuses to run after dispose()', async () => {
    const model = await OnnxModel.create(await writeIdentityRestorer(dir, { size: 16 }), {});
    await model.dispose();
    await model.dispose();
    await expect(model.run({})).rejects.toThrow(/after dispose/);
  });
});
