import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { DEFAULT_RESTORER, formatAvailableModels, parseEndpoint } from '@revive/contract';
import {
  createReviveResources,
  localAwsEnv,
  localClients,
  startLocalAws,
  type LocalAws,
  type LocalAwsTarget,
  type ReviveResources,
} from '@revive/local-aws';
import { startLocalServer, type LocalServer } from './server.js';
import { DEFAULT_LOCAL_SWEEP_INTERVAL_MS, startLocalSweeper } from './sweeper.js';
import { makeOwnedTempDir, processAlive, removeOrphanedTempDirs } from './temp-dirs.js';
import { startLocalWebhookRetries } from './webhook-retries.js';

/**
 * The webhook signing secret `pnpm start` gives its worker and consumers unless REVIVE_WEBHOOK_SECRET is set: the
 * `whsec_` form of Standard Webhooks (base64 of a 40-byte key). Public, so local use only.
 */
export const LOCAL_WEBHOOK_SECRET = 'whsec_cmV2aXZlIGxvY2FsIHdlYmhvb2sga2V5OiBsb2NhbCB1c2Ugb25seQ==';

/** The repository root (this file is packages/dev-stack/src/stack.ts). */
export const REPO_ROOT = path.resolve(import.meta.dirname, '../../..');
/** Local jobs are short; Ctrl-C should not wait Fargate's 110 s. @default 10 */
export const DEFAULT_LOCAL_SHUTDOWN_TIMEOUT_SECONDS = 10;
/** Time the worker gets to exit after SIGTERM before it is killed. @default 15_000 */
export const DEFAULT_WORKER_STOP_TIMEOUT_MS = 15_000;
/** First wait before a crashed worker is started again; it doubles per crash in a row. @default 1_000 */
export const DEFAULT_WORKER_RESTART_DELAY_MS = 1_000;
/** Longest wait between restarts. @default 30_000 */
export const MAX_WORKER_RESTART_DELAY_MS = 30_000;
/** A worker that ran this long before it died counts as healthy: the next restart waits the first delay again. @default 60_000 */
export const WORKER_HEALTHY_RUN_MS = 60_000;
/** Crashes in a row, each before WORKER_HEALTHY_RUN_MS, after which the supervisor gives up (a crash loop). @default 5 */
export const MAX_WORKER_QUICK_CRASHES = 5;

/**
 * The models folder `pnpm start` hands the worker: $REVIVE_MODELS_DIR, else `../shared/models` beside the repository
 * when it exists, else undefined (the worker then uses its per-user cache, pipeline's defaultModelsDir()).
 */
export function localModelsDir(env: NodeJS.ProcessEnv): string | undefined {
  if (env.REVIVE_MODELS_DIR) return env.REVIVE_MODELS_DIR;
  const shared = path.resolve(REPO_ROOT, '..', 'shared', 'models');
  return existsSync(shared) ? shared : undefined;
}

/**
 * REVIVE_URL_DENY_ENDPOINTS for the stack's processes: the `host:port` of each of its own URLs (emulators, API),
 * after any the user listed. Hosts that are names, not IP literals, are left out (the stack binds IPs).
 */
export function ownEndpoints(urls: readonly string[], userList: string | undefined): string {
  const endpoints = new Set((userList ?? '').split(',').map((e) => e.trim()).filter(Boolean));
  for (const url of urls) {
    const { host } = new URL(url);
    try {
      parseEndpoint(host);
      endpoints.add(host);
    } catch {
      // A name: the worker's check only takes IP literals.
    }
  }
  return [...endpoints].join(',');
}

/** How the restorer was chosen; `offline` means a generated identity restorer stands in for GFPGAN. */
export interface RestorerChoice {
  readonly restorer: string;
  readonly reason: string;
  readonly offline: boolean;
}

/**
 * For callers that provision nothing (`pnpm start` uses local/models.ts, which downloads): REVIVE_RESTORER when
 * set; else gfpgan-1.4 when its file is in the models folder; else a generated identity restorer (the pipeline runs
 * end to end, faces come back unchanged). `revive serve` never downloads, so a URL that answers is no reason to pick it.
 */
