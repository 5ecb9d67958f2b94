#!/usr/bin/env node
// `revive` in the repository (`pnpm revive`, the local stack's worker): the built bundle when dist/ is fresh, which
// starts in a fraction of the time, else the sources under tsx. `pnpm build` (or `pnpm start`, which builds first)
// refreshes dist/. The container image does not come through here: its wrapper (bin/revive.sh) runs the bundle.
import { pathToFileURL } from 'node:url';
import { freshBundle } from './fresh-bundle.js';

const bundle = freshBundle();
if (bundle !== undefined) {
  await import(pathToFileURL(bundle).href);
} else {
  if (process.stderr.isTTY) process.stderr.write('revive: dist/ is missing or older than the sources; running them with tsx (pnpm build for a fast start)\n');
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli.ts');
}
