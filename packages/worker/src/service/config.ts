import { workerEnvSchema, type WorkerEnv } from '@revive/contract';
import { PermanentError } from '../errors.js';

/** Worker configuration: the validated environment. */
export type WorkerConfig = WorkerEnv;

/**
 * Validates the environment once, at start. Every problem is listed in one message so that a broken task
 * definition is fixed in one deploy, not one variable at a time.
 */
export function loadWorkerConfig(env: NodeJS.ProcessEnv): WorkerConfig {
  const parsed = workerEnvSchema.safeParse(env);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.') || '(env)'}: ${issue.message}`);
  throw new PermanentError('CONFIG', `invalid worker environment:\n${lines.join('\n')}`, { cause: parsed.error });
}

/** How often a running job's visibility and lease are extended: a third of the visibility timeout unless set. */
export function heartbeatIntervalMs(config: WorkerConfig): number {
  return (config.REVIVE_HEARTBEAT_INTERVAL_SECONDS ?? Math.max(1, Math.floor(config.REVIVE_VISIBILITY_TIMEOUT_SECONDS / 3))) * 1000;
}
