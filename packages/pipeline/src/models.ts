// The resolver of the model catalogue (`@revive/contract`'s MODEL_MANIFEST) that turns an id or a path into
// a verified local file, downloading it when it is missing.
import { existsSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { MODEL_MANIFEST, findModel, type ModelEntry, type ModelRole } from '@revive/contract/models';
import { PermanentError } from './errors.js';
import { downloadModel, sha256OfFile } from './model-fetch.js';


/** Environment variables the resolver reads. */
export const MODELS_DIR_ENV = 'REVIVE_MODELS_DIR';
/**
 * A mirror laid out like the models folder (`<base>/detectors/yunet_s_640_640.onnx`); when set, every catalogue
 * model with a sha256 is fetched from it instead of its public URL (tests, air-gapped installs, an S3 bucket).
 */
export const MODELS_BASE_URL_ENV = 'REVIVE_MODELS_BASE_URL';
/** Remembers a verified file's size and mtime beside it, so a 325 MB restorer is hashed once, not every start. */
export const SHA256_SIDECAR_SUFFIX = '.sha256';

/** $REVIVE_MODELS_DIR, else the per-user cache (~/.cache/revive/models, or $XDG_CACHE_HOME/revive/models). */
export function defaultModelsDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env[MODELS_DIR_ENV];
  if (explicit) return path.resolve(explicit);
  const cache = env.XDG_CACHE_HOME || path.join(homedir(), '.cache');
  return path.join(cache, 'revive', 'models');
}

export interface ResolveModelOptions {
  readonly modelsDir: string;
  /** Download a catalogue model that is missing. @default true */
  readonly download?: boolean;
  readonly onProgress?: (receivedBytes: number, totalBytes: number | undefined) => void;
  /** Mirror to download from instead of the public URLs. @default process.env.REVIVE_MODELS_BASE_URL */
  readonly baseUrl?: string;
  /**
   * Expected sha256 instead of the manifest's, for a stand-in file (the local stack's tests serve a generated
   * restorer at GFPGAN's contract). The CLI and the service never set it; see `pnpm start`'s
   * REVIVE_MODELS_TEST_SHA256 for how it is kept from bypassing the published checksums silently.
   */
  readonly sha256?: string;
}

/** Where a catalogue model downloads from: `<baseUrl>/<file>` with a mirror (checksummed models only), else its URL. */
export function modelDownloadUrl(entry: ModelEntry, baseUrl: string | undefined = process.env[MODELS_BASE_URL_ENV]): string | undefined {
  return baseUrl && entry.sha256 !== undefined ? `${baseUrl.replace(/\/+$/, '')}/${entry.file}` : entry.url;
}


interface Sidecar {
  readonly sha256: string;
  readonly bytes: number;
  readonly mtimeMs: number;
}

/**
 * Checks `file` against `sha256`, hashing only when the sidecar does not vouch for this exact size and mtime.
 * Returns the actual digest.
 */
export async function verifyModelFile(file: string, sha256: string): Promise<string> {
  const { size, mtimeMs } = statSync(file);
  const sidecarPath = file + SHA256_SIDECAR_SUFFIX;
  try {
    const sidecar = JSON.parse(await readFile(sidecarPath, 'utf8')) as Partial<Sidecar>;
    if (sidecar.bytes === size && sidecar.mtimeMs === mtimeMs && sidecar.sha256 === sha256.toLowerCase()) return sidecar.sha256;
  } catch {
    // No sidecar, or an unreadable one: hash the file.
  }
  const actual = await sha256OfFile(file);
  if (actual === sha256.toLowerCase()) await rememberVerified(file, actual);
  return actual;
}

/** Records that `file`, as it is now, has `sha256`. */
async function rememberVerified(file: string, sha256: string): Promise<void> {
  const { size, mtimeMs } = statSync(file);
  const sidecar: Sidecar = { sha256, bytes: size, mtimeMs };
  // A read-only models folder (a baked image) just means hashing again next start.
  await writeFile(file + SHA256_SIDECAR_SUFFIX, JSON.stringify(sidecar)).catch(() => undefined);
}

function manualHint(entry: ModelEntry, file: string): string {
  return `Put ${path.basename(entry.file)} there by hand: ${file} (or set ${MODELS_DIR_ENV} to a folder that has ${entry.file}).`;
}

/** A catalogue id or a path to an .onnx file → a verified local path. Offline, fails naming the file, URL and folder. */
export async function resolveModel(idOrPath: string, role: ModelRole, options: ResolveModelOptions): Promise<string> {
  if (idOrPath.toLowerCase().endsWith('.onnx')) {
    const file = path.resolve(idOrPath);
    if (!existsSync(file) || !statSync(file).isFile()) throw new PermanentError('MODEL_UNAVAILABLE', `Model file not found: ${file}`);
    return file;
  }
  const entry = findModel(idOrPath);
  if (!entry) {
    const known = MODEL_MANIFEST.filter((e) => e.role === role).map((e) => e.id);
    throw new PermanentError('CONFIG', `Unknown ${role} '${idOrPath}': use one of ${known.join(', ')}, or a path to an .onnx file`);
  }
  if (entry.role !== role) throw new PermanentError('CONFIG', `'${entry.id}' is a ${entry.role}, not a ${role}`);

  const file = path.join(options.modelsDir, entry.file);
  const sha256 = options.sha256?.toLowerCase() ?? entry.sha256;
  if (existsSync(file)) {
    if (sha256 !== undefined) {
      const actual = await verifyModelFile(file, sha256);
      if (actual !== sha256) {
        throw new PermanentError(
          'MODEL_CHECKSUM',
          `${file} has sha256 ${actual}, expected ${sha256} for '${entry.id}': delete it and fetch it again (revive models fetch ${entry.id}).`,
        );
      }
    }
    return file;
  }

  const url = modelDownloadUrl(entry, options.baseUrl ?? process.env[MODELS_BASE_URL_ENV]);
  if (url === undefined) {
    throw new PermanentError('MODEL_UNAVAILABLE', `'${entry.id}' is not in ${options.modelsDir} and has no known public download. ${manualHint(entry, file)}`);
  }
  if (options.download === false) {
    throw new PermanentError(
      'MODEL_UNAVAILABLE',
      `'${entry.id}' is not in ${options.modelsDir} and downloads are off: run \`revive models fetch ${entry.id}\` (from ${url}). ${manualHint(entry, file)}`,
    );
  }
  await downloadModel({
    url,
    destination: file,
    ...(sha256 !== undefined && { sha256 }),
    ...(options.onProgress && { onProgress: options.onProgress }),
    manualHint: manualHint(entry, file),
  });
  // downloadModel verified the bytes as they arrived: record that so the next start does not hash them again.
  if (sha256 !== undefined) await rememberVerified(file, sha256);
  return file;
}
