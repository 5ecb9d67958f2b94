// scripts/device-check.sh is run by hand on a lent GPU machine that has no Node: its first run there must not be its
// first run at all. On CPU (its --device cpu mode, one timed run at batch 1) it measures the stand-in's architecture
// and derives the vCPUs that feed it from the CPU-side figures; without CUDA, --device cuda fails with a message that
// says so. Skipped where no Python with PyTorch is installed (CI installs Debian's).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STAND_IN_SCRIPT_DIR } from '../src/testing/stand-in.js';

const run = promisify(execFile);
const SCRIPT = path.resolve(STAND_IN_SCRIPT_DIR, '..', 'device-check.sh');
/** The Python that `pnpm stand-in` uses: REVIVE_PYTHON, else Debian's (the pyenv shim on PATH usually lacks torch). */
const PYTHON = process.env.REVIVE_PYTHON ?? '/usr/bin/python3';
const GFPGAN_PARAMETERS = 324.5e6 / 4;

interface DeviceCheck {
  readonly device: string;
  readonly parameters: number;
  readonly cpuMsPerFace: Record<string, number>;
  readonly results: readonly { readonly dtype: string; readonly batch: number; readonly facesPerSecond: number; readonly vcpusToFeed: Record<string, number> }[];
}

let dir: string;
let torch = false;
let cudaAvailable = false;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-device-check-'));
  try {
    const { stdout } = await run(PYTHON, ['-c', 'import torch; print(torch.cuda.is_available())']);
    torch = true;
    cudaAvailable = stdout.trim() === 'True';
  } catch {
    torch = false;
  }
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('scripts/device-check.sh', () => {
  it('measures the stand-in on CPU and derives the vCPUs that feed it, per output format and from a figure given', async (ctx) => {
    if (!torch) ctx.skip(`no PyTorch for ${PYTHON}`);
    const json = path.join(dir, 'by-format.json');
    const { stdout } = await run('sh', [SCRIPT, '--device', 'cpu', '--batches', '1', '--json', json], { env: { ...process.env, PYTHON } });
    expect(stdout).toMatch(/vCPUs per GPU to keep it busy: \d+ with jpg/);
    const byFormat = JSON.parse(await readFile(json, 'utf8')) as DeviceCheck;
    expect(Object.keys(byFormat.cpuMsPerFace).sort()).toEqual(['jpg', 'png', 'webp']);
    // GFPGAN v1.4's ONNX file holds 324.5 MB of float32 (CATALOG.md), 81.1 M parameters: the stand-in is within 10 %.
    expect(byFormat.parameters).toBeGreaterThan(0.9 * GFPGAN_PARAMETERS);
    expect(byFormat.parameters).toBeLessThan(1.1 * GFPGAN_PARAMETERS);
    const [measured] = byFormat.results;
    expect(measured).toMatchObject({ dtype: 'fp32', batch: 1 });
    expect(measured!.facesPerSecond).toBeGreaterThan(0);
    for (const [format, ms] of Object.entries(byFormat.cpuMsPerFace)) {
      expect(measured!.vcpusToFeed[format], format).toBe(Math.ceil((measured!.facesPerSecond * ms) / 1000));
    }

    const given = path.join(dir, 'given.json');
    await run('sh', [SCRIPT, '--device', 'cpu', '--batches', '1', '--cpu-ms-per-face', '25000', '--json', given], { env: { ...process.env, PYTHON } });
    const one = JSON.parse(await readFile(given, 'utf8')) as DeviceCheck;
    expect(one.cpuMsPerFace).toEqual({ given: 25000 });
    expect(one.results[0]!.vcpusToFeed.given).toBe(Math.ceil((one.results[0]!.facesPerSecond * 25000) / 1000));
  }, 300_000);

  it('refuses --device cuda where PyTorch sees no GPU, saying so', async (ctx) => {
    if (!torch) ctx.skip(`no PyTorch for ${PYTHON}`);
    if (cudaAvailable) ctx.skip('this machine has a CUDA GPU');
    const failed = await run('sh', [SCRIPT, '--device', 'cuda'], { env: { ...process.env, PYTHON } }).then(
      () => undefined,
      (error: unknown) => error as { code: number; stderr: string },
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toContain('torch.cuda.is_available() is False');
  }, 120_000);
});
