// Downloads one model file: streamed to `<file>.partial`, resumed with an HTTP Range request, checked against
// its sha256 before it is renamed into place, so a half-written or corrupt file never sits at the real path.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { PermanentError } from './errors.js';

/** 30 s without a response (headers) gives up: long enough for a slow mirror, short enough to fail offline. */
export const DEFAULT_DOWNLOAD_CONNECT_TIMEOUT_MS = 30_000;
/**
 * 30 s without a single body byte gives up, keeping what arrived for a resume: a stalled connection (a proxy that
 * holds it open, a CDN that stops sending) must fail, not hang a build or `pnpm start` forever.
 */
export const DEFAULT_DOWNLOAD_IDLE_TIMEOUT_MS = 30_000;
/** Suffix of the file a download is written to until its checksum is verified. */
export const PARTIAL_SUFFIX = '.partial';

export interface DownloadOptions {
  readonly url: string;
  /** Final path; the download goes to `${destination}.partial` first. */
  readonly destination: string;
  /** Expected sha256 (hex). Without it the file is accepted unverified. */
  readonly sha256?: string;
  /** Called as bytes arrive; `totalBytes` is undefined when the server does not say. */
  readonly onProgress?: (receivedBytes: number, totalBytes: number | undefined) => void;
  /** Time allowed until the response headers arrive. @default DEFAULT_DOWNLOAD_CONNECT_TIMEOUT_MS */
  readonly connectTimeoutMs?: number;
  /** Time allowed between two chunks of the body. @default DEFAULT_DOWNLOAD_IDLE_TIMEOUT_MS */
  readonly idleTimeoutMs?: number;
  /** What to tell a user who has to fetch the file by hand (appended to offline errors). */
  readonly manualHint?: string;
}

/**
 * Where a download stopped: `connect` (no response: offline, refused, no headers in time), `http` (an error
 * status), `body` (the connection broke or stalled after the headers; the `.partial` file keeps what arrived).
 */
export type DownloadStage = 'connect' | 'http' | 'body';

/** MODEL_UNAVAILABLE from a download, saying where it stopped, so a caller can tell "offline" from "broke midway". */
export class ModelDownloadError extends PermanentError {
  constructor(
    readonly stage: DownloadStage,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('MODEL_UNAVAILABLE', message, options);
  }
}

/** sha256 of a file, streamed (a 325 MB restorer is never held in memory). */
export async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

async function sizeOf(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch {
    return undefined;
  }
}

/** Hashes what a resumed download already has, so the final digest covers the whole file in one pass. */
async function hashExisting(file: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
}

function unavailable(options: DownloadOptions, stage: DownloadStage, reason: string, cause?: unknown): ModelDownloadError {
  const hint = options.manualHint ?? `Download it by hand and put it at ${options.destination}.`;
  return new ModelDownloadError(stage, `Could not download ${path.basename(options.destination)} from ${options.url}: ${reason}. ${hint}`, { cause });
}

/** Total size from `Content-Range: bytes a-b/total`, or undefined. */
function totalFromContentRange(header: string | null): number | undefined {
  const match = header?.match(/\/(\d+)\s*$/);
  return match ? Number(match[1]) : undefined;
}

/**
 * Downloads `url` to `destination`: resumes an existing `.partial` with a Range request (starting over when the
 * server ignores it), reports progress, verifies sha256 and renames into place. Redirects are followed
 * (GitHub release downloads redirect to a CDN). A checksum mismatch deletes the partial file and fails with
 * MODEL_CHECKSUM (resuming corrupt bytes could never verify); network and HTTP errors, and a body that stalls for
 * `idleTimeoutMs`, fail with MODEL_UNAVAILABLE ({@link ModelDownloadError}) and keep the partial file for a resume.
 */
