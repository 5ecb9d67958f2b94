// What the CDK app ships, read from the synthesized assembly: the worker image's build (its models as build
// arguments, its build context) and the Lambda bundles (what each carries). The Docker image itself can't be built
// here; the Dockerfiles are read for the parts that connect to the app.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { pathToFileURL } from 'node:url';
import { API_ROUTES as CONTRACT_ROUTES, MODEL_MANIFEST, OPENAPI_DOCUMENT_FILE } from '@revive/contract';
import type { App, CfnElement } from 'aws-cdk-lib';
import { beforeAll, describe, expect, it } from 'vitest';
import { API_HANDLERS } from '../src/api.js';
import { bakeableModelIds, GPU_PROVIDER_NUPKG_URL, loadReviveConfig, ReviveConfigError } from '../src/config.js';
import { REPO_ROOT } from '../src/paths.js';
import { WORKER_DOCKERFILES } from '../src/worker.js';
import { BASE_CONTEXT, synthesize, type Synthesized } from './synth.js';

const run = promisify(execFile);
const jwtArgs = ['-c', `jwtIssuer=${BASE_CONTEXT.jwtIssuer}`, '-c', `jwtAudience=${BASE_CONTEXT.jwtAudience}`];

/** Runs `cdk synth` through the CLI with `args`; resolves with its output when it fails, undefined when it succeeds. */
async function synthFailure(args: readonly string[]): Promise<string | undefined> {
  const outdir = mkdtempSync(join(tmpdir(), 'revive-cli-'));
  return await run('pnpm', ['exec', 'cdk', 'synth', '--quiet', '-o', outdir, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, CDK_DISABLE_VERSION_CHECK: 'true' },
  }).then(
    () => undefined,
    (error: { stderr?: string; stdout?: string }) => `${error.stdout ?? ''}${error.stderr ?? ''}`,
  );
}
/** The openapi Lambda's asset (bundle and document) stays under this. */
const OPENAPI_MAX_ASSET_BYTES = 400 * 1024;
const SETTING_OF_ROLE = { restorer: 'restorer', detector: 'detector', upsampler: 'bgUpsampler' } as const;
const BUILD_ARG_OF_ROLE = { restorer: 'REVIVE_RESTORER', detector: 'REVIVE_DETECTOR', upsampler: 'REVIVE_BG_UPSAMPLER' } as const;

type DockerAsset = { source: { directory: string; dockerFile?: string; dockerBuildArgs?: Record<string, string> } };
type LambdaResource = { Properties: { Code: { S3Key: string }; Environment?: { Variables?: Record<string, unknown> } } };

function configWith(context: Record<string, unknown>) {
  const all: Record<string, unknown> = { ...BASE_CONTEXT, ...context };
  return loadReviveConfig((key) => all[key]);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)));
}

