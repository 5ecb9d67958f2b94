import { copyFile, mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedDir } from './testing/shared-dir.js';
import { sha256OfFile } from './model-fetch.js';
import { MODEL_MANIFEST } from '@revive/contract';
import { SHA256_SIDECAR_SUFFIX, defaultModelsDir, resolveModel } from './models.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-models-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('MODEL_MANIFEST', () => {
  it('has unique ids and files, and matches the test copies in ../shared/models byte for byte', async () => {
    expect(new Set(MODEL_MANIFEST.map((e) => e.id)).size).toBe(MODEL_MANIFEST.length);
    expect(new Set(MODEL_MANIFEST.map((e) => e.file)).size).toBe(MODEL_MANIFEST.length);
    let checked = 0;
    for (const entry of MODEL_MANIFEST) {
      const file = path.join(sharedDir(), 'models', entry.file);
      if (!existsSync(file)) continue;
      expect(await sha256OfFile(file), entry.id).toBe(entry.sha256);
      expect((await stat(file)).size, entry.id).toBe(entry.bytes);
      checked++;
    }
    // Five detectors and two upscalers are in the shared folder.
    expect(checked).toBe(7);
  });

  it('lists the default detector with its public URL and the GFPGAN restorers with theirs', () => {
    const yunet = MODEL_MANIFEST.find((e) => e.id === 'yunet');
    expect(yunet?.url).toMatch(/^https:\/\/github\.com\/opencv\/opencv_zoo\//);
    for (const v of ['1.2', '1.3', '1.4']) {
      const entry = MODEL_MANIFEST.find((e) => e.id === `gfpgan-${v}`);
      expect(entry?.role).toBe('restorer');
      expect(entry?.url).toMatch(new RegExp(`gfpgan-v${v.replace('.', '\\.')}\\.onnx$`));
      expect(entry?.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('pins every URL to a release tag or a commit, never a branch or `latest`, and checksums each one', () => {
    const withUrl = MODEL_MANIFEST.filter((e) => e.url !== undefined);
    expect(withUrl.map((e) => e.id)).toEqual(expect.arrayContaining(['yunet', 'gfpgan-1.4']));
    for (const entry of withUrl) {
      expect(entry.url).not.toMatch(/\/latest\/|\/(raw|blob|resolve)\/(main|master)\//);
      expect(entry.url).toMatch(/\/releases\/download\/[^/]+\/|\/raw\/[0-9a-f]{40}\//);
      expect(entry.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
  });
});

describe('defaultModelsDir', () => {
  it('prefers REVIVE_MODELS_DIR, then $XDG_CACHE_HOME, then ~/.cache', () => {
    expect(defaultModelsDir({ REVIVE_MODELS_DIR: '/srv/models', XDG_CACHE_HOME: '/x' })).toBe('/srv/models');
    expect(defaultModelsDir({ XDG_CACHE_HOME: '/x/cache' })).toBe('/x/cache/revive/models');
    expect(defaultModelsDir({})).toBe(path.join(homedir(), '.cache', 'revive', 'models'));
  });
});

describe('resolveModel', () => {
  it('uses a path to an .onnx as is, and says so when it does not exist', async () => {
    const file = path.join(sharedDir(), 'models', 'detectors', 'yunet_s_dynamic.onnx');
    expect(await resolveModel(file, 'detector', { modelsDir: dir })).toBe(file);
    await expect(resolveModel(path.join(dir, 'missing.onnx'), 'restorer', { modelsDir: dir })).rejects.toMatchObject({
      code: 'MODEL_UNAVAILABLE',
      message: expect.stringContaining('missing.onnx'),
    });
  });

  it('rejects unknown ids and ids of another role', async () => {
    await expect(resolveModel('gfpgan-9', 'restorer', { modelsDir: dir })).rejects.toMatchObject({ code: 'CONFIG', message: expect.stringContaining('gfpgan-1.4') });
    await expect(resolveModel('yunet', 'restorer', { modelsDir: dir })).rejects.toMatchObject({ code: 'CONFIG', message: expect.stringContaining('detector') });
  });

  it('says where to put a missing model that has no public download', async () => {
    const error = await resolveModel('codeformer', 'restorer', { modelsDir: dir, baseUrl: '' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'MODEL_UNAVAILABLE' });
    expect((error as Error).message).toContain(path.join(dir, 'restorers', 'codeformer.onnx'));
  });

  it('with downloads off, names the file, the URL and the folder', async () => {
    const error = await resolveModel('gfpgan-1.4', 'restorer', { modelsDir: dir, download: false, baseUrl: '' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'MODEL_UNAVAILABLE' });
    const message = (error as Error).message;
    expect(message).toContain('https://github.com/clibdev/GFPGAN-onnxruntime-demo/releases/download/1.0.0/gfpgan-v1.4.onnx');
    expect(message).toContain(path.join(dir, 'restorers', 'gfpgan-v1.4.onnx'));
  });

  it('hashes a present file once, remembers it by size and mtime, and catches a changed file', async () => {
    const modelsDir = path.join(dir, 'verify');
    const file = path.join(modelsDir, 'detectors', 'yunet_s_640_640.onnx');
    await mkdir(path.dirname(file), { recursive: true });
    await copyFile(path.join(sharedDir(), 'models', 'detectors', 'yunet_s_640_640.onnx'), file);
    // A whole-millisecond mtime, so it can be set back exactly below.
    const mtime = new Date(1_700_000_000_000);
    await utimes(file, mtime, mtime);
    expect(await resolveModel('yunet', 'detector', { modelsDir, download: false })).toBe(file);
    expect(existsSync(file + SHA256_SIDECAR_SUFFIX)).toBe(true);

    // Same size and mtime, different bytes: the sidecar vouches for it, proving no second hash was taken.
    const bytes = await readFile(file);
    bytes[1000] = bytes[1000]! ^ 0xff;
    await writeFile(file, bytes);
    await utimes(file, mtime, mtime);
    expect(await resolveModel('yunet', 'detector', { modelsDir, download: false })).toBe(file);

    // A newer mtime invalidates the sidecar: the hash is taken again and the change is caught.
    await utimes(file, mtime, new Date(mtime.getTime() + 5000));
    await expect(resolveModel('yunet', 'detector', { modelsDir, download: false })).rejects.toMatchObject({
      code: 'MODEL_CHECKSUM',
      message: expect.stringContaining(file),
    });
  });
});
