import { workerEnvSchema, type WorkerEnv } from '@revive/contract';
import { PermanentError } from '@revive/pipeline/errors';

/** Worker configuration: the validated environment. */
export type WorkerConfig = WorkerEnv;

/**
 * Validates the environment once, at start. Every problem is listed in one message so that a broken task
 * definition is fixed in one deploy, not one variable at a time.
 */
export function loadWorkerConfig(env: NodeJS.ProcessEnv): WorkerConfig {
  const parsed = workerEnvSchema.safeParse(env);
  if (parsed.success) {
    const { REVIVE_HEARTBEAT_INTERVAL_SECONDS: heartbeat, REVIVE_VISIBILITY_TIMEOUT_SECONDS: visibility } = parsed.data;
    // A heartbeat slower than half the visibility lets the message reappear (and the lease lapse) mid-job.
    if (heartbeat === undefined || heartbeat * 2 <= visibility) return parsed.data;
    throw new PermanentError(
      'CONFIG',
      `invalid worker environment:\n  REVIVE_HEARTBEAT_INTERVAL_SECONDS: ${heartbeat} must be at most half of REVIVE_VISIBILITY_TIMEOUT_SECONDS (${visibility})`,
    );
  }
  const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.') || '(env)'}: ${issue.message}`);
  throw new PermanentError('CONFIG', `invalid worker environment:\n${lines.join('\n')}`, { cause: parsed.error });
}

/** How often a running job's visibility and lease are extended: a third of the visibility timeout unless set. */
export function heartbeatIntervalMs(config: WorkerConfig): number {
  return (config.REVIVE_HEARTBEAT_INTERVAL_SECONDS ?? Math.max(1, Math.floor(config.REVIVE_VISIBILITY_TIMEOUT_SECONDS / 3))) * 1000;
}
