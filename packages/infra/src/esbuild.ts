import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';

/**
 * Puts this package's esbuild on PATH. NodejsFunction runs `pnpm exec esbuild` from the project root, which only
 * sees the root's node_modules/.bin; esbuild is a dependency of @revive/infra, so without this `cdk synth` from the
 * root would fall back to Docker bundling (or fail). Returns the directory added.
 */
export function putLocalEsbuildOnPath(): string {
  const binDir = join(dirname(createRequire(import.meta.url).resolve('esbuild/package.json')), 'bin');
  const path = process.env.PATH ?? '';
  if (!path.split(delimiter).includes(binDir)) process.env.PATH = `${binDir}${delimiter}${path}`;
  return binDir;
}
