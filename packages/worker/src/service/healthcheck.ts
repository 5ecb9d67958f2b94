// `revive healthcheck`, the container health check ECS runs every 30 s. Its own module, importing only the
// heartbeat reader and the env schema: the check runs inside the worker's task and must stay small and fast.
import { workerEnvSchema } from '@revive/contract';
import { checkHealthFile } from './health.js';

/** Checks the heartbeat file; returns the process exit code (0 healthy, 1 unhealthy). */
export async function healthcheckMain(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  // Only the file's path is needed: the thresholds are in the file, written by the worker that knows them.
  const parsed = workerEnvSchema.pick({ REVIVE_HEALTH_FILE: true }).safeParse(env);
  if (!parsed.success) {
    process.stderr.write(`revive healthcheck: invalid REVIVE_HEALTH_FILE: ${parsed.error.issues[0]?.message ?? ''}\n`);
    return 1;
  }
  const verdict = await checkHealthFile(parsed.data.REVIVE_HEALTH_FILE);
  if (verdict.healthy) {
    process.stdout.write(`healthy: ${verdict.detail}\n`);
    return 0;
  }
  process.stderr.write(`unhealthy: ${verdict.reason}\n`);
  return 1;
}
