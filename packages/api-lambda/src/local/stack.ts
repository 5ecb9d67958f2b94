import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import {
  createReviveResources,
  localAwsEnv,
  startLocalAws,
  type LocalAws,
  type LocalAwsTarget,
  type ReviveResources,
} from '@revive/local-aws';
import { startLocalServer, type LocalServer } from './server.js';
import { DEFAULT_LOCAL_SWEEP_INTERVAL_MS, startLocalSweeper } from './sweeper.js';

/** The webhook signing key `pnpm start` gives its worker unless REVIVE_WEBHOOK_SECRET is set. Local use only. */
export const LOCAL_WEBHOOK_SECRET = 'revive-local-webhook-secret';

/** The repository root (this file is packages/api-lambda/src/local/stack.ts). */
export const REPO_ROOT = path.resolve(import.meta.dirname, '../../../..');
/** The default restorer, when its weights are in the models folder or can be downloaded. */
export const DEFAULT_RESTORER = 'gfpgan-1.4';
/** Local jobs are short; Ctrl-C should not wait Fargate's 110 s. @default 10 */
export const DEFAULT_LOCAL_SHUTDOWN_TIMEOUT_SECONDS = 10;
/** Time the worker gets to exit after SIGTERM before it is killed. @default 15_000 */
export const DEFAULT_WORKER_STOP_TIMEOUT_MS = 15_000;

/** `../shared/models` beside the repository when it exists, else undefined (the worker's per-user cache). */
export function defaultModelsDir(env: NodeJS.ProcessEnv): string | undefined {
  if (env.REVIVE_MODELS_DIR) return env.REVIVE_MODELS_DIR;
  const shared = path.resolve(REPO_ROOT, '..', 'shared', 'models');
  return existsSync(shared) ? shared : undefined;
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
  const { writeIdentityRestorer } = await import('@revive/worker/testing');
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
  /** Progress lines. @default console.log */
  readonly log?: (line: string) => void;
  /** How often the enqueue sweeper (the outbox's scheduled Lambda in AWS) runs; 0 turns it off. @default DEFAULT_LOCAL_SWEEP_INTERVAL_MS (10 s) */
  readonly sweepIntervalMs?: number;
}

export interface LocalStack {
  readonly server: LocalServer;
  readonly resources: ReviveResources;
  readonly target: LocalAwsTarget;
  readonly restorer: RestorerChoice;
  readonly worker: ChildProcess | undefined;
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
  return spawn(process.execPath, [cli, 'serve'], { cwd: path.join(REPO_ROOT, 'packages', 'worker'), env, stdio: ['ignore', stdio, stdio] });
}

async function stopWorker(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

/**
 * The whole flow on one machine: emulators (or the given ones), Revive's resources, `revive serve`, and the local
 * API with the demo page. `stop()` undoes it in reverse order.
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const base = options.env ?? process.env;
  const log = options.log ?? ((line: string) => console.log(line));
  let aws: LocalAws | undefined;
  const target = options.target ?? (aws = await startLocalAws());
  const cleanup: (() => Promise<void>)[] = [];
  let stopping = false;
  if (aws !== undefined) cleanup.push(() => aws.stop());
  try {
    const resources = await createReviveResources(target, { prefix: `revive-local-${Date.now().toString(36)}` });
    const env = localAwsEnv(target, resources);
    const modelsDir = defaultModelsDir(base);
    const restorer = options.restorer ?? (await chooseRestorer(base, modelsDir));
    const server = await startLocalServer({
      env: { ...base, ...env, REVIVE_LOCAL_MODE: 'true' },
      ...(options.port === undefined ? {} : { port: options.port }),
    });
    cleanup.push(() => server.close());
    const sweepIntervalMs = options.sweepIntervalMs ?? DEFAULT_LOCAL_SWEEP_INTERVAL_MS;
    if (sweepIntervalMs > 0) {
      const sweeper = startLocalSweeper(server.deps, sweepIntervalMs);
      cleanup.push(() => sweeper.stop());
    }
    let worker: ChildProcess | undefined;
    if (options.worker ?? true) {
      const healthDir = await mkdtemp(path.join(tmpdir(), 'revive-health-'));
      cleanup.push(() => rm(healthDir, { recursive: true, force: true }));
      worker = spawnWorker(
        {
          ...base,
          ...env,
          ...(modelsDir === undefined ? {} : { REVIVE_MODELS_DIR: modelsDir }),
          REVIVE_RESTORER: restorer.restorer,
          REVIVE_HEALTH_FILE: path.join(healthDir, 'health.json'),
          // Local webhooks are signed too, with a known key, so a receiver can be tested against the stack.
          REVIVE_WEBHOOK_SECRET: base.REVIVE_WEBHOOK_SECRET ?? LOCAL_WEBHOOK_SECRET,
          REVIVE_SHUTDOWN_TIMEOUT_SECONDS: base.REVIVE_SHUTDOWN_TIMEOUT_SECONDS ?? String(DEFAULT_LOCAL_SHUTDOWN_TIMEOUT_SECONDS),
          ...options.workerEnv,
        },
        options.workerStdio ?? 'inherit',
      );
      const child = worker;
      child.once('exit', (code, signal) => {
        if (!stopping) log(`revive serve exited (${signal ?? `code ${code}`})`);
      });
      cleanup.push(() => stopWorker(child, DEFAULT_WORKER_STOP_TIMEOUT_MS));
    }
    return {
      server,
      resources,
      target,
      restorer,
      worker,
      env,
      async stop() {
        stopping = true;
        for (const step of cleanup.reverse()) await step().catch((error: unknown) => log(`shutdown step failed: ${(error as Error).message}`));
      },
    };
  } catch (error) {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
    throw error;
  }
}
