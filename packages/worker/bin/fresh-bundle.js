// Decides whether dist/ may run instead of the sources: only when it was built after the last change to every
// file it was built from (dist/build-info.json, written by build.mjs). A stale bundle would run yesterday's code
// without a word, so when in doubt the answer is no.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
const REPO_ROOT = path.resolve(PACKAGE_DIR, '../..');

/** The bundle's entry file when dist/ is newer than all of its inputs, else undefined. */
export function freshBundle(distDir = path.join(PACKAGE_DIR, 'dist')) {
  try {
    const info = JSON.parse(readFileSync(path.join(distDir, 'build-info.json'), 'utf8'));
    if (typeof info.startedAtMs !== 'number' || !Array.isArray(info.inputs) || info.inputs.length === 0) return undefined;
    for (const input of info.inputs) {
      if (statSync(path.join(REPO_ROOT, input)).mtimeMs >= info.startedAtMs) return undefined;
    }
    return path.join(distDir, 'revive.mjs');
  } catch {
    // No build, an unreadable record, or an input that no longer exists.
    return undefined;
  }
}
