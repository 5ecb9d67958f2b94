// Builds the worker's bundle into dist/: `dist/revive.mjs` (the CLI entry) plus chunks that the commands import on
// demand. Code splitting is what keeps `revive healthcheck` and `revive --help` from loading sharp, onnxruntime-node
// and the AWS SDK: esbuild hoists an external's `import` to the top of whichever file holds the module that uses
// it, so in one single-file bundle every command would load both native modules at start.
//
// The two externals, sharp and onnxruntime-node, are native; they are this package's only `dependencies`, so
// `pnpm deploy --prod` (the Dockerfiles, test/image-layout.test.ts) installs exactly them from the lockfile.
// Everything else is bundled, hence a devDependency.
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('.', import.meta.url));
// `--outdir <dir>` builds elsewhere (test/image-layout.test.ts), leaving the repository's dist/ alone.
const outdirFlag = process.argv.indexOf('--outdir');
const outdir = outdirFlag > 0 && process.argv[outdirFlag + 1] ? path.resolve(process.argv[outdirFlag + 1]) : fileURLToPath(new URL('dist/', import.meta.url));

/** Written beside the bundle: when it was built and from which files. */
export const BUILD_INFO_FILE = 'build-info.json';

/** The runtime's native modules, installed in the image rather than bundled. */
export const EXTERNALS = ['sharp', 'onnxruntime-node'];

/**
 * Modules the pipeline starts as threads of their own, each its own entry in the chunks' folder: the code that starts
 * one finds it beside its own chunk (siblingModule in packages/pipeline/src/thread-start.ts). The pipeline threads
 * need no entry: they start from the chunk that holds pipeline-threads.ts.
 */
const THREAD_ENTRIES = { 'chunks/resample-helper': { entry: '../pipeline/src/resample-helper.ts', startedFrom: '../pipeline/src/resample.ts' } };

// `--if-stale` (`pnpm start`): nothing to do while dist/ is newer than every file it was built from, the same check
// bin/revive.js makes before running it. A rebuild deletes dist/ first, which a worker already running from it
// would not survive, and costs seconds at every start.
if (process.argv.includes('--if-stale') && outdirFlag < 0) {
  const { freshBundle } = await import('./bin/fresh-bundle.js');
  if (freshBundle(outdir) !== undefined) {
    process.stdout.write('dist: up to date\n');
    process.exit(0);
  }
}

// A stale chunk from an earlier build must never be picked up.
await rm(outdir, { recursive: true, force: true });
// Taken before esbuild reads a file: a source saved during the build counts as newer than the bundle.
const startedAtMs = Date.now();
const result = await build({
  absWorkingDir: root,
  entryPoints: { revive: 'src/cli.ts', ...Object.fromEntries(Object.entries(THREAD_ENTRIES).map(([name, { entry }]) => [name, entry])) },
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outdir,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  // Kept: the wrapper (bin/revive.sh in the image) runs node with --enable-source-maps. Node reads a chunk's map
  // only when that chunk loads, so a health check pays for the entry's small map alone.
  sourcemap: true,
  external: EXTERNALS,
  // Bundled CommonJS packages call require(); ESM output has none.
  banner: { js: "import { createRequire as __reviveCreateRequire } from 'node:module'; const require = __reviveCreateRequire(import.meta.url);" },
  metafile: true,
  logLevel: 'warning',
});
// A thread entry that is not beside the chunk that starts it would fail only at run time (its strips then run on the
// calling thread, a warning on stderr): the build refuses that layout instead.
for (const [name, { startedFrom }] of Object.entries(THREAD_ENTRIES)) {
  const outputs = Object.entries(result.metafile.outputs);
  const entryOutput = outputs.find(([, output]) => output.entryPoint === THREAD_ENTRIES[name].entry)?.[0];
  const starters = outputs.filter(([, output]) => Object.hasOwn(output.inputs, startedFrom)).map(([file]) => file);
  if (entryOutput === undefined || starters.length === 0 || starters.some((file) => path.dirname(file) !== path.dirname(entryOutput))) {
    throw new Error(`build.mjs: ${name} (${entryOutput ?? 'not emitted'}) must sit beside the output that holds ${startedFrom} (${starters.join(', ') || 'none'})`);
  }
}
// The models stage's fetcher: one file, no splitting and no map, so that its bytes depend only on what it bundles.
await build({
  absWorkingDir: root,
  entryPoints: { 'models-fetch': 'src/cli/models-fetch.ts' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outdir: path.join(outdir, 'models-fetch'),
  outExtension: { '.js': '.mjs' },
  banner: { js: "import { createRequire as __reviveCreateRequire } from 'node:module'; const require = __reviveCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});

// bin/revive.js runs dist/ only while every one of these files is older than the build (see bin/fresh-bundle.js).
const repoRoot = path.resolve(root, '../..');
const inputs = Object.keys(result.metafile.inputs)
  .filter((file) => !file.includes('node_modules/'))
  .map((file) => path.relative(repoRoot, path.resolve(root, file)));
const watched = [...inputs, 'pnpm-lock.yaml', path.relative(repoRoot, fileURLToPath(import.meta.url))];
await writeFile(path.join(outdir, BUILD_INFO_FILE), `${JSON.stringify({ startedAtMs, inputs: watched }, null, 1)}\n`);
const outputs = Object.entries(result.metafile.outputs).filter(([file]) => file.endsWith('.mjs'));
const total = outputs.reduce((sum, [, output]) => sum + output.bytes, 0);
process.stdout.write(`${path.relative(process.cwd(), outdir) || '.'}: ${outputs.length} files, ${(total / 1e6).toFixed(2)} MB of JavaScript\n`);
