// `pnpm start`'s models: before anything starts, the detector and the restorer the worker will run are found in
// the models folders or downloaded (progress, resume, sha256: the worker's own fetch code), because `revive serve`
// itself never downloads (images bake their models). Missing the detector ends the start with one message and
// MODELS_MISSING_EXIT_CODE; missing only the default restorer falls back to the generated identity restorer.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { findModel, type ModelEntry, type ModelRole } from '@revive/contract';
import { modelDownloadUrl, ModelDownloadError, resolveModel, WorkerError } from '@revive/pipeline';
import { createDownloadProgress } from '@revive/worker';
import { z } from 'zod';
import { DEFAULT_DETECTOR, DEFAULT_RESTORER } from '@revive/contract';
import { REPO_ROOT, type RestorerChoice } from './stack.js';

/** `pnpm start`'s exit code when the models it needs are missing, refused (checksum) or broke off mid-download. Same as `revive`'s model exit code. */
export const MODELS_MISSING_EXIT_CODE = 3;
/**
 * Test-only: a JSON object `{ "<catalogue id>": "<sha256>" }` of checksums to expect instead of the manifest's,
 * so a test mirror can serve a generated stand-in (GFPGAN's weights can't be downloaded in CI). Accepted only
 * together with a REVIVE_MODELS_BASE_URL on a loopback address, announced on stderr and in the banner, and read
 * only by `pnpm start`: `revive serve`, `revive restore` and `revive models fetch` never see it, so the published
 * checksums can't be bypassed silently.
 */
export const MODELS_TEST_SHA256_ENV = 'REVIVE_MODELS_TEST_SHA256';
/** The folder `pnpm start` looks in after REVIVE_MODELS_DIR: the test data beside the repository, when present. */
export const SHARED_MODELS_DIR = path.resolve(REPO_ROOT, '..', 'shared', 'models');

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const sha256Schema = z.string().regex(/^[0-9a-fA-F]{64}$/, 'a sha256 is 64 hex digits');

const envSchema = z
  .object({
    REVIVE_MODELS_DIR: z.string().min(1).optional(),
    REVIVE_MODELS_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
    REVIVE_MODELS_TEST_SHA256: z
      .string()
      .transform((text, ctx) => {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          ctx.addIssue({ code: 'custom', message: 'not JSON' });
          return z.NEVER;
        }
      })
      .pipe(z.record(z.string().refine((id) => findModel(id) !== undefined, 'not a catalogue id'), sha256Schema))
      .optional(),
    REVIVE_DETECTOR: z.string().min(1).default(DEFAULT_DETECTOR),
    REVIVE_RESTORER: z.string().min(1).optional(),
  })
  .refine((env) => env.REVIVE_MODELS_TEST_SHA256 === undefined || (env.REVIVE_MODELS_BASE_URL !== undefined && LOOPBACK_HOSTS.has(new URL(env.REVIVE_MODELS_BASE_URL).host.replace(/:\d+$/, ''))), {
    message: `${MODELS_TEST_SHA256_ENV} is for tests only: it needs REVIVE_MODELS_BASE_URL on a loopback address (http://127.0.0.1:<port>)`,
    path: [MODELS_TEST_SHA256_ENV],
  });
type ModelsEnv = z.infer<typeof envSchema>;

/** Why `pnpm start` stops before starting anything. */
export type LocalModelsErrorCode = 'CONFIG' | 'MODELS_MISSING' | 'MODEL_CHECKSUM' | 'MODEL_DOWNLOAD';

/** A models problem found before the stack starts; `message` is what the user reads. */
export class LocalModelsError extends Error {
  constructor(
    readonly code: LocalModelsErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LocalModelsError';
  }
}

/** What `pnpm start` hands to the local stack. */
export interface LocalModels {
  /** The base environment plus REVIVE_MODELS_DIR and REVIVE_DETECTOR as the worker must see them. */
  readonly env: NodeJS.ProcessEnv;
  readonly restorer: RestorerChoice;
  /** One line on the detector, for the log. */
  readonly detector: string;
}

