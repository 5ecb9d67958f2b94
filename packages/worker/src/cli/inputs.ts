import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { PermanentError } from '@revive/pipeline/errors';

/** Extensions picked up when a folder is walked; a file named explicitly is always tried, whatever its name. */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.gif', '.avif', '.heic', '.heif']);

/** Video extensions picked up when a folder is walked: restored as videos, beside the photos. */
export const VIDEO_EXTENSIONS: ReadonlySet<string> = new Set(['.mp4', '.mov', '.m4v', '.mkv', '.webm']);

/** Whether `file` is restored as a video (by its extension). */
export function isVideoFile(file: string): boolean {
  return VIDEO_EXTENSIONS.has(path.extname(file).toLowerCase());
}

/**
 * Expands files and folders (walked recursively, sorted, hidden entries skipped) into image and video paths, in the order
 * given, without duplicates. A path that does not exist is a usage error: nothing has been done yet.
 */
export async function collectInputs(paths: readonly string[], excludeDir?: string): Promise<string[]> {
  // An output folder inside an input folder must not feed a run's results back into it.
  const excluded = excludeDir === undefined ? undefined : path.resolve(excludeDir);
  const found: string[] = [];
  const seen = new Set<string>();
  const add = (file: string) => {
    if (!seen.has(file)) {
      seen.add(file);
      found.push(file);
    }
  };
  for (const given of paths) {
    const absolute = path.resolve(given);
    const info = await stat(absolute).catch((cause: unknown) => {
      throw new PermanentError('CONFIG', `Input not found: ${given}`, { cause });
    });
    if (info.isDirectory()) {
      for (const file of await walk(absolute, excluded)) add(file);
    } else {
      add(absolute);
    }
  }
  return found;
}

async function walk(dir: string, excluded: string | undefined): Promise<string[]> {
  if (dir === excluded) return [];
  const entries = (await readdir(dir, { withFileTypes: true }))
    .filter((entry) => !entry.name.startsWith('.'))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const files: string[] = [];
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await walk(full, excluded)));
    else if (entry.isFile() && (IMAGE_EXTENSIONS.has(path.extname(entry.name).toLowerCase()) || isVideoFile(entry.name))) files.push(full);
  }
  return files;
}