export async function downloadModel(options: DownloadOptions): Promise<void> {
  const { url, destination } = options;
  const partial = destination + PARTIAL_SUFFIX;
  await mkdir(path.dirname(destination), { recursive: true });
  let offset = (await sizeOf(partial)) ?? 0;

  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.connectTimeoutMs ?? DEFAULT_DOWNLOAD_CONNECT_TIMEOUT_MS);
  let response: Response;
  try {
    response = await fetch(url, {
      redirect: 'follow',
      signal: controller.signal,
      headers: offset > 0 ? { Range: `bytes=${offset}-` } : {},
    });
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
    const reason = controller.signal.aborted ? 'no response (timed out)' : `offline or unreachable (${cause instanceof Error ? cause.message : String(cause)})`;
    throw unavailable(options, 'connect', reason, error);
  } finally {
    clearTimeout(timer);
  }

  let total: number | undefined;
  if (response.status === 416 && offset > 0) {
    // The partial file already has every byte (or more): let the checksum decide.
    await response.body?.cancel();
    total = offset;
  } else if (!response.ok) {
    await response.body?.cancel();
    throw unavailable(options, 'http', `HTTP ${response.status} ${response.statusText}`);
  } else if (response.status !== 206) {
    // A server that ignores Range sends everything again: start over rather than append a second copy.
    offset = 0;
  }
  const length = Number(response.headers.get('content-length') ?? Number.NaN);
  total ??= response.status === 206 ? (totalFromContentRange(response.headers.get('content-range')) ?? offset + length) : length;
  if (!Number.isFinite(total)) total = undefined;

  const hash = createHash('sha256');
  if (offset > 0) await hashExisting(partial, hash);
  if (response.status !== 416 && response.body) {
    let received = offset;
    options.onProgress?.(received, total);
    // The connect timer is cleared once the headers are in; the body gets its own timer, re-armed by every chunk.
    // Aborting the fetch's signal errors the body stream, which ends the loop below.
    const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_DOWNLOAD_IDLE_TIMEOUT_MS;
    let stalled = false;
    const stall = () => {
      stalled = true;
      controller.abort();
    };
    let idle = setTimeout(stall, idleTimeoutMs);
    // Not stream.pipeline: on an error it destroys the file stream and drops writes still queued (even the first
    // ones, while the file is being opened), so a broken download could leave fewer bytes than it received. Here
    // the file is always ended and flushed, so the .partial file holds every byte that arrived, for the resume.
    const out = createWriteStream(partial, { flags: offset > 0 ? 'a' : 'w' });
    const closed = new Promise<void>((resolve, reject) => {
      out.once('close', resolve);
      out.once('error', reject);
    });
    closed.catch(() => undefined); // awaited below; this only keeps an early write error from counting as unhandled
    let failure: unknown;
    try {
      for await (const chunk of Readable.fromWeb(response.body as WebReadableStream) as AsyncIterable<Buffer>) {
        clearTimeout(idle);
        idle = setTimeout(stall, idleTimeoutMs);
        hash.update(chunk);
        received += chunk.length;
        options.onProgress?.(received, total);
        if (!out.write(chunk)) await once(out, 'drain');
      }
    } catch (error) {
      failure = error;
    } finally {
      clearTimeout(idle);
    }
    out.end();
    await closed.catch((error: unknown) => {
      failure ??= error;
    });
    if (failure !== undefined) {
      const what = stalled ? `the download stalled (no data for ${idleTimeoutMs / 1000} s)` : 'the connection broke';
      throw unavailable(options, 'body', `${what} after ${received} bytes, kept in ${partial} (run again to resume)`, failure);
    }
  }

  const actual = hash.digest('hex');
  if (options.sha256 !== undefined && actual !== options.sha256.toLowerCase()) {
    await rm(partial, { force: true });
    throw new PermanentError(
      'MODEL_CHECKSUM',
      `Downloaded ${path.basename(destination)} from ${url} has sha256 ${actual}, expected ${options.sha256}: the file was deleted. ` +
        `Try again; if it persists the source is serving a different file.`,
    );
  }
  await rename(partial, destination);
}
