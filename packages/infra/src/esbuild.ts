import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';

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

/**
 * Bundling of the Lambdas built from the worker and infra packages (DLQ consumer, webhook retries, scaling signal,
 * GPU release): the local esbuild (never Docker), ESM for Node 22, the SDK bundled so they run the versions the tests
 * ran. No source map: the DLQ consumer's was 5.4 MB, larger than the 1.4 MB bundle it maps, and read at every cold
 * start; keepNames keeps function and class names, so a stack trace still names its frames.
 */
export const LAMBDA_BUNDLING: BundlingOptions = {
  forceDockerBundling: false,
  format: OutputFormat.ESM,
  target: 'node22',
  platform: 'node',
  minify: true,
  sourceMap: false,
  keepNames: true,
  mainFields: ['module', 'main'],
  externalModules: [],
  banner: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
};
