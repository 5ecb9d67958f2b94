import { readFile, rename, writeFile } from 'node:fs/promises';
import { z } from 'zod';

/** How often the worker rewrites the heartbeat file even when nothing happens. @default 5_000 */
export const DEFAULT_HEALTH_WRITE_INTERVAL_MS = 5_000;
/** Slack on top of the long poll before an idle slot's poll counts as stuck (SDK retries, a slow emulator). @default 15_000 */
export const DEFAULT_POLL_STALE_MARGIN_MS = 15_000;
/**
 * How long past its budget a job may still hold its slot before the health check calls the slot wedged: the budget
 * ends the job itself, so only a step that ignores it (a hung write) gets there. @default 120_000
 */
export const DEFAULT_JOB_WEDGE_MARGIN_MS = 120_000;
/** A job running this long is wedged: GFPGAN on a 4x, 16-megapixel photo on one vCPU stays well under it. @default 900_000 */
export const DEFAULT_JOB_WEDGED_AFTER_MS = 15 * 60_000;

/** One job slot as the heartbeat file records it. */
const slotSchema = z.object({
  slot: z.number().int(),
  /** Last time this slot's poll loop started or finished a ReceiveMessage. */
  lastPollAt: z.number(),
  jobId: z.string().optional(),
  /** Epoch ms the running job started; absent when the slot is idle. */
  jobStartedAt: z.number().optional(),
  /**
   * The running job's own wedge limit, when its budget grew past the worker's largest photo budget (a video's
   * finisher, a large album): its budget plus the margin. The slot is wedged past the larger of the two.
   */
  jobWedgedAfterMs: z.number().optional(),
});

/** The heartbeat file (REVIVE_HEALTH_FILE). Times are epoch ms. It is read by another process, hence zod. */
export const healthStateSchema = z.object({
  pid: z.number().int(),
  startedAt: z.number(),
  /** Last rewrite of the file: the event loop is alive. */
  writtenAt: z.number(),
  /** Newest poll activity of any slot. */
  loopHeartbeatAt: z.number(),
  modelsLoaded: z.boolean(),
  modelsLoadedAt: z.number().optional(),
  modelLoadMs: z.number().optional(),
  modelLoadError: z.string().optional(),
  /** Set once SIGTERM arrived: polling has stopped on purpose. */
  draining: z.boolean(),
  waitTimeSeconds: z.number(),
  writeIntervalMs: z.number(),
  pollStaleMarginMs: z.number(),
  jobWedgedAfterMs: z.number(),
  slots: z.array(slotSchema),
});
export type HealthState = z.infer<typeof healthStateSchema>;

/** Outcome of one health check. */
export type HealthVerdict = { readonly healthy: true; readonly detail: string } | { readonly healthy: false; readonly reason: string };

/**
 * Judges a heartbeat file. Unhealthy when: models failed or have not loaded; the file is stale (the process is
 * frozen or its event loop blocked); an idle slot has not polled for longer than the long poll plus a margin
 * (its loop is stuck); a job has run past the wedge budget.
 */
export function evaluateHealth(state: HealthState, nowMs: number): HealthVerdict {
  if (state.modelLoadError !== undefined) return { healthy: false, reason: `models failed to load: ${state.modelLoadError}` };
  if (!state.modelsLoaded) return { healthy: false, reason: 'models are still loading' };
  const pollStaleMs = state.waitTimeSeconds * 1000 + state.pollStaleMarginMs;
  const fileStaleMs = Math.max(pollStaleMs, state.writeIntervalMs * 3);
  if (nowMs - state.writtenAt > fileStaleMs) return { healthy: false, reason: `heartbeat stale: the file is ${nowMs - state.writtenAt} ms old (limit ${fileStaleMs} ms)` };
  for (const slot of state.slots) {
    if (slot.jobStartedAt !== undefined) {
      const wedgedAfterMs = Math.max(state.jobWedgedAfterMs, slot.jobWedgedAfterMs ?? 0);
      if (nowMs - slot.jobStartedAt > wedgedAfterMs) {
        return { healthy: false, reason: `slot ${slot.slot} has run job ${slot.jobId ?? '?'} for ${nowMs - slot.jobStartedAt} ms (wedged after ${wedgedAfterMs} ms)` };
      }
    } else if (!state.draining && nowMs - slot.lastPollAt > pollStaleMs) {
      return { healthy: false, reason: `slot ${slot.slot} has not polled for ${nowMs - slot.lastPollAt} ms (limit ${pollStaleMs} ms)` };
    }
  }
  const busy = state.slots.filter((s) => s.jobStartedAt !== undefined).length;
  return { healthy: true, detail: `models loaded, ${busy}/${state.slots.length} slots busy${state.draining ? ', draining' : ''}` };
}

