// @revive/client as an app outside this repository gets it: built, packed with `npm pack`, installed from the tarball
// into a scratch project (offline: it has no runtime dependencies), type-checked by a strict tsc under both module
// resolutions an app uses, and run by Node against a real HTTP server. The tarball must not name @revive/contract
// (private, and TypeScript source only), in its JavaScript or its declarations.
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { jobResponseFromRecord, jobOptionsSchema, signWebhook, webhookMessageId, type JobRecord } from '@revive/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const CLIENT_DIR = path.resolve(import.meta.dirname, '..');
const REPO_ROOT = path.resolve(CLIENT_DIR, '../..');
/** The repository's own TypeScript: the scratch project installs nothing but the tarball. */
const TSC = createRequire(path.join(REPO_ROOT, 'package.json')).resolve('typescript/bin/tsc');
const SECRET = `whsec_${Buffer.from('scratch project webhook key, 32').toString('base64')}`;
const JOB_ID = '0b6e8f0e-5f2c-4f5e-9a7e-2d7c7d1f0a11';

/** pnpm's npm_config_* variables (the test may run under pnpm) would steer the npm below; it gets a plain environment. */
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));

let work: string;
let app: string;
let tarball: string;
let api: Server;

const record: JobRecord = {
  jobId: JOB_ID,
  tenantId: 'scratch',
  status: 'SUCCEEDED',
  source: { kind: 's3', key: 'uploads/scratch/u1' },
  options: jobOptionsSchema.parse({}),
  attempts: 1,
  createdAt: '2026-01-01T00:00:00.000Z',
  startedAt: '2026-01-01T00:00:01.000Z',
  finishedAt: '2026-01-01T00:00:02.000Z',
  resultKey: 'results/scratch/x.jpg',
  expiresAt: 1_900_000_000,
};

/** tsc's exit code and output (it exits 1 or 2 with the diagnostics on stdout). */
async function tsc(project: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout } = await run(process.execPath, [TSC, '-p', project], { cwd: app, env });
    return { code: 0, output: stdout };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

const compilerOptions = {
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  // The package's declarations are checked too: they must stand alone.
  skipLibCheck: false,
  target: 'ES2022',
  lib: ['ES2023', 'DOM', 'DOM.Iterable'],
  types: [],
};

// What an app writes: the client, its types and its webhook verifier.
const MAIN = `import { Revive, ReviveError, verifyWebhook, WEBHOOK_ID_HEADER, type JobResponse, type JobStatus, type WebhookHeaders } from '@revive/client';

const revive = new Revive({ baseUrl: process.env.API_URL!, tenant: 'scratch', maxRetries: 0 });
const job: JobResponse = await revive.jobs.get('${JOB_ID}');
const status: JobStatus = job.status;
const faces: number = job.faces?.length ?? 0;
const received = JSON.parse(process.env.HOOK_HEADERS!) as Record<string, string>;
const headers: WebhookHeaders = received;
const body = process.env.HOOK_BODY!;
let missing: string | undefined;
try {
  await revive.jobs.get('missing');
} catch (error) {
  if (error instanceof ReviveError) missing = error.code;
}
console.log(JSON.stringify({
  status,
  faces,
  id: received[WEBHOOK_ID_HEADER],
  verified: await verifyWebhook(body, headers, process.env.SECRET!),
  tampered: await verifyWebhook(body.replace('SUCCEEDED', 'FAILED'), headers, process.env.SECRET!),
  missing,
}));
`;