export async function chooseRestorer(env: NodeJS.ProcessEnv, modelsDir: string | undefined): Promise<RestorerChoice> {
  if (env.REVIVE_RESTORER) return { restorer: env.REVIVE_RESTORER, reason: 'REVIVE_RESTORER', offline: false };
  const dirs = [modelsDir, path.join(env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'), 'revive', 'models')].filter((d): d is string => d !== undefined);
  for (const dir of dirs) {
    for (const file of ['restorers/gfpgan-v1.4.onnx', 'gfpgan-v1.4.onnx', 'restorers/GFPGANv1.4.onnx']) {
      if (existsSync(path.join(dir, file))) return { restorer: DEFAULT_RESTORER, reason: `found ${path.join(dir, file)}`, offline: false };
    }
  }
  const { writeIdentityRestorer } = await import('@revive/pipeline');
  const dir = path.join(tmpdir(), 'revive-local-models');
  await mkdir(dir, { recursive: true });
  const file = await writeIdentityRestorer(dir);
  return {
    restorer: file,
    reason: `gfpgan-1.4 is not in ${modelsDir ?? 'the models folder'} (pnpm revive models fetch gfpgan-1.4)`,
    offline: true,
  };
}

export interface LocalStackOptions {
  /** Base environment (PORT, REVIVE_*). @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Emulators already running (the integration tests' shared ones); when absent the stack starts its own. */
  readonly target?: LocalAwsTarget;
  /** 0 picks a free port. @default $PORT, else 3000 */
  readonly port?: number;
  /** Run `revive serve`. @default true */
  readonly worker?: boolean;
  /** The restorer, already provisioned (`pnpm start`: local/models.ts); when absent it is chosen with {@link chooseRestorer}. */
  readonly restorer?: RestorerChoice;
  /** Extra environment for the worker only. */
  readonly workerEnv?: Record<string, string>;
  /** @default 'inherit' */
  readonly workerStdio?: 'inherit' | 'ignore' | 'pipe';
  /**
   * Each line any worker process (first or restarted) writes, and on which stream; implies workerStdio 'pipe'. `pnpm
   * start` relays them to its own output, so only it writes there: a closed terminal pipe (`| tee` ended by Ctrl-C)
   * then never reaches the worker as EPIPE in the middle of its drain.
   */
  readonly workerOutput?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Progress lines. @default console.log */
  readonly log?: (line: string) => void;
  /** How often the enqueue sweeper (the outbox's scheduled Lambda in AWS) runs; 0 turns it off. @default DEFAULT_LOCAL_SWEEP_INTERVAL_MS (10 s) */
  readonly sweepIntervalMs?: number;
  /**
   * A folder that keeps the stack's emulators' state across restarts (`pnpm start`: `.revive/`, or REVIVE_STATE_DIR):
   * jobs, uploads and results, queued job messages and scheduled webhook retries. Resources get fixed names, so the
   * next start finds them. One stack at a time per folder. Ignored with `target` (emulators someone else runs).
   * @default undefined (everything in memory, gone at stop)
   */
  readonly stateDir?: string;
  /** Empty the state folder first (`pnpm start --fresh`). @default false */
  readonly fresh?: boolean;
}

/** Prefix of the resource names in a state folder: fixed, so a restart finds its table, queues and bucket. */
export const STATE_RESOURCE_PREFIX = 'revive-local';
/** The file in a state folder that names the process using it. */
export const STATE_LOCK_FILE = 'stack.pid';

/** The state folder is used by another running stack. */
export class StateDirInUseError extends Error {
  constructor(
    readonly stateDir: string,
    readonly ownerPid: number,
  ) {
    super(`${stateDir} is in use by another local stack (pid ${ownerPid}): stop it, or give this one its own folder with REVIVE_STATE_DIR.`);
    this.name = 'StateDirInUseError';
  }
}

/**
 * Takes the state folder for this process (its pid in STATE_LOCK_FILE): refused while another live process holds it,
 * taken over from one that is gone (kill -9). With `fresh`, everything else in it is removed first. Returns the release.
 */
export async function lockStateDir(stateDir: string, fresh: boolean): Promise<() => Promise<void>> {
  await mkdir(stateDir, { recursive: true });
  const lockFile = path.join(stateDir, STATE_LOCK_FILE);
  for (;;) {
    try {
      await writeFile(lockFile, String(process.pid), { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number((await readFile(lockFile, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && processAlive(owner)) throw new StateDirInUseError(stateDir, owner);
      // Its owner is gone: take it over (one of two racing starts wins the next 'wx').
      await rm(lockFile, { force: true });
    }
  }
  if (fresh) {
    for (const entry of await readdir(stateDir)) if (entry !== STATE_LOCK_FILE) await rm(path.join(stateDir, entry), { recursive: true, force: true });
  }
  return async () => {
    const owner = (await readFile(lockFile, 'utf8').catch(() => '')).trim();
    if (owner === String(process.pid)) await rm(lockFile, { force: true });
  };
}

export interface LocalStack {
  readonly server: LocalServer;
  readonly resources: ReviveResources;
  readonly target: LocalAwsTarget;
  readonly restorer: RestorerChoice;
  /** The supervised `revive serve`; undefined with `worker: false`. */
  readonly worker: WorkerSupervisor | undefined;
  /** The environment the API and the worker share (emulator endpoints, resource names). */
  readonly env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * `revive serve` as `pnpm revive serve` runs it: bin/revive.js, which runs the worker's bundle when dist/ is newer
 * than the sources (`pnpm start` builds it first) and the sources under tsx otherwise.
 */
function spawnWorker(env: NodeJS.ProcessEnv, stdio: 'inherit' | 'ignore' | 'pipe'): ChildProcess {
  const cli = path.join(REPO_ROOT, 'packages', 'worker', 'bin', 'revive.js');
  // stdin is a pipe this process never writes to: it closes when this process dies however it dies (kill -9 included),
  // and the worker (REVIVE_EXIT_ON_STDIN_EOF) takes that end as SIGTERM.
  // `detached`: its own process group, as DynamoDB Local's JVM. A terminal's Ctrl-C signals the whole foreground
  // group; a worker in it would get SIGINT while still loading (before its handlers exist) and die, and the
  // supervisor would take that for a crash. Outside the group, only stop() signals it: SIGTERM, then the drain.
  const child = spawn(process.execPath, [cli, 'serve'], {
    cwd: path.join(REPO_ROOT, 'packages', 'worker'),
    env,
    stdio: ['pipe', stdio, stdio],
    detached: true,
  });
  child.stdin?.on('error', () => undefined);
  // The pipe must not keep this process alive on its own.
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return child;
}

/** Events of a WorkerSupervisor. */
export interface WorkerSupervisorEvents {
  /** A worker process was started (the first one, or a restart). */
  spawn: [child: ChildProcess];
  /** A worker process exited (a crash, or the end of stop()). */
  exit: [child: ChildProcess, code: number | null, signal: NodeJS.Signals | null];
  /** The worker crashed too often in a row; the supervisor stopped restarting it. */
  'give-up': [];
}

/**
 * Keeps `revive serve` running, as ECS keeps a service's task count: a worker that dies (a crash, kill -9) is
 * started again after a short backoff, and SQS redelivers its job once the visibility timeout passes. `stop()`
 * sends SIGTERM, lets the worker drain, and kills it only after `stopTimeoutMs`.
 */
export class WorkerSupervisor extends EventEmitter<WorkerSupervisorEvents> {
  #child: ChildProcess | undefined;
  #stopping = false;
  #restarts = 0;
  #quickCrashes = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly start: () => ChildProcess,
    private readonly log: (line: string) => void,
  ) {
    super();
  }

  /** The running worker process; undefined while it waits for a restart or after stop. */
  get child(): ChildProcess | undefined {
    return this.#child;
  }

  /** Restarts so far. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Starts the first worker. */
  run(): this {
    this.#spawn();
    return this;
  }

  #spawn(): void {
    const child = this.start();
    const startedAt = Date.now();
    this.#child = child;
    this.log(`revive serve started (pid ${child.pid})`);
    child.once('exit', (code, signal) => {
      if (this.#child === child) this.#child = undefined;
      this.emit('exit', child, code, signal);
      if (this.#stopping) return;
      const ranMs = Date.now() - startedAt;
      this.#quickCrashes = ranMs >= WORKER_HEALTHY_RUN_MS ? 1 : this.#quickCrashes + 1;
      if (this.#quickCrashes > MAX_WORKER_QUICK_CRASHES) {
        this.log(`revive serve exited (${signal ?? `code ${code}`}) ${MAX_WORKER_QUICK_CRASHES + 1} times in a row; not restarting it`);
        this.emit('give-up');
        return;
      }
      const delayMs = Math.min(DEFAULT_WORKER_RESTART_DELAY_MS * 2 ** (this.#quickCrashes - 1), MAX_WORKER_RESTART_DELAY_MS);
      this.log(`revive serve exited (${signal ?? `code ${code}`}) after ${ranMs} ms; restarting it in ${delayMs} ms`);
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        if (this.#stopping) return;
        this.#restarts += 1;
        this.#spawn();
      }, delayMs);
    });
    this.emit('spawn', child);
  }

  /** SIGTERM, then waits for the drain; SIGKILL after `timeoutMs`. No restart afterwards. */
  async stop(timeoutMs: number = DEFAULT_WORKER_STOP_TIMEOUT_MS): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#timer);
    const child = this.#child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const started = Date.now();
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (code, signal) => resolve([code, signal])));
    this.log(`stopping revive serve (pid ${child.pid}): SIGTERM, it drains its jobs`);
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      this.log(`revive serve did not stop within ${timeoutMs} ms; killing it`);
      child.kill('SIGKILL');
    }, timeoutMs);
    const [code, signal] = await exited;
    clearTimeout(timer);
    this.log(`revive serve stopped (${signal ?? `code ${code}`}) after ${Date.now() - started} ms`);
  }
}

/**
 * The whole flow on one machine: emulators (or the given ones), Revive's resources, `revive serve`, and the local
 * API with the demo page. `stop()` undoes it in reverse order.
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const base = options.env ?? process.env;
  const log = options.log ?? ((line: string) => console.log(line));
  // Folders of stacks and workers that were killed outright (kill -9); those of running stacks stay.
  const orphans = await removeOrphanedTempDirs();
  if (orphans.length > 0) log(`removed ${orphans.length} temporary folder(s) left by stopped stacks: ${orphans.join(', ')}`);
  const stateDir = options.target === undefined ? options.stateDir : undefined;
  const releaseState = stateDir === undefined ? undefined : await lockStateDir(stateDir, options.fresh ?? false);
  let aws: LocalAws | undefined;
  // Undone in reverse order: worker (drains), sweeper, API, emulators, state folder.
  const cleanup: { name: string; run: () => Promise<void> }[] = [];
  if (releaseState !== undefined) cleanup.push({ name: 'state folder lock', run: releaseState });
  try {
    const target = options.target ?? (aws = await startLocalAws(stateDir === undefined ? {} : { stateDir }));
    const started = aws;
    if (started !== undefined) cleanup.push({ name: 'emulators', run: () => started.stop() });
    // The queue's settings come from the same variables the worker reads, so both agree on them.
    const visibility = Number(base.REVIVE_VISIBILITY_TIMEOUT_SECONDS);
    const maxReceiveCount = Number(base.REVIVE_MAX_RECEIVE_COUNT);
    const resources = await createReviveResources(target, {
      prefix: stateDir === undefined ? `revive-local-${Date.now().toString(36)}` : STATE_RESOURCE_PREFIX,
      ...(Number.isInteger(visibility) && visibility > 0 ? { visibilityTimeoutSeconds: visibility } : {}),
      ...(Number.isInteger(maxReceiveCount) && maxReceiveCount > 0 ? { maxReceiveCount } : {}),
    });
    const env = localAwsEnv(target, resources);
    const modelsDir = localModelsDir(base);
    const restorer = options.restorer ?? (await chooseRestorer(base, modelsDir));
    const runsWorker = options.worker ?? true;
    // The models the worker will serve, so POST /jobs refuses others (422 UNSUPPORTED_MODEL) as the deployed API does.
    const servedModels = runsWorker
      ? {
          REVIVE_AVAILABLE_MODELS:
            base.REVIVE_AVAILABLE_MODELS ??
            formatAvailableModels({
              restorer: options.workerEnv?.REVIVE_RESTORER ?? restorer.restorer,
              bgUpsampler: options.workerEnv?.REVIVE_BG_UPSAMPLER ?? (base.REVIVE_BG_UPSAMPLER || undefined),
            }),
        }
      : {};
    const server = await startLocalServer({
      // The API refuses the emulators' endpoints early; its own port is not known yet, and the worker denies it too.
      env: { ...base, ...env, ...servedModels, REVIVE_LOCAL_MODE: 'true', REVIVE_URL_DENY_ENDPOINTS: ownEndpoints(Object.values(target.endpoints), base.REVIVE_URL_DENY_ENDPOINTS) },
      ...(options.port === undefined ? {} : { port: options.port }),
    });
    cleanup.push({ name: 'API', run: () => server.close() });
    // Whatever REVIVE_URL_ALLOW_CIDRS opens (127.0.0.0/8 for a loopback webhook receiver), a job's URLs never reach
    // the stack's own ports: the S3 emulator has no authentication and would serve any tenant's upload.
    const urlGuardEnv = { REVIVE_URL_DENY_ENDPOINTS: ownEndpoints([...Object.values(target.endpoints), server.url], base.REVIVE_URL_DENY_ENDPOINTS) };
    const sweepIntervalMs = options.sweepIntervalMs ?? DEFAULT_LOCAL_SWEEP_INTERVAL_MS;
    if (sweepIntervalMs > 0) {
      const sweeper = startLocalSweeper(server.deps, sweepIntervalMs);
      cleanup.push({ name: 'enqueue sweeper', run: () => sweeper.stop() });
    }
    // The DLQ consumer (a Lambda in AWS): a job whose message is dead-lettered ends FAILED (DEAD_LETTERED).
    const { startLocalDeadLetterConsumer } = await import('./dead-letter-consumer.js');
    const dlqClients = localClients(target);
    const deadLetters = startLocalDeadLetterConsumer({
      dlqUrl: resources.dlqUrl,
      sqs: dlqClients.sqs,
      dynamodb: dlqClients.dynamodb,
      env: {
        ...base,
        ...env,
        ...urlGuardEnv,
        REVIVE_WEBHOOK_SECRET: base.REVIVE_WEBHOOK_SECRET ?? LOCAL_WEBHOOK_SECRET,
        ...(server.s3PublicEndpoint === undefined ? {} : { REVIVE_S3_PUBLIC_ENDPOINT: server.s3PublicEndpoint }),
      },
    });
    cleanup.push({
      name: 'dead-letter consumer',
      run: async () => {
        await deadLetters.stop();
        for (const client of Object.values(dlqClients)) client.destroy();
      },
    });
    // Durable webhook retries (a Lambda on the webhook-retry queue in AWS).
    const webhookRetries = await startLocalWebhookRetries(target, {
      ...base,
      ...env,
      ...urlGuardEnv,
      REVIVE_WEBHOOK_SECRET: base.REVIVE_WEBHOOK_SECRET ?? LOCAL_WEBHOOK_SECRET,
      ...(server.s3PublicEndpoint === undefined ? {} : { REVIVE_S3_PUBLIC_ENDPOINT: server.s3PublicEndpoint }),
    });
    cleanup.push({ name: 'webhook retries', run: () => webhookRetries.stop() });
    let worker: WorkerSupervisor | undefined;
    if (runsWorker) {
      const healthDir = await makeOwnedTempDir('health');
      const workerTmpDir = base.TMPDIR ?? tmpdir();
      cleanup.push({ name: 'health folder', run: () => rm(healthDir, { recursive: true, force: true }) });
      const workerEnv: NodeJS.ProcessEnv = {
        ...base,
        ...env,
        ...urlGuardEnv,
        ...(modelsDir === undefined ? {} : { REVIVE_MODELS_DIR: modelsDir }),
        REVIVE_RESTORER: restorer.restorer,
        REVIVE_HEALTH_FILE: path.join(healthDir, 'health.json'),
        // Local webhooks are signed too, with a known key, so a receiver can be tested against the stack.
        REVIVE_WEBHOOK_SECRET: base.REVIVE_WEBHOOK_SECRET ?? LOCAL_WEBHOOK_SECRET,
        REVIVE_SHUTDOWN_TIMEOUT_SECONDS: base.REVIVE_SHUTDOWN_TIMEOUT_SECONDS ?? String(DEFAULT_LOCAL_SHUTDOWN_TIMEOUT_SECONDS),
        REVIVE_EXIT_ON_STDIN_EOF: 'true',
        // Where the worker makes its own folder (named for its pid), so the supervisor knows where to clean up after it.
        TMPDIR: workerTmpDir,
        // Webhooks carry presigned result URLs: they must point at the same public /s3 proxy as GET /jobs/{id}.
        ...(server.s3PublicEndpoint === undefined ? {} : { REVIVE_S3_PUBLIC_ENDPOINT: server.s3PublicEndpoint }),
        ...options.workerEnv,
      };
      const output = options.workerOutput;
      const stdio = output === undefined ? (options.workerStdio ?? 'inherit') : 'pipe';
      const supervisor = new WorkerSupervisor(() => spawnWorker(workerEnv, stdio), log);
      if (output !== undefined) {
        supervisor.on('spawn', (child) => {
          for (const [name, stream] of [['stdout', child.stdout], ['stderr', child.stderr]] as const) {
            // Whole lines, however the pipe splits them: a JSON log line arrives in one piece.
            if (stream !== null) createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => line && output(line, name));
          }
        });
      }
      // A worker killed outright leaves its folder; its pid names it.
      supervisor.on('exit', (child) => {
        if (child.pid !== undefined) void removeOrphanedTempDirs({ dir: workerTmpDir, pid: child.pid });
      });
      worker = supervisor.run();
      cleanup.push({ name: 'worker', run: () => supervisor.stop() });
    }
    return {
      server,
      resources,
      target,
      restorer,
      worker,
      env,
      async stop() {
        for (const step of cleanup.reverse()) {
          await step.run().then(
            () => log(`stopped: ${step.name}`),
            (error: unknown) => log(`stopping ${step.name} failed: ${(error as Error).message}`),
          );
        }
      },
    };
  } catch (error) {
    for (const step of cleanup.reverse()) await step.run().catch(() => undefined);
    throw error;
  }
}
