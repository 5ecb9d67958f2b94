// `pnpm install && pnpm start` as a user who cloned the repository and has nothing else: the real entry point
// (`pnpm start`, a child process) run in a copy of the repository with no ../shared beside it, REVIVE_MODELS_DIR
// on an empty folder, and the model URLs served by a local mirror (REVIVE_MODELS_BASE_URL). GFPGAN's weights
// can't be downloaded here, so the mirror serves a generated restorer at GFPGAN's contract and its checksum is
// given through REVIVE_MODELS_TEST_SHA256; the detector is the real YuNet, checked against the published sha256.
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findModel } from '@revive/contract';
import { sharedDir, writeIdentityRestorer } from '@revive/pipeline/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODELS_MISSING_EXIT_CODE, MODELS_TEST_SHA256_ENV } from '../src/models.js';
import { REPO_ROOT } from '../src/stack.js';

const yunet = findModel('yunet')!;
const gfpgan = findModel('gfpgan-1.4')!;
let tmp: string;
/** The clone: tmp/clone/revive, so tmp/clone/shared does not exist. */
let clone: string;
let restorerBytes: Buffer;
let restorerSha256: string;
let mirror: Server;
let mirrorUrl: string;
/** What the mirror does: serve the files, flip a byte of the detector, or break off the restorer halfway. */
let mode: 'ok' | 'corrupt-detector' | 'break-restorer' = 'ok';
const served: string[] = [];
const groups: number[] = [];