// Misuse the types must catch: a wrong source, an unknown status, an option that does not exist, a sync verifier.
const MISUSE = `import { Revive, verifyWebhook, type JobStatus } from '@revive/client';

const revive = new Revive({ baseUrl: '' });
await revive.jobs.create({ source: { uploadKey: 42 } });
const status: JobStatus = 'DONE';
await revive.jobs.create({ source: { url: 'https://example.com/a.jpg' }, options: { upscale: 2, sharpen: true } });
const ok: boolean = verifyWebhook('{}', {}, 'whsec_x');
export { status, ok };
`;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'revive-client-pack-'));
  app = path.join(work, 'app');
  await mkdir(app);
  api = createServer((req, res) => {
    if (req.url === `/jobs/${JOB_ID}`) return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jobResponseFromRecord(record)));
    res.writeHead(404, { 'content-type': 'application/problem+json' }).end(JSON.stringify({ type: 'about:blank', title: 'Not Found', status: 404, code: 'JOB_NOT_FOUND' }));
  });
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));

  await run('pnpm', ['-C', CLIENT_DIR, 'build'], { env: process.env });
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: CLIENT_DIR, env });
  tarball = path.join(work, (JSON.parse(stdout) as { filename: string }[])[0]!.filename);

  await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
  await run('npm', ['install', tarball, '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: app, env });
  // The scratch program reads its inputs from the environment; this stands in for @types/node, which it does not install.
  const globals = 'declare const process: { readonly env: Record<string, string | undefined> };\n';
  await writeFile(path.join(app, 'globals.d.ts'), globals);
  await writeFile(path.join(app, 'main.ts'), MAIN);
  await writeFile(path.join(app, 'misuse.ts'), MISUSE);
  const project = (options: object, files: string[]) => JSON.stringify({ compilerOptions: { ...compilerOptions, ...options }, files: ['globals.d.ts', ...files] });
  await writeFile(path.join(app, 'tsconfig.json'), project({ module: 'NodeNext', moduleResolution: 'NodeNext', outDir: 'out' }, ['main.ts']));
  await writeFile(path.join(app, 'tsconfig.bundler.json'), project({ module: 'ESNext', moduleResolution: 'Bundler', noEmit: true }, ['main.ts']));
  await writeFile(path.join(app, 'tsconfig.misuse.json'), project({ module: 'NodeNext', moduleResolution: 'NodeNext', noEmit: true }, ['misuse.ts']));
});

afterAll(async () => {
  api?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('@revive/client installed from its npm tarball', () => {
  it('ships built JavaScript and declarations that name no private package, and no runtime dependency', async () => {
    const installed = path.join(app, 'node_modules', '@revive', 'client');
    const manifest = JSON.parse(await readFile(path.join(installed, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest.dependencies ?? {}).toEqual({});
    const files = await readdir(path.join(installed, 'dist'));
    expect(files).toEqual(expect.arrayContaining(['index.js', 'index.d.ts', 'webhook.js', 'types.d.ts']));
    expect(files.filter((f) => f.endsWith('.test.js') || f === '.tsbuildinfo')).toEqual([]);
    // No import of it in any form (the maps carry the sources, whose comments may name it).
    const importsContract = /(?:from\s*|import\s*\(\s*|require\s*\(\s*|import\s+)['"]@revive\/contract/;
    for (const file of files) {
      expect(await readFile(path.join(installed, 'dist', file), 'utf8'), file).not.toMatch(importsContract);
    }
    expect(`import type { JobResponse } from '@revive/contract';`).toMatch(importsContract);
    expect(`export type X = import("@revive/contract").JobResponse;`).toMatch(importsContract);
  });

  it('type-checks an app under strict NodeNext and Bundler resolution, and runs it with Node', async () => {
    const nodeNext = await tsc('tsconfig.json');
    expect(nodeNext.output).toBe('');
    expect(nodeNext.code).toBe(0);
    const bundler = await tsc('tsconfig.bundler.json');
    expect(bundler.output).toBe('');
    expect(bundler.code).toBe(0);

    // A delivery signed as the worker signs it.
    const body = JSON.stringify(jobResponseFromRecord(record));
    const id = webhookMessageId(JOB_ID, 'job.succeeded');
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signWebhook(SECRET, id, timestamp, body) };
    const { stdout } = await run(process.execPath, [path.join(app, 'out', 'main.js')], {
      cwd: app,
      env: { ...env, API_URL: `http://127.0.0.1:${(api.address() as AddressInfo).port}`, HOOK_HEADERS: JSON.stringify(headers), HOOK_BODY: body, SECRET },
    });
    expect(JSON.parse(stdout)).toEqual({ status: 'SUCCEEDED', faces: 0, id, verified: true, tampered: false, missing: 'JOB_NOT_FOUND' });
  });

  it('reports type errors for misuse', async () => {
    const misuse = await tsc('tsconfig.misuse.json');
    expect(misuse.code).not.toBe(0);
    const lines = misuse.output.split('\n').filter((l) => l.startsWith('misuse.ts('));
    // One error per misuse, on its own line: the wrong uploadKey type, the unknown status, the unknown option, the Promise.
    expect(lines.map((l) => Number(/^misuse\.ts\((\d+),/.exec(l)?.[1]))).toEqual([4, 5, 6, 7]);
    expect(misuse.output).not.toMatch(/node_modules/);
  });
});
