// Entry points the CLI calls for `revive serve` and `revive healthcheck`.
import { loadWorkerConfig } from './config.js';
import { startWorker } from './serve.js';
import { Telemetry } from './telemetry.js';

/** After a clean shutdown (every pipeline thread has exited), exit even if a stray handle would keep the loop alive. @default 2_000 */
export const DEFAULT_EXIT_GRACE_MS = 2_000;

/**
 * Runs the queue worker until SIGTERM/SIGINT; configuration comes only from the environment (workerEnvSchema).
 * Throws a CONFIG error for a bad environment and the model error when models fail to load (the CLI prints it
 * and exits non-zero); resolves after a clean shutdown.
 */
export async function serveMain(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = loadWorkerConfig(env);
  const telemetry = new Telemetry();
  // `on`, not `once`: a second signal (pnpm and tsx forward theirs, ECS may repeat) must not kill the drain midway
  // with the default handler. Later signals are no-ops; the shutdown is idempotent. Installed before the start: a
  // signal that arrives while models load, or just after "worker ready" was written but before this function
  // resumed (a loaded machine can deschedule us there), would otherwise kill the process with the default action.
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    process.on('SIGTERM', () => resolve('SIGTERM'));
    process.on('SIGINT', () => resolve('SIGINT'));
    if (config.REVIVE_EXIT_ON_STDIN_EOF) {
      process.stdin.once('end', () => resolve('SIGTERM'));
      process.stdin.resume();
    }
  });
  const worker = await startWorker(config, telemetry);
  const signal = await signalled;
  // Reading stdin holds the event loop open; the drain must not depend on it.
  if (config.REVIVE_EXIT_ON_STDIN_EOF) process.stdin.pause();
  await worker.shutdown(signal);
  setTimeout(() => process.exit(process.exitCode ?? 0), DEFAULT_EXIT_GRACE_MS).unref();
}

export { healthcheckMain } from './healthcheck.js';