export interface ProvisionOptions {
  /** @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Progress lines. @default console.log */
  readonly log?: (line: string) => void;
  /** Where the download bar goes. @default process.stderr */
  readonly progressStream?: NodeJS.WriteStream;
}

/** The per-user cache (~/.cache/revive/models, or $XDG_CACHE_HOME/revive/models), as the worker's CLI uses it. */
function userCacheDir(env: NodeJS.ProcessEnv): string {
  return path.join(env.XDG_CACHE_HOME || path.join(homedir(), '.cache'), 'revive', 'models');
}

type Found =
  | { readonly kind: 'file'; readonly file: string; readonly dir: string | undefined; readonly entry: ModelEntry | undefined; readonly how: string }
  | { readonly kind: 'unavailable'; readonly entry: ModelEntry; readonly reason: string; readonly shortReason: string };

interface Context {
  readonly env: ModelsEnv;
  readonly folders: readonly string[];
  readonly downloadDir: string;
  readonly overrides: Readonly<Record<string, string>>;
  readonly log: (line: string) => void;
  readonly progressStream: NodeJS.WriteStream;
}

function describeCause(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Longest reason the offline fallback line quotes; the full message (URL, where to put the file) is for `models fetch`. */
const MAX_SHORT_REASON_CHARS = 80;

/**
 * Why a download could not start, in a few words: the network error at the bottom of the cause chain (`getaddrinfo
 * ENOTFOUND github.com`) or the HTTP status, not the whole message with its URL and hand-install hint.
 */
function shortDownloadReason(error: ModelDownloadError): string {
  let inner: unknown = error;
  while (inner instanceof Error && inner.cause instanceof Error) inner = inner.cause;
  const http = /HTTP \d{3}[^.:]*/.exec(error.message)?.[0];
  const text = error.stage === 'http' && http !== undefined ? http : inner instanceof Error && inner !== error ? inner.message : 'offline or unreachable';
  return text.length > MAX_SHORT_REASON_CHARS ? `${text.slice(0, MAX_SHORT_REASON_CHARS - 1)}…` : text;
}

/** Finds `idOrPath` in the folders (verified), else downloads it into the download folder. */
async function ensureModel(ctx: Context, idOrPath: string, role: ModelRole, setting: string): Promise<Found> {
  if (idOrPath.toLowerCase().endsWith('.onnx')) {
    const file = path.resolve(idOrPath);
    if (!existsSync(file)) throw new LocalModelsError('CONFIG', `${setting}=${idOrPath}: no such file (${file}).`);
    return { kind: 'file', file, dir: undefined, entry: undefined, how: setting };
  }
  const entry = findModel(idOrPath);
  if (entry?.role !== role) throw new LocalModelsError('CONFIG', `${setting}=${idOrPath} is not a ${role} in the catalogue (pnpm revive models list).`);
  const sha256 = ctx.overrides[entry.id];
  const checked = sha256 === undefined ? 'sha256 verified' : `sha256 from ${MODELS_TEST_SHA256_ENV}: a TEST STAND-IN, not the published ${entry.id}`;
  try {
    for (const dir of ctx.folders) {
      if (!existsSync(path.join(dir, entry.file))) continue;
      const file = await resolveModel(entry.id, role, { modelsDir: dir, download: false, ...(sha256 && { sha256 }) });
      return { kind: 'file', file, dir, entry, how: `${file}, ${checked}` };
    }
    const url = modelDownloadUrl(entry, ctx.env.REVIVE_MODELS_BASE_URL);
    if (url === undefined) return { kind: 'unavailable', entry, reason: 'it has no public download', shortReason: 'no public download' };
    const progress = createDownloadProgress(ctx.progressStream);
    // Announced once bytes arrive: an offline start (every start without the weights) then prints only its one
    // fallback line, not a "downloading" line that is contradicted at once.
    let announced = false;
    const file = await resolveModel(entry.id, role, {
      modelsDir: ctx.downloadDir,
      download: true,
      ...(ctx.env.REVIVE_MODELS_BASE_URL && { baseUrl: ctx.env.REVIVE_MODELS_BASE_URL }),
      ...(sha256 && { sha256 }),
      onProgress: (received, total) => {
        if (!announced) {
          announced = true;
          ctx.log(`${entry.id} is not in ${ctx.folders.join(' or ')}: downloading it from ${url} into ${ctx.downloadDir}`);
        }
        progress.update(entry.id, received, total);
      },
    }).finally(() => progress.stop());
    return { kind: 'file', file, dir: ctx.downloadDir, entry, how: `downloaded from ${url}, ${checked}` };
  } catch (error) {
    // Offline (no connection, no answer) or an HTTP error: the model is just not available here.
    if (error instanceof ModelDownloadError && error.stage !== 'body') return { kind: 'unavailable', entry, reason: error.message, shortReason: shortDownloadReason(error) };
    // Broke off or stalled midway (the .partial file is kept for the next start), or bytes that do not verify:
    // stop, rather than run without a model the user is in the middle of getting.
    const code = error instanceof ModelDownloadError ? 'MODEL_DOWNLOAD' : error instanceof WorkerError && error.code === 'MODEL_CHECKSUM' ? 'MODEL_CHECKSUM' : 'MODEL_DOWNLOAD';
    throw new LocalModelsError(code, `pnpm start: ${entry.id}: ${describeCause(error)}\nNothing was started.`, { cause: error });
  }
}

/** The "models missing" message: what is missing, the command to run once online, and the files to put where. */
function missingMessage(ctx: Context, detector: Found & { kind: 'unavailable' }, restorerId: string | undefined): string {
  const restorer = restorerId === undefined ? undefined : findModel(restorerId);
  const wanted = [detector.entry, ...(restorer ? [restorer] : [])];
  const lines = [
    `pnpm start: the face detector '${detector.entry.id}' is not in ${ctx.folders.join(' or ')} and could not be downloaded:`,
    `  ${detector.reason}`,
    '',
    'Once online, run this once (it downloads into the folder pnpm start reads, with a progress bar and sha256 checks):',
    `  pnpm revive models fetch ${wanted.map((e) => e.id).join(' ')}`,
    '',
    `Or put these files there by hand${ctx.env.REVIVE_MODELS_DIR ? '' : ' (or set REVIVE_MODELS_DIR to a folder that has them)'}:`,
    ...wanted.map(
      (e) =>
        `  ${path.join(ctx.downloadDir, e.file)}\n      from ${modelDownloadUrl(e, ctx.env.REVIVE_MODELS_BASE_URL) ?? '(no public download)'}${e.sha256 ? `\n      sha256 ${e.sha256}` : ''}${e.role === 'restorer' ? '\n      (optional: without it the stack runs an identity restorer that leaves faces unchanged)' : ''}`,
    ),
    '',
    'Nothing was started.',
  ];
  return lines.join('\n');
}

/** The value the worker gets for a model: its catalogue id when it sits in the worker's models folder with the published checksum, else its path. */
function workerSetting(found: Found & { kind: 'file' }, workerDir: string, overrides: Readonly<Record<string, string>>): string {
  const { entry } = found;
  if (entry && found.dir === workerDir && overrides[entry.id] === undefined) return entry.id;
  return found.file;
}

/**
 * Makes sure the detector and the restorer `pnpm start`'s worker will run are on disk, before anything starts.
 * Folders, in order: REVIVE_MODELS_DIR (only it, when set), else ../shared/models (when present) and the per-user
 * cache. A missing model is downloaded into REVIVE_MODELS_DIR, else the per-user cache. Throws
 * {@link LocalModelsError}: MODELS_MISSING when the detector can't be had, MODEL_CHECKSUM / MODEL_DOWNLOAD when a
 * download is refused or breaks off (the partial file stays for the next try).
 */
export async function provisionLocalModels(options: ProvisionOptions = {}): Promise<LocalModels> {
  const base = options.env ?? process.env;
  const parsed = envSchema.safeParse(base);
  if (!parsed.success) {
    throw new LocalModelsError('CONFIG', `pnpm start: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const env = parsed.data;
  const log = options.log ?? ((line: string) => console.log(line));
  const cache = userCacheDir(base);
  const folders = env.REVIVE_MODELS_DIR ? [path.resolve(env.REVIVE_MODELS_DIR)] : [...(existsSync(SHARED_MODELS_DIR) ? [SHARED_MODELS_DIR] : []), cache];
  const overrides = Object.fromEntries(Object.entries(env.REVIVE_MODELS_TEST_SHA256 ?? {}).map(([id, sha]) => [id, sha.toLowerCase()]));
  const ctx: Context = { env, folders, downloadDir: folders[0] === SHARED_MODELS_DIR ? cache : (folders[0] ?? cache), overrides, log, progressStream: options.progressStream ?? process.stderr };
  for (const id of Object.keys(overrides)) {
    console.error(`pnpm start: WARNING ${MODELS_TEST_SHA256_ENV} replaces the published sha256 of '${id}' (test mirror ${env.REVIVE_MODELS_BASE_URL}): a stand-in file will be accepted.`);
  }

  const restorerId = env.REVIVE_RESTORER ?? DEFAULT_RESTORER;
  const detector = await ensureModel(ctx, env.REVIVE_DETECTOR, 'detector', 'REVIVE_DETECTOR');
  if (detector.kind === 'unavailable') {
    throw new LocalModelsError('MODELS_MISSING', missingMessage(ctx, detector, restorerId.endsWith('.onnx') ? undefined : restorerId));
  }
  const restorer = await ensureModel(ctx, restorerId, 'restorer', 'REVIVE_RESTORER');
  let choice: RestorerChoice;
  let workerDir = detector.dir ?? ctx.downloadDir;
  if (restorer.kind === 'file') {
    workerDir = restorer.dir ?? workerDir;
    const real = restorer.entry !== undefined && overrides[restorer.entry.id] === undefined;
    choice = { restorer: workerSetting(restorer, workerDir, overrides), reason: `${real ? `real ${restorer.entry?.id ?? ''} weights: ` : ''}${restorer.how}`, offline: false };
  } else if (env.REVIVE_RESTORER !== undefined) {
    // Asked for by name: running something else instead would hide the problem.
    throw new LocalModelsError('MODELS_MISSING', `pnpm start: REVIVE_RESTORER=${restorerId} is not in ${folders.join(' or ')} and could not be downloaded: ${restorer.reason}\nNothing was started.`);
  } else {
    const { writeIdentityRestorer } = await import('@revive/pipeline');
    const dir = path.join(tmpdir(), 'revive-local-models');
    await mkdir(dir, { recursive: true });
    // The banner's one line about it, every offline start: what runs instead and why, in a few words.
    choice = { restorer: await writeIdentityRestorer(dir), reason: `demo identity restorer: the ${restorerId} weights can't be fetched (${restorer.shortReason})`, offline: true };
  }
  return {
    env: { ...base, REVIVE_MODELS_DIR: workerDir, REVIVE_DETECTOR: workerSetting(detector, workerDir, overrides) },
    restorer: choice,
    detector: `${detector.entry?.id ?? detector.file} (${detector.how})`,
  };
}

/**
 * {@link provisionLocalModels} for `pnpm start`'s main: the models, or the exit code after printing why the
 * stack will not start.
 */
export async function provisionForStart(options: ProvisionOptions = {}): Promise<LocalModels | number> {
  try {
    const models = await provisionLocalModels(options);
    (options.log ?? console.log)(`detector      ${models.detector}`);
    return models;
  } catch (error) {
    if (!(error instanceof LocalModelsError)) throw error;
    console.error(error.message);
    return error.code === 'CONFIG' ? 2 : MODELS_MISSING_EXIT_CODE;
  }
}