/** The files `pnpm install` reads besides the manifests: the workspace file, the lockfile, each patch it names. */
function pnpmInputs(): string[] {
  const workspace = readFileSync(join(REPO_ROOT, 'pnpm-workspace.yaml'), 'utf8');
  const block = /^patchedDependencies:\n((?:[ \t]+\S.*\n?)*)/m.exec(workspace)?.[1] ?? '';
  const patches = [...block.matchAll(/^[ \t]+['"]?[^:\s]+['"]?:\s*['"]?([^'"\s#]+)/gm)].map((match) => match[1]!);
  // A block this parser misreads would make the checks below pass vacuously.
  if (/^patchedDependencies:/m.test(workspace) && patches.length === 0) throw new Error('pnpm-workspace.yaml: patchedDependencies not parsed');
  return ['pnpm-workspace.yaml', 'pnpm-lock.yaml', ...patches];
}

/** A Dockerfile's named stages: the image each is built FROM and its instructions. */
function stagesOf(dockerfile: string): Map<string, { base: string; body: string }> {
  const stages = new Map<string, { base: string; body: string }>();
  for (const part of dockerfile.split(/^(?=FROM )/m)) {
    const header = /^FROM\s+(\S+)\s+AS\s+(\S+)/i.exec(part);
    if (header !== null) stages.set(header[2]!, { base: header[1]!, body: part });
  }
  return stages;
}

/** COPY sources (from the build context) of a stage and of the stages it is built FROM. */
function copiedInto(stages: Map<string, { base: string; body: string }>, stage: string): string[] {
  const sources: string[] = [];
  for (let name: string | undefined = stage; name !== undefined; name = stages.get(name)?.base) {
    for (const copy of stages.get(name)?.body.matchAll(/^COPY\s+(?!--from)(?:--\S+\s+)*(.+)$/gm) ?? []) {
      sources.push(...copy[1]!.trim().split(/\s+/).slice(0, -1));
    }
  }
  return sources;
}

describe('models: what synth accepts, the image bakes', () => {
  const cases = [
    ...MODEL_MANIFEST.map((entry) => ({ role: entry.role, id: entry.id })),
    // Paths and unknown ids: nothing puts such a file into the image.
    { role: 'restorer' as const, id: '/models/restorers/mine.onnx' },
    { role: 'detector' as const, id: 'no-such-detector' },
  ];

  it.each(cases)('$role $id: baked with a download and a sha256, or refused at synth with a message', ({ role, id }) => {
    const setting = SETTING_OF_ROLE[role];
    const entry = MODEL_MANIFEST.find((candidate) => candidate.id === id && candidate.role === role);
    let accepted = true;
    try {
      const config = configWith({ [setting]: id });
      expect(config[setting]).toBe(id);
    } catch (error) {
      accepted = false;
      expect(error).toBeInstanceOf(ReviveConfigError);
      const message = (error as Error).message;
      expect(message).toContain(`${setting}: '${id}' can't be baked into the worker image`);
      // The message names what would work.
      for (const bakeable of bakeableModelIds(role)) expect(message).toContain(bakeable);
    }
    // Accepted exactly when the models stage can fetch and verify it: a URL and a sha256 in the manifest.
    expect(accepted).toBe(entry?.url !== undefined && entry.sha256 !== undefined);
  });

  it.each(Object.entries(WORKER_DOCKERFILES))('%s image: the models stage fetches the build arguments the app passes', (_mode, file) => {
    const dockerfile = readFileSync(join(REPO_ROOT, file), 'utf8');
    const models = dockerfile.slice(dockerfile.indexOf(' AS models'));
    for (const arg of Object.values(BUILD_ARG_OF_ROLE)) {
      expect(models).toMatch(new RegExp(`^ARG ${arg}(=|$)`, 'm'));
      expect(models).toContain(`\${${arg}}`);
    }
    // The default models come from the app (contract's DEFAULT_RESTORER/DEFAULT_DETECTOR), never from a literal here:
    // the two it always passes are required, and an image built without them stops before fetching anything.
    for (const arg of [BUILD_ARG_OF_ROLE.detector, BUILD_ARG_OF_ROLE.restorer]) {
      expect(dockerfile).not.toMatch(new RegExp(`^ARG ${arg}=`, 'm'));
      expect(models).toContain(`\${${arg}:?`);
    }
    expect(models).toMatch(/node \/opt\/revive\/models-fetch\.mjs \$\{REVIVE_DETECTOR\} \$\{REVIVE_RESTORER\} \$\{REVIVE_BG_UPSAMPLER\}$/m);
    // Every base pinned by digest.
    for (const base of dockerfile.matchAll(/^ARG (?:NODE|CUDA)_IMAGE=(\S+)$/gm)) expect(base[1]).toMatch(/@sha256:[0-9a-f]{64}$/);
    expect(dockerfile).toMatch(/^ARG PNPM_VERSION=\d+\.\d+\.\d+$/m);
  });

  it.each(Object.entries(WORKER_DOCKERFILES))('%s image: installs ffmpeg and ffprobe from the base distribution at a pinned version, in the final stage', (_mode, file) => {
    const dockerfile = readFileSync(join(REPO_ROOT, file), 'utf8');
    const pinned = /^ARG FFMPEG_VERSION=(\S+)$/m.exec(dockerfile);
    // An epoch-qualified Debian/Ubuntu package version (7:5.1.9-0+deb12u1), never a floating one.
    expect(pinned?.[1]).toMatch(/^\d+:\d+\.\d+(\.\d+)?-\S+$/);
    const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    expect(finalStage).not.toMatch(/^FROM \S+ AS /);
    expect(finalStage).toMatch(/^ARG FFMPEG_VERSION$/m);
    expect(finalStage).toContain('apt-get install --yes --no-install-recommends "ffmpeg=${FFMPEG_VERSION}"');
    expect(finalStage).toContain('ffprobe -hide_banner -version');
    // Before USER: apt runs as root, the worker does not.
    expect(finalStage.indexOf('ffmpeg=')).toBeLessThan(finalStage.indexOf('\nUSER '));
  });

  it('refuses gpu mode without gpuProviderSha256 through the CDK CLI, saying how to compute it', async () => {
    const failed = await synthFailure([...jwtArgs, '-c', 'workerMode=gpu']);
    expect(failed, 'cdk synth exits non-zero').toBeDefined();
    expect(failed).toContain('gpuProviderSha256: required in workerMode gpu');
    expect(failed).toContain(`curl -fsSL ${GPU_PROVIDER_NUPKG_URL} | sha256sum`);
  }, 180_000);

  it('sizes maxTasks from -c peakJobsPerSecond through the CDK CLI with the repository cdk.json', async () => {
    const outdir = mkdtempSync(join(tmpdir(), 'revive-cli-'));
    await run('pnpm', ['exec', 'cdk', 'synth', '--quiet', '-o', outdir, ...jwtArgs, '-c', 'peakJobsPerSecond=2'], {
      cwd: REPO_ROOT,
      env: { ...process.env, CDK_DISABLE_VERSION_CHECK: 'true' },
    });
    const template = JSON.parse(readFileSync(join(outdir, 'Revive.template.json'), 'utf8')) as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
    const targets = Object.values(template.Resources).filter((r) => r.Type === 'AWS::ApplicationAutoScaling::ScalableTarget');
    expect(targets).toHaveLength(1);
    // cpu: 2 jobs/s × 2.34 s a job at 80 % busy = 5.85 tasks.
    expect(targets[0]!.Properties.MaxCapacity).toBe(6);
  }, 300_000);

  it('refuses an unbakeable restorer through the CDK CLI too', async () => {
    const failed = await synthFailure(['-c', 'restorer=codeformer']);
    expect(failed, 'cdk synth exits non-zero').toBeDefined();
    expect(failed).toContain("restorer: 'codeformer' can't be baked into the worker image");
  }, 180_000);
});

describe('the synthesized artifacts', () => {
  let synth: Synthesized;
  let cdkOut: string;
  beforeAll(() => {
    synth = synthesize({ restorer: 'gfpgan-1.3' });
    cdkOut = (synth.stack.node.root as App).outdir;
  }, 180_000);

  it('passes the models to the image build, to the task, and to the API handlers as the models a job may ask for', () => {
    const images = Object.values(synth.assets.dockerImages) as DockerAsset[];
    expect(images).toHaveLength(1);
    expect(images[0]!.source.dockerBuildArgs).toEqual({ REVIVE_RESTORER: 'gfpgan-1.3', REVIVE_DETECTOR: 'yunet' });
    const task = Object.values(synth.template.findResources('AWS::ECS::TaskDefinition'))[0] as {
      Properties: { ContainerDefinitions: { Environment: { Name: string; Value: unknown }[] }[] };
    };
    const env = Object.fromEntries(task.Properties.ContainerDefinitions[0]!.Environment.map((e) => [e.Name, e.Value]));
    expect(env).toMatchObject({ REVIVE_RESTORER: 'gfpgan-1.3', REVIVE_DETECTOR: 'yunet' });
    // POST /jobs refuses any other restorer (422 UNSUPPORTED_MODEL) instead of queueing a job the worker would fail.
    for (const name of API_HANDLERS) {
      const id = synth.stack.getLogicalId(synth.stack.api.functions[name].node.defaultChild as CfnElement);
      const fn = synth.template.toJSON().Resources[id] as LambdaResource;
      expect(fn.Properties.Environment?.Variables?.REVIVE_AVAILABLE_MODELS, name).toBe('restorer:gfpgan-1.3');
    }
  });

  it("sends the image build only what the Dockerfiles copy, so README or infra edits don't rebuild it", () => {
    const image = Object.values(synth.assets.dockerImages)[0] as DockerAsset;
    const files = filesUnder(join(cdkOut, image.source.directory));
    for (const needed of ['pnpm-lock.yaml', 'packages/worker/Dockerfile', 'packages/worker/build.mjs', 'packages/worker/src/cli.ts', 'packages/worker/bin/revive.sh', 'packages/contract/src/index.ts', 'packages/infra/package.json']) {
      expect(files).toContain(needed);
    }
    const unwanted = files.filter(
      (file) => /(^|\/)README\.md$|\.test\.ts$|^packages\/(infra|api|dev-stack|client|local-aws)\/src\/|^packages\/(worker|pipeline)\/(test|bench)\/|\/testing\/|node_modules|^cdk\.json$/.test(file),
    );
    expect(unwanted).toEqual([]);
  });

  it.each(Object.entries(WORKER_DOCKERFILES))('%s image: every file pnpm install reads is sent and copied before it runs', (_mode, file) => {
    const image = Object.values(synth.assets.dockerImages)[0] as DockerAsset;
    const sent = filesUnder(join(cdkOut, image.source.directory));
    const needed = pnpmInputs();
    const stages = stagesOf(readFileSync(join(REPO_ROOT, file), 'utf8'));
    // `pnpm deploy` installs too.
    const installing = [...stages].filter(([, { body }]) => /^RUN pnpm .*\b(install|deploy)\b/m.test(body)).map(([name]) => name);
    expect(installing.length).toBeGreaterThan(0);
    for (const path of needed) {
      expect(sent, `${path} is allowed by .dockerignore`).toContain(path);
      for (const stage of installing) {
        const sources = copiedInto(stages, stage);
        expect(sources.some((source) => source === path || path.startsWith(`${source.replace(/\/$/, '')}/`)), `${file} stage ${stage} copies ${path}`).toBe(true);
      }
    }
  });

  it('bundles into each Lambda only the SDK clients its route uses, without source maps', () => {
    // String constants each client's protocol code carries (minification keeps them).
    const markers = { dynamodb: 'DynamoDB_20120810', sqs: 'AmazonSQS', s3: 'ListBuckets' } as const;
    const expected: Record<(typeof API_HANDLERS)[number], (keyof typeof markers)[]> = {
      'create-upload': ['s3'],
      'create-multipart-upload': ['s3'],
      'complete-multipart-upload': ['s3'],
      'abort-multipart-upload': ['s3'],
      'sign-multipart-upload-parts': ['s3'],
      'create-job': ['dynamodb', 'sqs', 's3'],
      'create-video': ['dynamodb', 'sqs', 's3'],
      'create-album': ['dynamodb', 'sqs', 's3'],
      'get-job': ['dynamodb', 's3'],
      'list-jobs': ['dynamodb', 's3'],
      'list-children': ['dynamodb', 's3'],
      'cancel-job': ['dynamodb'],
      openapi: [],
      'sweep-enqueue': ['dynamodb', 'sqs'],
    };
    const sizes: string[] = [];
    for (const name of API_HANDLERS) {
      const id = synth.stack.getLogicalId(synth.stack.api.functions[name].node.defaultChild as CfnElement);
      const fn = synth.template.toJSON().Resources[id] as LambdaResource;
      const assetDir = join(cdkOut, `asset.${fn.Properties.Code.S3Key.replace(/\.zip$/, '')}`);
      expect(readdirSync(assetDir).sort()).toEqual(name === 'openapi' ? ['index.mjs', OPENAPI_DOCUMENT_FILE] : ['index.mjs']);
      const bundle = readFileSync(join(assetDir, 'index.mjs'), 'utf8');
      const carried = (Object.keys(markers) as (keyof typeof markers)[]).filter((client) => bundle.includes(markers[client]));
      expect(carried, name).toEqual(expected[name]);
      const variables = fn.Properties.Environment?.Variables ?? {};
      expect(variables.POWERTOOLS_SERVICE_NAME).toBe(`api-${name}`);
      expect(variables.NODE_OPTIONS).toBeUndefined();
      sizes.push(`${name} ${(statSync(join(assetDir, 'index.mjs')).size / 1e6).toFixed(2)} MB`);
    }
    console.log(`Lambda bundles: ${sizes.join(', ')}`);
  });

  it('ships the openapi Lambda under 400 KB, without zod, serving the document built at bundling from the route table', async () => {
    const id = synth.stack.getLogicalId(synth.stack.api.functions.openapi.node.defaultChild as CfnElement);
    const fn = synth.template.toJSON().Resources[id] as LambdaResource;
    const assetDir = join(cdkOut, `asset.${fn.Properties.Code.S3Key.replace(/\.zip$/, '')}`);
    const sizes = Object.fromEntries(readdirSync(assetDir).map((file) => [file, statSync(join(assetDir, file)).size]));
    const total = Object.values(sizes).reduce((sum, size) => sum + size, 0);
    console.log(`openapi Lambda asset: ${Object.entries(sizes).map(([file, size]) => `${file} ${(size / 1024).toFixed(1)} KB`).join(', ')}; ${(total / 1024).toFixed(1)} KB in all`);
    // It was 508 KB when it built the document with zod at cold start; now the bundle and the document together.
    expect(total).toBeLessThanOrEqual(OPENAPI_MAX_ASSET_BYTES);
    // zod's error class name survives minification in any bundle that carries zod.
    expect(readFileSync(join(assetDir, 'index.mjs'), 'utf8')).not.toContain('ZodError');

    // The bundle as Lambda runs it, from its own folder: it reads the document beside it and adds the caller's URL.
    const { handler } = (await import(pathToFileURL(join(assetDir, 'index.mjs')).href)) as { handler: (event: unknown) => Promise<{ statusCode: number; headers: Record<string, string>; body: string }> };
    const domainName = 'abc123.execute-api.eu-west-1.amazonaws.com';
    const res = await handler({
      version: '2.0',
      routeKey: 'GET /openapi.json',
      rawPath: '/openapi.json',
      headers: { host: domainName, 'x-forwarded-proto': 'https' },
      requestContext: { domainName, stage: '$default', http: { method: 'GET', path: '/openapi.json' }, requestId: 'r', routeKey: 'GET /openapi.json' },
      isBase64Encoded: false,
    });
    expect(res.statusCode).toBe(200);
    const doc = JSON.parse(res.body) as { openapi: string; servers: { url: string }[]; paths: Record<string, Record<string, { operationId: string }>> };
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.servers).toEqual([{ url: `https://${domainName}` }]);
    for (const route of CONTRACT_ROUTES) expect(doc.paths[route.path]?.[route.method.toLowerCase()]?.operationId, `${route.method} ${route.path}`).toBe(route.operationId);
  });

  it('ships the dead-letter Lambda without a source map, with function names kept for stack traces', () => {
    const id = synth.stack.getLogicalId(synth.stack.deadLetters.function.node.defaultChild as CfnElement);
    const fn = synth.template.toJSON().Resources[id] as LambdaResource;
    const assetDir = join(cdkOut, `asset.${fn.Properties.Code.S3Key.replace(/\.zip$/, '')}`);
    expect(readdirSync(assetDir).sort()).toEqual(['index.mjs']);
    const bytes = statSync(join(assetDir, 'index.mjs')).size;
    // The bundle was 1.4 MB beside a 5.4 MB map; the whole asset now stays under 2 MB.
    expect(bytes).toBeLessThan(2e6);
    expect(fn.Properties.Environment?.Variables?.NODE_OPTIONS).toBeUndefined();
    // keepNames: the handler's own function names survive minification (esbuild's `__name(fn, "name")`, minified),
    // so stack traces name their frames. Without keepNames the exported handler is a bare minified identifier.
    expect(readFileSync(join(assetDir, 'index.mjs'), 'utf8')).toMatch(/[\w$]+\([\w$]+,"handler"\);export/);
    console.log(`dead-letter bundle ${(bytes / 1e6).toFixed(2)} MB`);
  });
});
