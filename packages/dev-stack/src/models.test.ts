import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findModel } from '@revive/contract';
import { sharedDir } from '@revive/pipeline/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalModelsError, MODELS_TEST_SHA256_ENV, provisionLocalModels } from './models.js';

const yunet = findModel('yunet')!;
const SHA = 'ab'.repeat(32);
let dir: string;
let deadUrl: string;
const quiet = { log: () => undefined };

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-local-models-'));
  // A port that was listening and is now closed: connection refused, i.e. offline.
  const dead = createServer();
  await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
  deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
  await new Promise((resolve) => dead.close(resolve));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A models folder with the real detector in it. */
async function withDetector(name: string): Promise<string> {
  const modelsDir = path.join(dir, name);
  await mkdir(path.join(modelsDir, 'detectors'), { recursive: true });
  await copyFile(path.join(sharedDir(), 'models', yunet.file), path.join(modelsDir, yunet.file));
  return modelsDir;
}

describe('provisionLocalModels', () => {
  it.each([
    ['without a mirror', { [MODELS_TEST_SHA256_ENV]: JSON.stringify({ 'gfpgan-1.4': SHA }) }],
    ['with a mirror that is not on loopback', { REVIVE_MODELS_BASE_URL: 'https://models.example.com', [MODELS_TEST_SHA256_ENV]: JSON.stringify({ 'gfpgan-1.4': SHA }) }],
    ['for an id that is not in the catalogue', { REVIVE_MODELS_BASE_URL: 'http://127.0.0.1:1', [MODELS_TEST_SHA256_ENV]: JSON.stringify({ 'gfpgan-9': SHA }) }],
    ['with a value that is not a sha256', { REVIVE_MODELS_BASE_URL: 'http://127.0.0.1:1', [MODELS_TEST_SHA256_ENV]: JSON.stringify({ 'gfpgan-1.4': 'abc' }) }],
    ['that is not JSON', { REVIVE_MODELS_BASE_URL: 'http://127.0.0.1:1', [MODELS_TEST_SHA256_ENV]: 'gfpgan-1.4=abc' }],
  ])('refuses a checksum override %s (CONFIG, before any model is looked at)', async (_name, extra) => {
    const env = { REVIVE_MODELS_DIR: path.join(dir, 'never'), ...extra };
    await expect(provisionLocalModels({ env, ...quiet })).rejects.toMatchObject({ name: 'LocalModelsError', code: 'CONFIG', message: expect.stringContaining(MODELS_TEST_SHA256_ENV) });
  });

  it('missing only the restorer, offline: the detector by id, and the identity restorer announced in one short line', async () => {
    const modelsDir = await withDetector('restorer-missing');
    const lines: string[] = [];
    const models = await provisionLocalModels({ env: { REVIVE_MODELS_DIR: modelsDir, REVIVE_MODELS_BASE_URL: deadUrl }, log: (line) => lines.push(line) });
    expect(models.env).toMatchObject({ REVIVE_MODELS_DIR: modelsDir, REVIVE_DETECTOR: 'yunet' });
    expect(models.restorer.offline).toBe(true);
    expect(models.restorer.restorer).toMatch(/\.onnx$/);
    // What the banner prints: the fallback and the network error, without the URL and the hand-install hint.
    expect(models.restorer.reason).toMatch(/^demo identity restorer: the gfpgan-1\.4 weights can't be fetched \(.*ECONNREFUSED.*\)$/);
    expect(models.restorer.reason.length).toBeLessThan(140);
    expect(models.restorer.reason).not.toContain(deadUrl);
    // Nothing announced a download that never started.
    expect(lines.filter((line) => line.includes('downloading'))).toEqual([]);
  });

  it('a restorer asked for by name that cannot be had stops the start instead of falling back', async () => {
    const modelsDir = await withDetector('named-restorer');
    const error = await provisionLocalModels({ env: { REVIVE_MODELS_DIR: modelsDir, REVIVE_MODELS_BASE_URL: deadUrl, REVIVE_RESTORER: 'gfpgan-1.3' }, ...quiet }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LocalModelsError);
    expect(error).toMatchObject({ code: 'MODELS_MISSING', message: expect.stringContaining('REVIVE_RESTORER=gfpgan-1.3') });
  });

  it('a present detector that does not match the published sha256 is refused', async () => {
    const modelsDir = path.join(dir, 'bad-detector');
    await mkdir(path.join(modelsDir, 'detectors'), { recursive: true });
    await writeFile(path.join(modelsDir, yunet.file), 'not yunet');
    await expect(provisionLocalModels({ env: { REVIVE_MODELS_DIR: modelsDir, REVIVE_MODELS_BASE_URL: deadUrl }, ...quiet })).rejects.toMatchObject({
      code: 'MODEL_CHECKSUM',
      message: expect.stringContaining(`expected ${yunet.sha256}`),
    });
  });

  it('the override applies to the models it names only: a real detector still has to match the published sha256', async () => {
    const modelsDir = path.join(dir, 'override-scope');
    await mkdir(path.join(modelsDir, 'detectors'), { recursive: true });
    await writeFile(path.join(modelsDir, yunet.file), 'not yunet');
    const env = { REVIVE_MODELS_DIR: modelsDir, REVIVE_MODELS_BASE_URL: deadUrl, [MODELS_TEST_SHA256_ENV]: JSON.stringify({ 'gfpgan-1.4': SHA }) };
    await expect(provisionLocalModels({ env, ...quiet })).rejects.toMatchObject({ code: 'MODEL_CHECKSUM' });
  });
});
