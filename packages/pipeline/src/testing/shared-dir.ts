import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * The test-data folder (`../shared` beside the repository): real detectors, upscalers and photos.
 * Never committed; `REVIVE_SHARED_DIR` overrides where it is.
 */
export function sharedDir(): string {
  const dir = process.env.REVIVE_SHARED_DIR ?? path.resolve(import.meta.dirname, '../../../../../shared');
  if (!existsSync(path.join(dir, 'models'))) {
    throw new Error(`Test data not found at ${dir}: put the shared folder beside the repository or set REVIVE_SHARED_DIR.`);
  }
  return dir;
}
