import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

// Unit tests (`src/**/*.test.ts`) are pure and fast; `pnpm test:unit` runs every `*:unit` project. Integration
// tests (`test/**/*.test.ts`) talk to the local AWS emulators over HTTP, or run the CDK app. Every file may run beside
// any other (MAX_FILES_AT_ONCE across projects): each file creates its own resources with a unique prefix, starts its
// own workers and servers on ports the kernel picks, and waits on events with ceilings, never on the clock.

/**
 * A folder of the repository as an absolute path: a relative project root resolves against the working directory,
 * so a package's own `pnpm test` (vitest --root ../.. from packages/<pkg>) found no test files.
 */
const repo = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));
const unit = (pkg: string) => ({
  test: { name: `${pkg}:unit`, root: repo(`packages/${pkg}`), include: ['src/**/*.test.ts'], testTimeout: 30_000 },
});
const integration = (
  pkg: string,
  options: { emulators?: boolean; fileParallelism?: boolean; lane?: string; include?: readonly string[]; exclude?: readonly string[] } = {},
) => ({
  test: {
    name: options.lane === undefined ? `${pkg}:integration` : `${pkg}:integration:${options.lane}`,
    root: repo(`packages/${pkg}`),
    include: [...(options.include ?? ['test/**/*.test.ts'])],
    ...(options.exclude === undefined ? {} : { exclude: [...options.exclude] }),
    // Ceilings, not expectations: only a failing test waits this long. Three files at once beside a busy loop (CI)
    // make a worker's start and a seconds-long job take minutes; the tests' own waits are up to JOB_END_CEILING_MS.
    testTimeout: 600_000,
    hookTimeout: 600_000,
    // Vitest 4 runs every file of every project without file parallelism in ONE group, one file at a time, after
    // everything else (groupSpecs in its pool), whatever the project: so a project turns it off only with a reason.
    fileParallelism: options.fileParallelism ?? true,
    ...(options.emulators === false ? {} : { globalSetup: ['../local-aws/src/vitest-setup.ts'] }),
  },
});

/**
 * Files run at once, across projects. Vitest's default is one less than the cores, so on a 2-core machine (CI's) it ran
 * every file one after another; the integration files spend most of their time waiting on child processes and the
 * emulators, so three at a time keep both cores busy without a file waiting for a core it does not need. @default 3
 */
const MAX_FILES_AT_ONCE = 3;

/**
 * Seconds each of the suite's longest files took in CI (a fresh clone, 2 cores, beside the busy loop; 2026-12-06), so
 * that they start first. Vitest's own order puts projects in alphabetical order and, without a results cache (a fresh
 * clone has none), larger files first: the worker's 290 s SIGTERM file started last and ran alone for minutes at the
 * end. Longest first keeps every worker busy to the end. Files not listed start after these, in vitest's order; a
 * stale figure only changes the order, never what runs.
 */
const KNOWN_LONG_FILES_SECONDS: Readonly<Record<string, number>> = {
  'worker:integration:sigterm packages/worker/test/service-sigterm.test.ts': 237,
  // Its idle-window tests wait out a 20 s window and run a stuck job beside a second worker.
  'worker:integration packages/worker/test/service-protection.test.ts': 100,
  'worker:integration:crash packages/worker/test/service-crash.test.ts': 60,
  'infra:integration packages/infra/test/artifacts.test.ts': 62,
  'pipeline:integration packages/pipeline/test/pipeline-threads.test.ts': 110,
  'worker:integration packages/worker/test/service-memory.test.ts': 49,
  'worker:integration packages/worker/test/service-hardening.test.ts': 46,
  'dev-stack:integration packages/dev-stack/test/local-supervisor.test.ts': 30,
  'dev-stack:integration packages/dev-stack/test/videos.test.ts': 25,
  // Two CPU runs of the GFPGAN-sized stand-in in PyTorch (2026-12-06, 2 cores beside other work).
  'pipeline:integration packages/pipeline/test/device-check.test.ts': 25,
};

/** Runs the files known to be long first (longest first), then the rest in vitest's own order. */
class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const root = repo('.');
    const seconds = (file: TestSpecification) =>
      KNOWN_LONG_FILES_SECONDS[`${file.project.name} ${file.moduleId.slice(root.length)}`] ?? 0;
    // Array.prototype.sort is stable: files with no figure keep vitest's order among themselves.
    return sorted.sort((a, b) => seconds(b) - seconds(a));
  }
}

export default defineConfig({
  test: {
    maxWorkers: MAX_FILES_AT_ONCE,
    sequence: { sequencer: LongestFirstSequencer },
    env: {
      // The AWS SDK's notice that it will need Node 22 in 2027: CI runs Node 20, production runs Node 22.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      // EMF lines on stdout are noise in tests; the worker tests that read metrics turn them back on per process.
      POWERTOOLS_METRICS_DISABLED: 'true',
    },
    projects: [
      unit('contract'),
      integration('local-aws'),
      unit('pipeline'),
      integration('pipeline', { emulators: false }),
      unit('worker'),
      // The worker's integration files in lanes (each its own emulators; each file creates its own resources), so that
      // one lane can be run on its own and the emulators' load is spread. `--project 'worker:integration*'` runs all.
      integration('worker', { exclude: ['test/restore-*.test.ts', 'test/image-*.test.ts', 'test/service-crash.test.ts', 'test/service-sigterm.test.ts'] }),
      integration('worker', { lane: 'cli', include: ['test/restore-*.test.ts', 'test/image-*.test.ts'] }),
      // The two shutdown files are the suite's longest (kill -9 and SIGTERM mid-job, and SIGTERM 20 times over): a lane
      // each, and first in the order (KNOWN_LONG_FILES_SECONDS).
      integration('worker', { lane: 'crash', include: ['test/service-crash.test.ts'] }),
      integration('worker', { lane: 'sigterm', include: ['test/service-sigterm.test.ts'] }),
      unit('api'),
      integration('api'),
      unit('dev-stack'),
      integration('dev-stack'),
      unit('client'),
      integration('client'),
      unit('infra'),
      // The CDK app through assertions and the CDK CLI: no emulators.
      integration('infra', { emulators: false }),
      // README, DEVELOPERS.md, docs/ and the package READMEs against the code: links, settings, routes, codes.
      { test: { name: 'docs:unit', root: repo('scripts/docs'), include: ['*.test.ts'], testTimeout: 30_000 } },
    ],
  },
});
