// `pnpm start`: the local stack (emulators, resources, `revive serve`, the local API and the demo page).
// `pnpm start --smoke` (or REVIVE_SMOKE=1) submits one photo from ../shared/photos, exits 0 when it SUCCEEDS.
// State (jobs, uploads and results, queued messages, scheduled webhook retries) is kept in `.revive/` at the repository
// root (or REVIVE_STATE_DIR) across restarts; `pnpm start --fresh` empties it first.
//
// It is a supervisor: a crashed worker is restarted (stack.ts), and one stop signal or several (pnpm forwards
// Ctrl-C/SIGTERM, so the process often gets two) stops everything once, in order: worker drain, API, emulators.
// The handlers are installed before anything starts and stay installed, so a repeated signal never kills this
// process halfway and orphans a child. It runs as `node --import tsx`, not under tsx's CLI: that relays a signal
// to its child and SIGKILLs the child when it does not acknowledge within 60 ms, which happens on a loaded machine.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { CreateUploadResponse, JobResponse } from '@revive/contract';
import { ffmpegPaths } from '@revive/pipeline/video';
import { provisionForStart, SHARED_MODELS_DIR } from './models.js';
import { REPO_ROOT, startLocalStack, StateDirInUseError, type LocalStack } from './stack.js';

/** The smoke run's photo: small, one face. */
export const SMOKE_PHOTO = 'photos/whole/blurry_face.jpg';
/** @default 180_000 (model load plus one job on two shared cores) */
export const DEFAULT_SMOKE_TIMEOUT_MS = 180_000;
const TENANT = 'demo';

/**
 * Powertools Metrics writes each metric as an EMF JSON line on stdout (CloudWatch turns them into metrics in AWS);
 * in a terminal they are noise, a few lines per request, job and 10 s sweep. `pnpm start` sets this unless the user
 * did (`POWERTOOLS_METRICS_DISABLED=false pnpm start` prints them); the API, the DLQ consumer and the worker read it.
 */
const LOCAL_METRICS_DISABLED_DEFAULT = 'true';

/**
 * `pnpm start 2>&1 | tee log`, then Ctrl-C: the terminal's SIGINT ends tee at once, and every later write to the
 * pipe fails with EPIPE, which Node raises as an uncaught 'error' on process.stdout — it killed this process halfway
 * through its stop, leaving the job unreleased and the temporary folders behind. Output that can no longer be
 * delivered is dropped instead; the stop goes on in order. Installed first, before anything writes.
 */
function survivePipeClose(): void {
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
}
survivePipeClose();

/** Writes a worker's line to this process's own stream (the worker never writes to the terminal pipe itself). */
function relayWorkerLine(line: string, stream: 'stdout' | 'stderr'): void {
  const out = stream === 'stdout' ? process.stdout : process.stderr;
  if (!out.destroyed && out.writable) out.write(`${line}\n`);
}

/** `pnpm start`'s state folder, at the repository root (git-ignored). */
export const DEFAULT_STATE_DIR = path.join(REPO_ROOT, '.revive');

/** The state folder `pnpm start` keeps: REVIVE_STATE_DIR when set, else {@link DEFAULT_STATE_DIR}. */
export function stateDirFrom(env: NodeJS.ProcessEnv): string {
  return path.resolve(env.REVIVE_STATE_DIR || DEFAULT_STATE_DIR);
}

/** Signals that stop the stack. */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Resolves with the first stop signal; later ones are only logged. The handlers stay for the process's life. */
function firstStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let first: NodeJS.Signals | undefined;
    for (const signal of STOP_SIGNALS) {
      process.on(signal, () => {
        if (first === undefined) {
          first = signal;
          resolve(signal);
        } else {
          console.log(`${signal}: already stopping (after ${first}); waiting for the worker to drain.`);
        }
      });
    }
  });
}

/** Which ffmpeg the worker's video jobs run (the one on PATH, else the npm packages'), or why there is none. */
function videoTools(): string {
  try {
    const found = ffmpegPaths();
    return `ffmpeg ${found.ffmpeg} (${found.source === 'path' ? 'from PATH' : 'from @ffmpeg-installer/ffmpeg'}); the demo page takes one video, or several photos as an album`;
  } catch (error) {
    return `no ffmpeg (${(error as Error).message}): video jobs fail; photos and albums work`;
  }
}

function banner(stack: LocalStack): string {
  const url = stack.server.url;
  const lines = [
    '',
    `Revive local stack (tenant header: x-revive-tenant; emulators: SQS+S3 ${stack.target.endpoints.sqs}, DynamoDB ${stack.target.endpoints.dynamodb})`,
    `  processes     main ${process.pid}, worker ${stack.worker?.child?.pid ?? 'none'}`,
    `  demo page     ${url}/`,
    `  API           ${url}  (OpenAPI: ${url}/openapi.json)`,
    `  S3 proxy      ${url}/s3  (presigned POST uploads, a video's presigned parts and result downloads, same origin)`,
    `  restorer      ${stack.restorer.restorer}  (${stack.restorer.reason})`,
    `  videos        ${videoTools()}`,
    `  state         ${stateDirFrom(process.env)}  (jobs, uploads, results and queued messages are kept across restarts; pnpm start --fresh starts empty)`,
    `  metrics       ${process.env.POWERTOOLS_METRICS_DISABLED === LOCAL_METRICS_DISABLED_DEFAULT ? 'EMF lines off (POWERTOOLS_METRICS_DISABLED=false pnpm start prints them)' : 'EMF lines on stdout'}`,
    '',
    'Try it:',
    `  curl -s -X POST ${url}/uploads -H 'x-revive-tenant: ${TENANT}'`,
    `  curl -s ${url}/jobs -H 'x-revive-tenant: ${TENANT}'`,
    '',
    'Ctrl-C stops everything.',
  ];
  if (stack.restorer.offline) {
    lines.unshift(
      '',
      '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
      '!! OFFLINE DEMO: GFPGAN weights are not available, so a GENERATED IDENTITY RESTORER is used.       !!',
      '!! Faces are detected, aligned and pasted back unchanged; photos are only upscaled.                 !!',
      '!! Put gfpgan-v1.4.onnx in REVIVE_MODELS_DIR (or set REVIVE_RESTORER) for real restoration.         !!',
      '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
    );
  }
  return lines.join('\n');
}