/** The repository's own files plus node_modules links, laid out as a clone after `pnpm install`. */
async function cloneRepository(destination: string): Promise<void> {
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: REPO_ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const file of files) {
    if (!existsSync(path.join(REPO_ROOT, file))) continue; // deleted in the working tree
    await mkdir(path.dirname(path.join(destination, file)), { recursive: true });
    await cp(path.join(REPO_ROOT, file), path.join(destination, file));
  }
  // The store stays where `pnpm install` put it; the packages' own node_modules are pnpm's relative links, copied
  // as links, so `@revive/*` resolves to the clone's packages and third-party modules to the store.
  // A real folder of links rather than one link: pnpm refuses to keep its task run state
  // (node_modules/.pnpm-task-run-state-v1) behind a symbolic link, so the clone gets a state folder of its own.
  await mkdir(path.join(destination, 'node_modules'));
  // pnpm's own bookkeeping (bin shims, install state) is copied, not linked: a `pnpm` run in the clone that decides to
  // refresh it must write the clone's paths into the clone, never into the checkout the tests run from.
  const copied = new Set(['.bin', '.modules.yaml', '.pnpm-workspace-state-v1.json']);
  for (const entry of await readdir(path.join(REPO_ROOT, 'node_modules'))) {
    if (entry.startsWith('.pnpm-task-run-state')) continue;
    const from = path.join(REPO_ROOT, 'node_modules', entry);
    const to = path.join(destination, 'node_modules', entry);
    if (copied.has(entry)) await cp(from, to, { recursive: true, verbatimSymlinks: true });
    else await symlink(from, to);
  }
  for (const pkg of await readdir(path.join(REPO_ROOT, 'packages'))) {
    const modules = path.join(REPO_ROOT, 'packages', pkg, 'node_modules');
    if (existsSync(modules)) await cp(modules, path.join(destination, 'packages', pkg, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  }
}

interface StartResult {
  readonly code: number | null;
  readonly output: string;
  readonly wallMs: number;
  readonly pgid: number;
}

/** `pnpm start <args>` in the clone, in its own process group, until it exits. */
function pnpmStart(args: readonly string[], env: Record<string, string>): Promise<StartResult> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REVIVE_') && !k.startsWith('AWS_ENDPOINT'))) as Record<string, string>;
  const started = Date.now();
  const child = spawn('pnpm', ['start', ...args], { cwd: clone, env: { ...base, PORT: '0', XDG_CACHE_HOME: path.join(tmp, 'cache'), ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  groups.push(child.pid!);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output, wallMs: Date.now() - started, pgid: child.pid! }));
  });
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every process of the start's group (the emulators, the JVM, the worker) has gone; they may take a moment after pnpm exits. */
async function expectGroupGone(pgid: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (groupAlive(pgid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  expect(groupAlive(pgid), `processes left in group ${pgid}`).toBe(false);
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'revive-fresh-'));
  clone = path.join(tmp, 'clone', 'revive');
  await cloneRepository(clone);
  restorerBytes = await readFile(await writeIdentityRestorer(path.join(tmp, 'generated')));
  restorerSha256 = sha256(restorerBytes);
  const detectorBytes = await readFile(path.join(sharedDir(), 'models', yunet.file));
  mirror = createServer((req, res) => {
    const file = new URL(req.url ?? '/', 'http://mirror').pathname.slice(1);
    served.push(file);
    let body: Buffer | undefined = file === yunet.file ? detectorBytes : file === gfpgan.file ? restorerBytes : undefined;
    if (body === undefined) {
      res.writeHead(404).end();
      return;
    }
    if (mode === 'corrupt-detector' && file === yunet.file) {
      body = Buffer.from(body);
      body[body.length >> 1]! ^= 0xff;
    }
    res.writeHead(200, { 'content-length': body.length });
    if (mode === 'break-restorer' && file === gfpgan.file) {
      res.write(body.subarray(0, body.length >> 1), () => res.destroy());
      return;
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => mirror.listen(0, '127.0.0.1', resolve));
  mirrorUrl = `http://127.0.0.1:${(mirror.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const pgid of groups) if (groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
  if (mirror) {
    mirror.closeAllConnections();
    await new Promise((resolve) => mirror.close(resolve));
  }
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('pnpm start on a fresh clone (no ../shared, empty REVIVE_MODELS_DIR)', () => {
  it('online: fetches the detector and the restorer with sha256 checks, starts the stack, and a smoke job SUCCEEDS', async () => {
    expect(existsSync(path.join(clone, '..', 'shared'))).toBe(false);
    mode = 'ok';
    served.length = 0;
    const modelsDir = path.join(tmp, 'online-models');
    await mkdir(modelsDir);
    const run = await pnpmStart(['--smoke'], {
      REVIVE_MODELS_DIR: modelsDir,
      REVIVE_MODELS_BASE_URL: mirrorUrl,
      [MODELS_TEST_SHA256_ENV]: JSON.stringify({ 'gfpgan-1.4': restorerSha256 }),
      // The smoke photo only; the models come from the mirror.
      REVIVE_SHARED_DIR: sharedDir(),
    });
    console.log(`online pnpm start --smoke: exit ${run.code} after ${run.wallMs} ms`);
    expect(run.code, run.output).toBe(0);
    expect(served).toEqual([yunet.file, gfpgan.file]);
    expect(sha256(await readFile(path.join(modelsDir, yunet.file)))).toBe(yunet.sha256);
    expect(sha256(await readFile(path.join(modelsDir, gfpgan.file)))).toBe(restorerSha256);
    // The banner names the restorer the worker runs and says it is the test stand-in, not GFPGAN's weights.
    expect(run.output).toMatch(new RegExp(`restorer +${path.join(modelsDir, gfpgan.file).replace(/[/.]/g, '\\$&')} +\\(downloaded from ${mirrorUrl}/${gfpgan.file}, sha256 from ${MODELS_TEST_SHA256_ENV}: a TEST STAND-IN`));
    expect(run.output).toContain(`WARNING ${MODELS_TEST_SHA256_ENV} replaces the published sha256 of 'gfpgan-1.4'`);
    expect(run.output).not.toContain('OFFLINE DEMO');
    // The worker ran what was fetched: the detector by id from the models folder, the stand-in by its path.
    expect(run.output).toContain(`"models":{"detector":"yunet","restorer":${JSON.stringify(path.join(modelsDir, gfpgan.file))}}`);
    expect(run.output).toMatch(/smoke: job \S+ SUCCEEDED/);
    await expectGroupGone(run.pgid);
    // A whole stack start plus the smoke run's own DEFAULT_SMOKE_TIMEOUT_MS (180 s): a loaded CI machine needs more than the file's default.
  }, 420_000);

  it('offline (mirror down): exits with "models missing", the command to run and the files to put where, and starts nothing', async () => {
    const dead = createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
    await new Promise((resolve) => dead.close(resolve));
    const modelsDir = path.join(tmp, 'offline-models');
    await mkdir(modelsDir);
    const run = await pnpmStart([], { REVIVE_MODELS_DIR: modelsDir, REVIVE_MODELS_BASE_URL: deadUrl });
    console.log(`offline pnpm start: exit ${run.code} after ${run.wallMs} ms`);
    expect(run.code, run.output).toBe(MODELS_MISSING_EXIT_CODE);
    expect(run.output).toContain(`the face detector 'yunet' is not in ${modelsDir}`);
    expect(run.output).toContain('pnpm revive models fetch yunet gfpgan-1.4');
    expect(run.output).toContain(path.join(modelsDir, yunet.file));
    expect(run.output).toContain(yunet.sha256);
    expect(run.output).toContain('Nothing was started.');
    expect(run.output).not.toContain('Revive local stack');
    expect(groupAlive(run.pgid)).toBe(false);
    expect(await readdir(modelsDir, { recursive: true })).not.toContain(yunet.file);
  });

  it('a corrupt download is refused against the published sha256, and the stack is not started', async () => {
    mode = 'corrupt-detector';
    const modelsDir = path.join(tmp, 'corrupt-models');
    await mkdir(modelsDir);
    const run = await pnpmStart([], { REVIVE_MODELS_DIR: modelsDir, REVIVE_MODELS_BASE_URL: mirrorUrl });
    expect(run.code, run.output).toBe(MODELS_MISSING_EXIT_CODE);
    expect(run.output).toMatch(new RegExp(`yunet: Downloaded yunet_s_640_640\\.onnx from .* has sha256 [0-9a-f]{64}, expected ${yunet.sha256}`));
    expect(run.output).not.toContain('Revive local stack');
    expect(existsSync(path.join(modelsDir, yunet.file))).toBe(false);
    expect(groupAlive(run.pgid)).toBe(false);
  });

  it('a restorer download that breaks off midway fails fast, keeping the partial file for the next start', async () => {
    mode = 'break-restorer';
    const modelsDir = path.join(tmp, 'broken-models');
    await mkdir(modelsDir);
    const run = await pnpmStart([], { REVIVE_MODELS_DIR: modelsDir, REVIVE_MODELS_BASE_URL: mirrorUrl, [MODELS_TEST_SHA256_ENV]: JSON.stringify({ 'gfpgan-1.4': restorerSha256 }) });
    expect(run.code, run.output).toBe(MODELS_MISSING_EXIT_CODE);
    const partial = path.join(modelsDir, `${gfpgan.file}.partial`);
    expect(run.output).toContain(`gfpgan-1.4: Could not download gfpgan-v1.4.onnx from ${mirrorUrl}/${gfpgan.file}: the connection broke after`);
    expect(run.output).toContain(partial);
    expect(run.output).not.toContain('Revive local stack');
    expect((await stat(partial)).size).toBeGreaterThan(0);
    expect((await stat(partial)).size).toBeLessThan(restorerBytes.length);
    expect(existsSync(path.join(modelsDir, yunet.file))).toBe(true);
    expect(groupAlive(run.pgid)).toBe(false);
  });
});
