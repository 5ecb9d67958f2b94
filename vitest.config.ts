import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Unit tests (`src/**/*.test.ts`) are pure and fast; `pnpm test:unit` runs every `*:unit` project. Integration
// tests (`test/**/*.test.ts`) talk to the local AWS emulators over HTTP, or run the CDK app; they run one file at a
// time per project because the machine has two cores.

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
    testTimeout: 180_000,
    hookTimeout: 180_000,
    fileParallelism: options.fileParallelism ?? false,
    ...(options.emulators === false ? {} : { globalSetup: ['../local-aws/src/vitest-setup.ts'] }),
  },
});

/**
 * Files run at once, across projects. Vitest's default is one less than the cores, so on a 2-core machine (CI's) it ran
 * every file one after another; the integration files spend most of their time waiting on child processes and the
 * emulators, so three at a time keep both cores busy without a file waiting for a core it does not need. @default 3
 */
const MAX_FILES_AT_ONCE = 3;

export default defineConfig({
  test: {
    maxWorkers: MAX_FILES_AT_ONCE,
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
      // The worker's integration files are most of the suite's time, one at a time within a project: three lanes that
      // run side by side (each its own emulators), so the suite's wall time is not the sum of the worker's files. The
      // lanes share nothing: each file creates its own resources. `--project 'worker:integration*'` runs all three.
      integration('worker', { exclude: ['test/restore-*.test.ts', 'test/image-*.test.ts', 'test/service-crash.test.ts', 'test/service-sigterm.test.ts'] }),
      integration('worker', { lane: 'cli', include: ['test/restore-*.test.ts', 'test/image-*.test.ts'] }),
      integration('worker', { lane: 'shutdown', include: ['test/service-crash.test.ts', 'test/service-sigterm.test.ts'] }),
      unit('api'),
      integration('api'),
      unit('dev-stack'),
      integration('dev-stack'),
      unit('client'),
      integration('client'),
      unit('infra'),
      // The CDK app through assertions and the CDK CLI: no emulators, and its files share nothing, so they run side by side.
      integration('infra', { emulators: false, fileParallelism: true }),
      // README, DEVELOPERS.md, docs/ and the package READMEs against the code: links, settings, routes, codes.
      { test: { name: 'docs:unit', root: repo('scripts/docs'), include: ['*.test.ts'], testTimeout: 30_000 } },
    ],
  },
});
