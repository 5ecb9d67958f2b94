import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedDir, writeIdentityRestorer } from '@revive/pipeline/testing';
import { photosDir, readReport, restoredEntry, runCli } from './restore-helpers.js';

// The download path through the CLI, against a local mirror of ../shared/models (REVIVE_MODELS_BASE_URL).
describe('revive models fetch / list, and models fetched on first use', () => {
  let dir: string;
  let server: Server;
  let baseUrl: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'revive-download-'));
    const models = path.join(sharedDir(), 'models');
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      // /corrupt/... serves bytes that can't match the manifest's sha256.
      if (url.pathname.startsWith('/corrupt/')) {
        res.writeHead(200, { 'content-length': '1024' }).end(Buffer.alloc(1024, 7));
        return;
      }
      const file = path.join(models, path.normalize(url.pathname));
      if (!file.startsWith(models) || !existsSync(file)) {
        res.writeHead(404).end();
        return;
      }
      createReadStream(file).pipe(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('fetches catalogue models into the models folder and lists them as present', async () => {
    const modelsDir = path.join(dir, 'fetched');
    const fetch = await runCli(['models', 'fetch', 'yunet', 'efrlfn-x2', '--models-dir', modelsDir], { REVIVE_MODELS_BASE_URL: baseUrl });
    expect(fetch.exitCode, fetch.stderr).toBe(0);
    expect(existsSync(path.join(modelsDir, 'detectors', 'yunet_s_640_640.onnx'))).toBe(true);
    expect(existsSync(path.join(modelsDir, 'upscalers', 'efrlfn_x2.onnx'))).toBe(true);
    const list = await runCli(['models', 'list', '--models-dir', modelsDir]);
    expect(list.exitCode).toBe(0);
    expect(list.stdout).toMatch(/^yunet\s+detector\s+\S+ MB\s+present/m);
    expect(list.stdout).toMatch(/^efrlfn-x2\s+upsampler\s+\S+ MB\s+present/m);
    expect(list.stdout).toMatch(/^scrfd-500m\s+detector\s+\S+ MB\s+missing/m);
  });

  it('exits 2 for an unknown model id and 3 for a download whose sha256 does not match', async () => {
    const unknown = await runCli(['models', 'fetch', 'no-such-model', '--models-dir', path.join(dir, 'x')]);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toMatch(/no-such-model/);
    const modelsDir = path.join(dir, 'corrupt');
    const corrupt = await runCli(['models', 'fetch', 'yunet', '--models-dir', modelsDir], { REVIVE_MODELS_BASE_URL: `${baseUrl}/corrupt` });
    expect(corrupt.exitCode).toBe(3);
    expect(corrupt.stderr).toMatch(/MODEL_CHECKSUM/);
    expect(existsSync(path.join(modelsDir, 'detectors', 'yunet_s_640_640.onnx'))).toBe(false);
  });

  it('restore downloads a missing detector and background upsampler on first use', async () => {
    const modelsDir = path.join(dir, 'first-use');
    const out = path.join(dir, 'out');
    const identity = await writeIdentityRestorer(dir);
    const run = await runCli(
      ['restore', path.join(photosDir(), 'whole', 'blurry_face.jpg'), '--output', out, '--models-dir', modelsDir, '--restorer', identity, '--bg-upsampler', 'efrlfn-x2'],
      { REVIVE_MODELS_BASE_URL: baseUrl },
    );
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/Downloading yunet/);
    const report = await readReport(out);
    expect(report.models.bgUpsampler).toBe('efrlfn-x2');
    const entry = restoredEntry(report, 'blurry_face.jpg');
    expect([entry.width, entry.height, entry.faces.length]).toEqual([238 * 2, 267 * 2, 1]);
    expect(entry.timingsMs.upscale).toBeGreaterThan(0);
  });
});
