// Where ffmpeg and ffprobe come from, and how they are run. The ones on PATH come first (Debian's in the worker images,
// a developer's own); where none is there, the static binaries that @ffmpeg-installer/ffmpeg and
// @ffprobe-installer/ffprobe ship inside their packages (they install offline; ffmpeg-static downloads at install).
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PermanentError, RetryableError, type WorkerErrorCode } from '../errors.js';

/** The binaries a video step runs, and where they were found. */
export interface FfmpegPaths {
  readonly ffmpeg: string;
  readonly ffprobe: string;
  readonly source: 'path' | 'npm';
}

/** Lines of ffmpeg's stderr kept for an error's reason. @default 20 */
export const STDERR_TAIL_LINES = 20;

function onPath(name: string, searchPath: string): string | undefined {
  for (const dir of searchPath.split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

const cache = new Map<string, FfmpegPaths>();

/**
 * ffmpeg and ffprobe: both from PATH when both are there (a mixed pair could disagree on formats), else both from the
 * npm packages. Fails with CONFIG when neither gives a pair. `env` is the environment whose PATH is searched.
 */
export function ffmpegPaths(env: NodeJS.ProcessEnv = process.env): FfmpegPaths {
  const searchPath = env.PATH ?? '';
  const known = cache.get(searchPath);
  if (known) return known;
  const ffmpeg = onPath('ffmpeg', searchPath);
  const ffprobe = onPath('ffprobe', searchPath);
  let found: FfmpegPaths;
  if (ffmpeg !== undefined && ffprobe !== undefined) {
    found = { ffmpeg, ffprobe, source: 'path' };
  } else {
    try {
      const require = createRequire(import.meta.url);
      const fromNpm = (pkg: string) => (require(pkg) as { path: string }).path;
      found = { ffmpeg: fromNpm('@ffmpeg-installer/ffmpeg'), ffprobe: fromNpm('@ffprobe-installer/ffprobe'), source: 'npm' };
      accessSync(found.ffmpeg, constants.X_OK);
      accessSync(found.ffprobe, constants.X_OK);
    } catch (error) {
      throw new PermanentError('CONFIG', 'ffmpeg and ffprobe are neither on PATH nor installed from npm (@ffmpeg-installer/ffmpeg, @ffprobe-installer/ffprobe)', {
        cause: error,
      });
    }
  }
  cache.set(searchPath, found);
  return found;
}

/** What a finished ffmpeg/ffprobe run gave back. */
export interface ToolRun {
  readonly stdout: string;
  readonly stderrTail: string;
}

/** The last `STDERR_TAIL_LINES` lines of a stderr, for error reasons. */
export function tailOf(stderr: string): string {
  return stderr.trimEnd().split('\n').slice(-STDERR_TAIL_LINES).join('\n');
}

/**
 * Input options for every ffmpeg/ffprobe read of a job's video: only the containers the API accepts (MP4/MOV, Matroska,
 * WebM). Without it a file whose bytes are a DASH manifest (or an HLS playlist) makes ffmpeg fetch the URLs it names,
 * past the address rules the planner's download obeys.
 */
export const INPUT_FORMAT_WHITELIST: readonly string[] = ['-format_whitelist', 'mov,mp4,m4a,3gp,3g2,mj2,matroska,webm'];

/**
 * Runs ffmpeg or ffprobe to the end and returns its stdout. A non-zero exit fails with `code` (permanent: the same
 * input fails again); an abort kills the process and rejects with the signal's reason.
 */
export function runTool(binary: string, args: readonly string[], options: { code: WorkerErrorCode; what: string; signal?: AbortSignal | undefined }): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const { signal } = options;
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      // Only the tail matters; a long run must not grow this without bound.
      stderr = (stderr + chunk.toString('utf8')).slice(-16_384);
    });
    const onAbort = () => child.kill('SIGKILL');
    signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (error) => {
      signal?.removeEventListener('abort', onAbort);
      reject(new RetryableError('INTERNAL', `${options.what}: could not start ${binary}: ${error.message}`, { cause: error }));
    });
    child.on('close', (code, killedBy) => {
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) reject(signal.reason as Error);
      else if (code === 0) resolve({ stdout: Buffer.concat(stdout).toString('utf8'), stderrTail: tailOf(stderr) });
      else reject(new PermanentError(options.code, `${options.what} failed (${killedBy ?? `exit code ${code}`}): ${tailOf(stderr)}`));
    });
  });
}
