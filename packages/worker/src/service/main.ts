// STUB — owned by the service engineer. Entry points the CLI calls for `revive serve` and `revive healthcheck`.

/** Runs the queue worker until SIGTERM/SIGINT; configuration comes only from the environment (workerEnvSchema). */
export async function serveMain(_env: NodeJS.ProcessEnv = process.env): Promise<void> {
  throw new Error('not implemented');
}

/** Checks the heartbeat file; returns the process exit code (0 healthy, 1 unhealthy). */
export async function healthcheckMain(_env: NodeJS.ProcessEnv = process.env): Promise<number> {
  throw new Error('not implemented');
}