async function json<T>(res: Response): Promise<T> {
  const body = (await res.json()) as T;
  if (!res.ok) throw new Error(`${res.status}: ${JSON.stringify(body)}`);
  return body;
}

/** Upload → create → poll → download, as a front end would; true when the job SUCCEEDED and its result loads. */
async function smoke(stack: LocalStack, timeoutMs: number): Promise<boolean> {
  // The smoke photo is test data beside the repository (`../shared`, or REVIVE_SHARED_DIR as in CI).
  const photo = path.join(process.env.REVIVE_SHARED_DIR ?? path.dirname(SHARED_MODELS_DIR), SMOKE_PHOTO);
  const url = stack.server.url;
  const headers = { 'content-type': 'application/json', 'x-revive-tenant': TENANT };
  const upload = await json<CreateUploadResponse>(await fetch(`${url}/uploads`, { method: 'POST', headers, body: '{}' }));
  const form = new FormData();
  for (const [k, v] of Object.entries(upload.fields)) form.append(k, v);
  form.append('Content-Type', 'image/jpeg');
  form.append('file', new Blob([await readFile(photo)], { type: 'image/jpeg' }), path.basename(photo));
  const posted = await fetch(upload.url, { method: 'POST', body: form });
  if (!posted.ok) throw new Error(`upload refused: ${posted.status} ${await posted.text()}`);
  let job = await json<JobResponse>(
    await fetch(`${url}/jobs`, { method: 'POST', headers, body: JSON.stringify({ source: { uploadKey: upload.uploadKey } }) }),
  );
  console.log(`smoke: job ${job.id} ${job.status}`);
  const deadline = Date.now() + timeoutMs;
  while ((job.status === 'QUEUED' || job.status === 'RUNNING') && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    job = await json<JobResponse>(await fetch(job.urls.get, { headers }));
  }
  console.log(`smoke: job ${job.id} ${job.status}${job.error ? ` ${job.error.code}: ${job.error.message}` : ''}`);
  if (job.status !== 'SUCCEEDED' || job.output === null) return false;
  const result = await fetch(job.output.url);
  const bytes = (await result.arrayBuffer()).byteLength;
  console.log(`smoke: result ${result.status} ${result.headers.get('content-type')} ${bytes} bytes, ${job.output.width}x${job.output.height}, faces ${job.metrics.faces_found}`);
  return result.ok && bytes > 0;
}

async function main(): Promise<number> {
  const smokeRun = process.argv.includes('--smoke') || process.env.REVIVE_SMOKE === '1' || process.env.REVIVE_SMOKE === 'true';
  const signalled = firstStopSignal();
  // Before anything creates a Metrics (each reads the variable when it is built); the worker inherits it.
  process.env.POWERTOOLS_METRICS_DISABLED ??= LOCAL_METRICS_DISABLED_DEFAULT;
  // Models first: a start that can't have them ends here, before any emulator or worker exists. A stop signal
  // during a download ends the start there too.
  const models = await Promise.race([provisionForStart(), signalled]);
  if (typeof models === 'string') {
    console.log(`${models}: stopped before the stack started.`);
    return 0;
  }
  if (typeof models === 'number') return models;
  let stack: LocalStack;
  try {
    stack = await startLocalStack({
      env: models.env,
      restorer: models.restorer,
      workerOutput: relayWorkerLine,
      stateDir: stateDirFrom(process.env),
      fresh: process.argv.includes('--fresh'),
    });
  } catch (error) {
    if (!(error instanceof StateDirInUseError)) throw error;
    console.error(`pnpm start: ${error.message}\nNothing was started.`);
    return 2;
  }
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= stack.stop());
  const gaveUp = new Promise<'give-up'>((resolve) => stack.worker?.once('give-up', () => resolve('give-up')));
  console.log(banner(stack));
  if (smokeRun) {
    let ok = false;
    try {
      ok = await Promise.race([smoke(stack, Number(process.env.REVIVE_SMOKE_TIMEOUT_MS ?? DEFAULT_SMOKE_TIMEOUT_MS)), signalled.then(() => false)]);
    } catch (error) {
      console.error(`smoke: ${(error as Error).message}`);
    }
    await stop();
    return ok ? 0 : 1;
  }
  const reason = await Promise.race([signalled, gaveUp]);
  if (reason === 'give-up') {
    console.error('revive serve keeps crashing; shutting the local stack down.');
    await stop();
    return 1;
  }
  console.log(`\n${reason}: stopping the worker (it drains), then the API, then the emulators…`);
  await stop();
  console.log('local stack stopped');
  return 0;
}

process.exitCode = await main();
// SDK keep-alive sockets and the JVM's pipes should not keep a stopped stack alive.
setTimeout(() => process.exit(process.exitCode ?? 0), 1_000).unref();
