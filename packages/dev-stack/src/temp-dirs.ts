// Temporary folders named for the process that owns them (`revive-<kind>-<pid>-XXXXXX`): the stack's health folder,
// the worker's own folder, the /s3 proxy's upload spools. A process killed with -9 cannot remove its folder; the next
// start removes every such folder whose owner is gone, and never one whose owner still runs: several stacks may run
// at once (tests in parallel), each with folders of its own.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { taskTmpDirPrefix } from '@revive/worker';

/** What a folder holds: the stack's health file, a worker's TMPDIR, an upload being spooled. */
export type OwnedTempKind = 'health' | 'worker' | 's3-upload';

const OWNED = /^revive-(health|worker|s3-upload)-(\d+)-/;

/** The mkdtemp prefix of a folder owned by `pid`. The worker names its own folder with the same convention. */
export function ownedTempPrefix(kind: OwnedTempKind, pid: number = process.pid): string {
  return kind === 'worker' ? taskTmpDirPrefix(pid) : `revive-${kind}-${pid}-`;
}

/** Creates a folder in `dir` named for its owner, this process. */
export async function makeOwnedTempDir(kind: OwnedTempKind, dir: string = tmpdir()): Promise<string> {
  return await mkdtemp(path.join(dir, ownedTempPrefix(kind)));
}

/** True while a process with this pid exists (EPERM: it exists, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the owned folders in `dir` whose owner is gone, or only those of `pid` when it is given (a worker that just
 * died). A folder whose owner runs is kept; a pid the system has since given to another process keeps its folder too,
 * which errs on the safe side. Returns the folders removed.
 */
export async function removeOrphanedTempDirs(options: { readonly dir?: string; readonly pid?: number } = {}): Promise<string[]> {
  const dir = options.dir ?? tmpdir();
  const entries = await readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of entries) {
    const match = OWNED.exec(name);
    if (match === null) continue;
    const owner = Number(match[2]);
    if (options.pid !== undefined ? owner !== options.pid : owner === process.pid || processAlive(owner)) continue;
    const folder = path.join(dir, name);
    await rm(folder, { recursive: true, force: true }).then(
      () => removed.push(folder),
      () => undefined,
    );
  }
  return removed;
}
