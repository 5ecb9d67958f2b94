import { existsSync } from 'node:fs';
import path from 'node:path';
import { MODEL_MANIFEST } from '@revive/contract/models';
import { PermanentError } from '@revive/pipeline/errors';
import { defaultModelsDir, resolveModel } from '@revive/pipeline/models';
import { describeError, EXIT_CODES, exitCodeFor } from './exit-codes.js';
import { createDownloadProgress } from './progress.js';

export interface ModelsCommandOptions {
  readonly modelsDir?: string;
}

/** `revive models list`: the manifest, and which files are already in the models folder. */
export function runModelsList(options: ModelsCommandOptions, stdout: NodeJS.WritableStream = process.stdout): number {
  const modelsDir = options.modelsDir ?? defaultModelsDir();
  const rows = MODEL_MANIFEST.map((entry) => [
    entry.id,
    entry.role,
    entry.bytes > 0 ? `${(entry.bytes / 1e6).toFixed(1)} MB` : '?',
    existsSync(path.join(modelsDir, entry.file)) ? 'present' : 'missing',
    entry.file,
  ]);
  const header = ['id', 'role', 'size', 'status', 'file'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)));
  const line = (cells: readonly string[]) => cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  stdout.write(`Models folder: ${modelsDir}\n${line(header)}\n${rows.map(line).join('\n')}\n`);
  return EXIT_CODES.ok;
}

/** `revive models fetch <id...>`: downloads (resuming a partial file) and verifies each model's sha256. */
export async function runModelsFetch(
  ids: readonly string[],
  options: ModelsCommandOptions,
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WriteStream } = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const modelsDir = options.modelsDir ?? defaultModelsDir();
  const unknown = ids.filter((id) => !MODEL_MANIFEST.some((entry) => entry.id === id));
  if (unknown.length > 0) {
    const known = MODEL_MANIFEST.map((entry) => entry.id).join(', ');
    io.stderr.write(`revive models fetch: ${describeError(new PermanentError('CONFIG', `Unknown model id(s): ${unknown.join(', ')}. Known: ${known}`))}\n`);
    return EXIT_CODES.usage;
  }
  let exitCode: number = EXIT_CODES.ok;
  for (const id of ids) {
    const entry = MODEL_MANIFEST.find((candidate) => candidate.id === id);
    if (!entry) continue;
    const progress = createDownloadProgress(io.stderr);
    try {
      const file = await resolveModel(id, entry.role, {
        modelsDir,
        download: true,
        onProgress: (received, total) => progress.update(id, received, total),
      });
      progress.stop();
      io.stdout.write(`${id}: ${file}\n`);
    } catch (error) {
      progress.stop();
      io.stderr.write(`revive models fetch: ${id}: ${describeError(error)}\n`);
      exitCode = exitCodeFor(error);
    }
  }
  return exitCode;
}
