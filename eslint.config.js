// One lint config for the whole monorepo. The `no-restricted-imports` rules are the house's boundaries: each names
// the one module allowed to import a native library, and the arrows between packages that must not come back.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const NATIVE = [
  { name: 'onnxruntime-node', message: 'Only packages/pipeline/src/inference.ts imports onnxruntime-node.' },
  { name: 'sharp', message: 'Only packages/pipeline/src/image.ts imports sharp.' },
];
/** The pipeline runs anywhere (the CLI, a queue worker, a bench): no AWS, no queue library. */
const NO_AWS = {
  group: ['@aws-sdk/*', '@aws-lambda-powertools/*', 'sqs-consumer', 'aws-lambda'],
  message: '@revive/pipeline is pure: AWS belongs in @revive/worker (service) or @revive/api.',
};
/** The API's Lambdas and the CDK app must not pull in the worker's runtime (sharp, onnxruntime-node, the pipeline). */
const NO_WORKER = {
  group: ['@revive/worker', '@revive/worker/*', '@revive/pipeline', '@revive/dev-stack', '@revive/dev-stack/*'],
  message: 'The API and the infra import no runtime code from the worker, the pipeline or the dev stack: share it through @revive/contract.',
};
/** Product code never imports test helpers. */
const NO_TESTING = { group: ['@revive/pipeline/testing', '**/testing/*', '**/testing/index.js'], message: 'Test helpers are for tests only.' };

export default tseslint.config(
  {
    // packages/pipeline/kernels: AssemblyScript (compiled to WebAssembly by build-kernels.mjs), not TypeScript.
    ignores: ['**/node_modules/**', '**/dist/**', 'cdk.out/**', '**/cdk.out/**', '**/*.js', '**/*.mjs', '**/*.cjs', 'packages/pipeline/kernels/**', '!packages/pipeline/src/*.mjs', '!packages/dev-stack/src/web/*.js'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-imports': ['error', { paths: NATIVE }],
    },
  },
  {
    files: ['packages/pipeline/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: NATIVE, patterns: [NO_AWS] }] },
  },
  {
    // The JavaScript that tsc type-checks (// @ts-check, checkJs): tsc reports undefined names, with the right globals
    // for where the file runs, as it does for TypeScript (typescript-eslint turns no-undef off there for that reason).
    files: ['packages/pipeline/src/*.mjs'],
    languageOptions: { sourceType: 'module' },
    rules: { 'no-undef': 'off', 'no-restricted-imports': ['error', { paths: NATIVE, patterns: [NO_AWS, NO_TESTING] }] },
  },
  {
    // The demo page, browser JavaScript served as is, type-checked by packages/dev-stack/tsconfig.web.json (DOM library;
    // Node's types too, for @revive/client's sources): tsc reports undefined names, this refuses Node's globals.
    files: ['packages/dev-stack/src/web/*.js'],
    languageOptions: { sourceType: 'module' },
    rules: {
      'no-undef': 'off',
      'no-restricted-globals': ['error', ...['process', 'Buffer', 'require', 'module', '__dirname', '__filename', 'global'].map((name) => ({ name, message: 'The demo page runs in a browser.' }))],
    },
  },
  {
    files: ['packages/pipeline/src/**/*.ts', 'packages/worker/src/**/*.ts', 'packages/api/src/**/*.ts', 'packages/dev-stack/src/**/*.ts', 'packages/infra/src/**/*.ts'],
    ignores: ['**/*.test.ts', 'packages/pipeline/src/testing/**'],
    rules: { 'no-restricted-imports': ['error', { paths: NATIVE, patterns: [NO_TESTING] }] },
  },
  {
    files: ['packages/pipeline/src/**/*.ts'],
    ignores: ['**/*.test.ts', 'packages/pipeline/src/testing/**'],
    rules: { 'no-restricted-imports': ['error', { paths: NATIVE, patterns: [NO_AWS, NO_TESTING] }] },
  },
  {
    files: ['packages/api/src/**/*.ts', 'packages/infra/src/**/*.ts', 'packages/infra/bench/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: NATIVE, patterns: [NO_WORKER, NO_TESTING] }] },
  },
  {
    files: ['packages/pipeline/src/inference.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: NATIVE.filter((p) => p.name !== 'onnxruntime-node'), patterns: [NO_AWS, NO_TESTING] }] },
  },
  {
    files: ['packages/pipeline/src/image.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: NATIVE.filter((p) => p.name !== 'sharp'), patterns: [NO_AWS, NO_TESTING] }] },
  },
);
