// One lint config for the whole monorepo.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    // packages/worker/kernels: AssemblyScript (compiled to WebAssembly by build-kernels.mjs), not TypeScript.
    ignores: ['**/node_modules/**', '**/dist/**', 'cdk.out/**', '**/cdk.out/**', '**/*.js', '**/*.mjs', '**/*.cjs', 'packages/worker/kernels/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'onnxruntime-node', message: 'Only packages/worker/src/pipeline/inference.ts imports onnxruntime-node.' },
            { name: 'sharp', message: 'Only packages/worker/src/pipeline/image.ts imports sharp.' },
          ],
        },
      ],
    },
  },
  {
    files: ['packages/worker/src/pipeline/inference.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['packages/worker/src/pipeline/image.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
);