export interface HealthReporterOptions {
  readonly file: string;
  readonly concurrency: number;
  readonly waitTimeSeconds: number;
  /** @default DEFAULT_HEALTH_WRITE_INTERVAL_MS */
  readonly writeIntervalMs?: number;
  /** @default DEFAULT_POLL_STALE_MARGIN_MS */
  readonly pollStaleMarginMs?: number;
  /** @default DEFAULT_JOB_WEDGED_AFTER_MS */
  readonly jobWedgedAfterMs?: number;
  /** Added to a job's own budget for its slot's wedge limit (see `jobBudgetSet`). @default DEFAULT_JOB_WEDGE_MARGIN_MS */
  readonly jobWedgeMarginMs?: number;
}

/** Keeps the heartbeat file current: on a timer, and at once on every state change. Writes are atomic (rename). */
export class HealthReporter {
  private readonly state: HealthState;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private readonly writeIntervalMs: number;
  private readonly jobWedgeMarginMs: number;

  constructor(private readonly options: HealthReporterOptions) {
    const now = Date.now();
    this.writeIntervalMs = options.writeIntervalMs ?? DEFAULT_HEALTH_WRITE_INTERVAL_MS;
    this.jobWedgeMarginMs = options.jobWedgeMarginMs ?? DEFAULT_JOB_WEDGE_MARGIN_MS;
    this.state = {
      pid: process.pid,
      startedAt: now,
      writtenAt: now,
      loopHeartbeatAt: now,
      modelsLoaded: false,
      draining: false,
      waitTimeSeconds: options.waitTimeSeconds,
      writeIntervalMs: this.writeIntervalMs,
      pollStaleMarginMs: options.pollStaleMarginMs ?? DEFAULT_POLL_STALE_MARGIN_MS,
      jobWedgedAfterMs: options.jobWedgedAfterMs ?? DEFAULT_JOB_WEDGED_AFTER_MS,
      slots: Array.from({ length: options.concurrency }, (_, slot) => ({ slot, lastPollAt: now })),
    };
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.writeIntervalMs);
    this.timer.unref();
    void this.flush();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  modelsLoaded(loadMs: number): void {
    Object.assign(this.state, { modelsLoaded: true, modelsLoadedAt: Date.now(), modelLoadMs: loadMs });
    void this.flush();
  }

  modelLoadFailed(message: string): Promise<void> {
    this.state.modelLoadError = message;
    return this.flush();
  }

  polled(slot: number): void {
    const now = Date.now();
    const s = this.state.slots[slot];
    if (s) s.lastPollAt = now;
    this.state.loopHeartbeatAt = now;
    // Idle polls come every WaitTimeSeconds; writing at most once a second keeps the file fresh without churn.
    if (now - this.state.writtenAt > 1_000) void this.flush();
  }

  jobStarted(slot: number, jobId: string): void {
    const s = this.state.slots[slot];
    if (s) Object.assign(s, { jobId, jobStartedAt: Date.now() });
    void this.flush();
  }

  /**
   * The slot's job has a budget of `budgetSeconds` (it grows with the work found): the slot is not wedged before that
   * budget plus the margin, even past the worker-wide limit.
   */
  jobBudgetSet(slot: number, budgetSeconds: number): void {
    const s = this.state.slots[slot];
    if (s?.jobStartedAt === undefined) return;
    s.jobWedgedAfterMs = budgetSeconds * 1000 + this.jobWedgeMarginMs;
    void this.flush();
  }

  jobEnded(slot: number): void {
    const s = this.state.slots[slot];
    if (s) {
      delete s.jobId;
      delete s.jobStartedAt;
      delete s.jobWedgedAfterMs;
      s.lastPollAt = Date.now();
    }
    void this.flush();
  }

  draining(): void {
    this.state.draining = true;
    void this.flush();
  }

  /** Writes the file now; serialised so that an older snapshot never lands after a newer one. */
  flush(): Promise<void> {
    this.writing = this.writing.then(async () => {
      this.state.writtenAt = Date.now();
      const tmp = `${this.options.file}.${process.pid}.tmp`;
      try {
        await writeFile(tmp, JSON.stringify(this.state));
        await rename(tmp, this.options.file);
      } catch {
        // A full or read-only disk shows up as a stale file, which the health check reports.
      }
    });
    return this.writing;
  }
}

/** Reads and judges the heartbeat file; a missing or unreadable file is unhealthy. */
export async function checkHealthFile(file: string, nowMs: number = Date.now()): Promise<HealthVerdict> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    return { healthy: false, reason: `no heartbeat file at ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)})` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { healthy: false, reason: `heartbeat file ${file} is not JSON` };
  }
  const parsed = healthStateSchema.safeParse(json);
  if (!parsed.success) return { healthy: false, reason: `heartbeat file ${file} is malformed: ${parsed.error.issues[0]?.message ?? ''}` };
  return evaluateHealth(parsed.data, nowMs);
}
