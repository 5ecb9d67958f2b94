import type { ApiDeps } from '@revive/api';
import { toSweepHandler, type SweepOptions } from '@revive/api';

/** EventBridge runs the sweeper every minute in AWS; locally more often, so a lost job shows up quickly. @default 10_000 */
export const DEFAULT_LOCAL_SWEEP_INTERVAL_MS = 10_000;

export interface LocalSweeper {
  /** Stops the timer and waits for a run in progress. */
  stop(): Promise<void>;
}

/**
 * Runs the same sweep-enqueue handler the schedule runs in AWS, on the local server's deps, every `intervalMs`.
 * Runs never overlap: the next one is scheduled when the previous one ends.
 */
export function startLocalSweeper(deps: ApiDeps, intervalMs = DEFAULT_LOCAL_SWEEP_INTERVAL_MS, options: SweepOptions = {}): LocalSweeper {
  const sweep = toSweepHandler(() => deps, options);
  let stopped = false;
  let running: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    timer = setTimeout(() => {
      running = sweep()
        .catch((error: unknown) => deps.logger.error('local enqueue sweep failed', { error: error as Error }))
        .finally(() => {
          if (!stopped) schedule();
        });
    }, intervalMs);
    timer.unref();
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
