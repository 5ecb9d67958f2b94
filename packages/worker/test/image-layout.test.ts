// The worker as the container image runs it, not as the other tests do: the esbuild bundle (build.mjs), the
// production node_modules that `pnpm deploy --prod` installs from the lockfile, pruned to linux-x64 like the
// Dockerfiles do (bin/prune-platforms.sh), the image's wrapper (bin/revive.sh), plain node without tsx, and a
// non-root user (uid 65534 when the test runs as root). What the Dockerfiles add on top (bases, models) can't run
// here: there is no Docker engine.
import { execFile, spawn } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthReporter } from '../src/service/health.js';
import { writeIdentityRestorer, sharedDir } from '@revive/pipeline/testing';

const run = promisify(execFile);
const WORKER_DIR = path.resolve(import.meta.dirname, '..');
/** `nobody`: the images run as an unprivileged user too (node, uid 1000, and revive, uid 10001). */
const UNPRIVILEGED_UID = 65534;

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

let stage: string;
/** The generated identity restorer (GFPGAN's contract; the real weights can't be downloaded here). */
let restorer: string;
/** The image's /app: dist/, node_modules/, bin/revive. */
let app: string;

/** Runs the image's wrapper with `appDir` as REVIVE_HOME, as the unprivileged user when we are root. */
function revive(appDir: string, args: readonly string[], env: Record<string, string> = {}): Promise<Result> {
  const asRoot = process.getuid?.() === 0;
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', [path.join(app, 'bin', 'revive'), ...args], {
      cwd: stage,
      env: {
        PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin`,
        HOME: path.join(stage, 'home'),
        NODE_ENV: 'production',
        REVIVE_HOME: appDir,
        ...env,
      },
      ...(asRoot ? { uid: UNPRIVILEGED_UID, gid: UNPRIVILEGED_UID } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  stage = await mkdtemp(path.join(tmpdir(), 'revive-image-'));
  app = path.join(stage, 'app');
  await run(process.execPath, [path.join(WORKER_DIR, 'build.mjs'), '--outdir', path.join(app, 'dist')], { cwd: WORKER_DIR });
  // The Dockerfiles' deps stage: production dependencies from pnpm-lock.yaml, then other platforms' binaries out.
  await run('pnpm', ['--filter', '@revive/worker', 'deploy', '--prod', '--offline', path.join(stage, 'deploy')], { cwd: WORKER_DIR });
  await rename(path.join(stage, 'deploy', 'node_modules'), path.join(app, 'node_modules'));
  await rm(path.join(stage, 'deploy'), { recursive: true, force: true });
  await run('/bin/sh', [path.join(WORKER_DIR, 'bin', 'prune-platforms.sh'), path.join(app, 'node_modules')]);
  await mkdir(path.join(app, 'bin'));
  await cp(path.join(WORKER_DIR, 'bin', 'revive.sh'), path.join(app, 'bin', 'revive'));
  // A second /app with the same bundle and no node_modules at all: what must run without sharp and onnxruntime.
  await mkdir(path.join(stage, 'bare'));
  await cp(path.join(app, 'dist'), path.join(stage, 'bare', 'dist'), { recursive: true });
  for (const dir of ['home', 'out', 'models']) await mkdir(path.join(stage, dir));
  restorer = await writeIdentityRestorer(path.join(stage, 'models'));
  // Readable by the unprivileged user; it writes only to home/ and out/.
  await chmod(stage, 0o755);
  await run('chmod', ['-R', 'a+rX', stage]);
  await run('chmod', ['a+w', path.join(stage, 'home'), path.join(stage, 'out')]);
}, 180_000);

afterAll(async () => {
  if (stage) await rm(stage, { recursive: true, force: true });
});

describe('the worker bundle in the image layout', () => {
  it('has production dependencies only, linux-x64 binaries only', async () => {
    expect((await readdir(path.join(app, 'node_modules'))).filter((name) => !name.startsWith('.')).sort()).toEqual(['onnxruntime-node', 'sharp']);
    const napi = path.join(app, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6');
    expect(await readdir(napi)).toEqual(['linux']);
    expect(await readdir(path.join(napi, 'linux'))).toEqual(['x64']);
    // The lockfile's version, not whatever the registry has today.
    const lock = await readFile(path.join(WORKER_DIR, '../../pnpm-lock.yaml'), 'utf8');
    const ort = JSON.parse(await readFile(path.join(napi, '../../package.json'), 'utf8')) as { version: string };
    expect(lock).toContain(`onnxruntime-node@${ort.version}`);
  });

  it('prints its usage', async () => {
    const result = await revive(app, ['--help']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/restore/);
    expect(result.stdout).toMatch(/healthcheck/);
  });

  it('answers the health check from the heartbeat file, healthy and unhealthy', async () => {
    const file = path.join(stage, 'home', 'health.json');
    const reporter = new HealthReporter({ file, concurrency: 1, waitTimeSeconds: 20 });
    reporter.modelsLoaded(10);
    reporter.polled(0);
    await reporter.flush();
    await chmod(file, 0o644);
    const healthy = await revive(app, ['healthcheck'], { REVIVE_HEALTH_FILE: file });
    expect(healthy.stdout).toMatch(/^healthy: models loaded/);
    expect(healthy.code).toBe(0);
    const missing = await revive(app, ['healthcheck'], { REVIVE_HEALTH_FILE: path.join(stage, 'home', 'none.json') });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no heartbeat file/);
  });

  it('runs --help and healthcheck without sharp or onnxruntime-node installed (they load only for restore and serve)', async () => {
    const file = path.join(stage, 'home', 'health-bare.json');
    const reporter = new HealthReporter({ file, concurrency: 1, waitTimeSeconds: 20 });
    reporter.modelsLoaded(10);
    await reporter.flush();
    await chmod(file, 0o644);
    const bare = path.join(stage, 'bare');
    const help = await revive(bare, ['--help']);
    expect(help.stderr).toBe('');
    expect(help.code).toBe(0);
    const health = await revive(bare, ['healthcheck'], { REVIVE_HEALTH_FILE: file });
    expect(health.stderr).toBe('');
    expect(health.code).toBe(0);
    // The same bundle does need them to restore: the missing module is reported, not silently skipped.
    const restore = await revive(bare, ['restore', path.join(sharedDir(), 'photos', 'whole', 'blurry_face.jpg'), '--output', path.join(stage, 'out', 'bare')]);
    expect(restore.code).not.toBe(0);
    expect(restore.stderr).toMatch(/sharp|onnxruntime-node/);
  });

  it('restores a shared photo as the unprivileged user, with maps on for its stack traces', async () => {
    const out = path.join(stage, 'out', 'restored');
    const photo = path.join(sharedDir(), 'photos', 'whole', 'blurry_face.jpg');
    const result = await revive(app, [
      'restore', photo, '--output', out, '--no-download',
      '--models-dir', path.join(sharedDir(), 'models'),
      '--restorer', restorer,
    ]);
    expect(result.stderr).not.toMatch(/error/i);
    // The resampling kernels' helper threads start from their own entry beside the chunks; one that can't start says so.
    expect(result.stderr).not.toContain('REVIVE_RESAMPLE_HELPER');
    expect(result.code).toBe(0);
    const report = JSON.parse(await readFile(path.join(out, 'report.json'), 'utf8')) as { images: { input: string; faces?: unknown[]; output?: string }[] };
    const entry = report.images.find((image) => image.input.endsWith('blurry_face.jpg'));
    expect(entry?.faces?.length).toBeGreaterThanOrEqual(1);
    const written = await readdir(path.join(out, 'restored_imgs'));
    expect(written).toHaveLength(1);
    const owner = await stat(path.join(out, 'restored_imgs', written[0]!));
    if (process.getuid?.() === 0) expect(owner.uid).toBe(UNPRIVILEGED_UID);
    expect(owner.size).toBeGreaterThan(0);
  });
});
