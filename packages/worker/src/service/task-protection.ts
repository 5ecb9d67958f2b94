import type { Logger } from '@aws-lambda-powertools/logger';
import { z } from 'zod';
import { DEFAULT_PROTECTION_RELEASE_DELAY_MS, DEFAULT_WORKER_IDLE_PROTECTION_SECONDS, QUEUE_IDLE_READS } from '@revive/contract';
import { describeThrown } from '@revive/pipeline/errors';

/**
 * How long one "protect" call keeps the task out of scale-in. Renewed while jobs run, so it only bounds how
 * long a wedged worker (event loop alive, jobs stuck) can hold a task against scale-in. @default 60
 */
export const DEFAULT_PROTECTION_EXPIRES_IN_MINUTES = 60;
/** Renewal period while jobs keep running: a third of the expiry, so after one failed renewal the next still lands in time. @default 1_200_000 */
export const DEFAULT_PROTECTION_RENEW_INTERVAL_MS = 20 * 60_000;
/**
 * Limit on one agent call. The agent is task-local but calls ECS UpdateTaskProtection on our behalf; the limit
 * keeps the shutdown's final "unprotect" inside the shutdown reserve. @default 2_500
 */
export const DEFAULT_AGENT_REQUEST_TIMEOUT_MS = 2_500;

// The release delay and the idle reads are the contract's: the scaling bench replays this class's behaviour with them.
export { DEFAULT_PROTECTION_RELEASE_DELAY_MS, QUEUE_IDLE_READS };

/**
 * How long the task keeps its protection after its last job when it then finds the queue empty (the worker's
 * REVIVE_IDLE_PROTECTION_SECONDS). 0: only the release delay. @default the contract's DEFAULT_WORKER_IDLE_PROTECTION_SECONDS (0)
 */
export const DEFAULT_IDLE_PROTECTION_MS = DEFAULT_WORKER_IDLE_PROTECTION_SECONDS * 1000;

/**
 * Limit on one read of the queue's counts: the SQS client has no request timeout of its own, and the read only decides
 * whether to keep a window that is already running. @default 5_000
 */
export const DEFAULT_QUEUE_READ_TIMEOUT_MS = 5_000;

/** The path the ECS container agent serves task scale-in protection under, relative to ECS_AGENT_URI. */
export const TASK_PROTECTION_PATH = '/task-protection/v1/state';

/** The agent's answer: `protection` on success, `failure` (HTTP 200, ECS refused) or `error` (4xx/5xx) otherwise. */
const agentResponseSchema = z.object({
  protection: z.object({ ProtectionEnabled: z.boolean().optional(), ExpirationDate: z.string().nullish(), TaskArn: z.string().nullish() }).nullish(),
  failure: z.object({ Arn: z.string().nullish(), Reason: z.string().nullish(), Detail: z.string().nullish() }).nullish(),
  error: z.object({ Arn: z.string().nullish(), Code: z.string().nullish(), Message: z.string().nullish() }).nullish(),
  requestID: z.string().nullish(),
});

/** Where the adapter reports: the worker's Powertools logger. */
export type ProtectionLogger = Pick<Logger, 'info' | 'warn'>;

export interface TaskProtectionOptions {
  /** ECS_AGENT_URI. Unset (local runs, tests): every method is a no-op and nothing is called. */
  readonly agentUri: string | undefined;
  readonly logger: ProtectionLogger;
  /** @default DEFAULT_PROTECTION_EXPIRES_IN_MINUTES */
  readonly expiresInMinutes?: number;
  /** @default DEFAULT_PROTECTION_RENEW_INTERVAL_MS */
  readonly renewIntervalMs?: number;
  /** @default DEFAULT_AGENT_REQUEST_TIMEOUT_MS */
  readonly requestTimeoutMs?: number;
  /** @default DEFAULT_PROTECTION_RELEASE_DELAY_MS */
  readonly releaseDelayMs?: number;
  /**
   * The idle window: after the release delay, a task that finds the queue empty (`queueIdle`) keeps its protection
   * until this long after its last job ended; a task idle while other work waits or runs lets go once its reads all
   * say so (QUEUE_IDLE_READS, the release delay apart), and in any case when the window ends. Longer than the release
   * delay to have any effect. @default DEFAULT_IDLE_PROTECTION_MS
   */
  readonly idleProtectionMs?: number;
  /**
   * Whether no job waits in the queue (visible or delayed) or is held by any task, by the queue's approximate counts:
   * asked at the end of the release delay, and again (QUEUE_IDLE_READS in all, the release delay apart) while it
   * answers "not idle"; the first "idle" keeps the window. A failure, or no answer within `queueReadTimeoutMs` (the
   * signal aborts then), reads as "not idle": the task lets go, which costs at most a cold start. Without it there is
   * no idle window.
   */
  readonly queueIdle?: (signal: AbortSignal) => Promise<boolean>;
  /** @default DEFAULT_QUEUE_READ_TIMEOUT_MS */
  readonly queueReadTimeoutMs?: number;
}

/**
 * ECS task scale-in protection through the container agent: protected while any job runs, unprotected when
 * all slots are idle, so scale-in picks idle tasks and never SIGTERMs one in the middle of a job.
 *
 * The fleet's last busy task (it finds the queue empty once idle) stays protected for the idle window after its last
 * job: the rent-or-buy window before the fleet reaches zero. The scaling signal can then take the desired count to
 * zero as soon as the queue is empty; ECS keeps the task, which goes on polling and serves a job sent meanwhile
 * without a cold start, and stops it once the window passes with no job. Other idle tasks let go after a few reads of
 * the queue, the release delay apart, so a surplus still goes while work flows.
 *
 * Agent calls run one at a time on a chain and each sends the state wanted when it runs, so quick busy/idle
 * flips collapse and "on" can never overtake a later "off". A failed call is logged and left to the next
 * change or renewal: protection is an optimisation (the drain on SIGTERM still applies) and never fails a job.
 */
export class TaskProtection {
  private readonly url: string | undefined;
  private readonly expiresInMinutes: number;
  private readonly renewIntervalMs: number;
  private readonly requestTimeoutMs: number;
  private wanted = false;
  /** What the agent last confirmed; undefined before any call and after a failed one. */
  private confirmed: boolean | undefined;
  private chain: Promise<void> = Promise.resolve();
  private renewTimer: NodeJS.Timeout | undefined;
  private readonly releaseDelayMs: number;
  private readonly idleProtectionMs: number;
  private readonly queueReadTimeoutMs: number;
  /** A release waiting out the debounce (and then the idle window), and how settled() waits for it. */
  private release: { timer: NodeJS.Timeout | undefined; readTimer: NodeJS.Timeout | undefined; done: Promise<void>; fire: () => void } | undefined;
  private closed = false;

  constructor(private readonly options: TaskProtectionOptions) {
    this.url = options.agentUri ? `${options.agentUri.replace(/\/+$/, '')}${TASK_PROTECTION_PATH}` : undefined;
    this.expiresInMinutes = options.expiresInMinutes ?? DEFAULT_PROTECTION_EXPIRES_IN_MINUTES;
    this.renewIntervalMs = options.renewIntervalMs ?? DEFAULT_PROTECTION_RENEW_INTERVAL_MS;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_AGENT_REQUEST_TIMEOUT_MS;
    this.releaseDelayMs = options.releaseDelayMs ?? DEFAULT_PROTECTION_RELEASE_DELAY_MS;
    this.idleProtectionMs = options.idleProtectionMs ?? DEFAULT_IDLE_PROTECTION_MS;
    this.queueReadTimeoutMs = options.queueReadTimeoutMs ?? DEFAULT_QUEUE_READ_TIMEOUT_MS;
  }

  /** True when running under ECS (ECS_AGENT_URI set). */
  get active(): boolean {
    return this.url !== undefined;
  }

  /**
   * Called with the running-job count whenever it changes: protect on 0 → n; unprotect once the count has stayed 0
   * for the release delay (so a job that follows within it needs no call at all) and the queue reads say work goes on
   * elsewhere, or, if a read finds the queue empty, once the idle window after the last job has passed (the window's
   * end bounds the reads too). A job meanwhile re-arms it all.
   */
  jobsRunning(count: number): void {
    if (!this.url || this.closed) return;
    const busy = count > 0;
    if (busy) this.cancelRelease();
    else if (this.wanted && this.release === undefined) {
      this.startRelease();
      return;
    }
    if (busy !== this.wanted) this.setWanted(busy);
  }

  /** Shutdown, after the drain: stop renewing and unprotect unless the agent already confirmed "off". Resolves when done; never throws. */
  async close(): Promise<void> {
    if (!this.url || this.closed) return;
    this.cancelRelease();
    this.closed = true;
    this.wanted = false;
    clearInterval(this.renewTimer);
    this.renewTimer = undefined;
    await this.enqueue(false);
  }

  /** Resolves once every call queued so far, and a release waiting out its delay, has ended (for tests and shutdown). */
  async settled(): Promise<void> {
    await this.release?.done;
    await this.chain;
  }

  private setWanted(busy: boolean): void {
    this.wanted = busy;
    clearInterval(this.renewTimer);
    this.renewTimer = undefined;
    if (busy) {
      this.renewTimer = setInterval(() => void this.enqueue(true), this.renewIntervalMs);
      this.renewTimer.unref();
    }
    void this.enqueue(false);
  }

  private startRelease(): void {
    const idleSince = Date.now();
    let fire!: () => void;
    const done = new Promise<void>((resolve) => (fire = resolve));
    const release: NonNullable<TaskProtection['release']> = { timer: undefined, readTimer: undefined, done, fire };
    const finish = () => {
      if (this.release !== release) return;
      clearTimeout(release.timer);
      clearTimeout(release.readTimer);
      this.release = undefined;
      this.setWanted(false);
      fire();
    };
    this.release = release;
    if (this.idleProtectionMs <= this.releaseDelayMs || this.options.queueIdle === undefined) {
      release.timer = setTimeout(finish, this.releaseDelayMs);
      release.timer.unref();
      return;
    }
    // The window's end is armed before any read, so a read can only shorten the window, never stretch it: a read that
    // hangs still leaves the task unprotected once the window has passed.
    release.timer = setTimeout(finish, idleSince + this.idleProtectionMs - Date.now());
    release.timer.unref();
    let reads = 0;
    const read = async () => {
      release.readTimer = undefined;
      reads++;
      const idle = await this.readQueueIdle();
      // A job came, shutdown began or the window passed while the queue was read: that path owns protection now.
      if (this.release !== release) return;
      if (idle) {
        this.options.logger.info('task scale-in protection kept for the idle window', { idleProtectionMs: this.idleProtectionMs, releaseInMs: idleSince + this.idleProtectionMs - Date.now() });
        return;
      }
      // SQS's counts are approximate: a message just deleted may still count for a while. One "not idle" is not
      // enough to let go (the scaling signal would zero the last task at once); a few, the release delay apart, are.
      if (reads >= QUEUE_IDLE_READS) return finish();
      release.readTimer = setTimeout(() => void read(), this.releaseDelayMs);
      release.readTimer.unref();
    };
    release.readTimer = setTimeout(() => void read(), this.releaseDelayMs);
    release.readTimer.unref();
  }

  /**
   * True when the queue holds no job, waiting, delayed or running: this task was the fleet's last busy one. A failed
   * read, or one that takes longer than the read timeout, reads as "not idle". Never throws.
   */
  private async readQueueIdle(): Promise<boolean> {
    const signal = AbortSignal.timeout(this.queueReadTimeoutMs);
    const timedOut = new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));
    timedOut.catch(() => undefined);
    try {
      // The race as well as the signal: a reader that ignores the signal still cannot hold the release.
      return await Promise.race([this.options.queueIdle!(signal), timedOut]);
    } catch (error) {
      this.options.logger.warn('queue counts unreadable: read as not idle', { error: describeThrown(error) });
      return false;
    }
  }

  private cancelRelease(): void {
    if (this.release === undefined) return;
    clearTimeout(this.release.timer);
    clearTimeout(this.release.readTimer);
    this.release.fire();
    this.release = undefined;
  }

  private enqueue(renew: boolean): Promise<void> {
    this.chain = this.chain.then(() => this.sync(renew));
    return this.chain;
  }

  private async sync(renew: boolean): Promise<void> {
    const want = this.wanted;
    // A renewal re-sends "on" to push the expiry out; otherwise only a change is worth a call.
    if (want === this.confirmed && !(renew && want)) return;
    this.confirmed = (await this.put(want)) ? want : undefined;
  }

  /** One PUT to the agent; true when the agent confirmed the state. Logs every other outcome, never throws. */
  private async put(enabled: boolean): Promise<boolean> {
    if (!this.url) return false;
    const body = enabled ? { ProtectionEnabled: true, ExpiresInMinutes: this.expiresInMinutes } : { ProtectionEnabled: false };
    const log = this.options.logger;
    try {
      const response = await fetch(this.url, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.requestTimeoutMs),
      });
      const text = await response.text();
      const parsed = agentResponseSchema.safeParse(safeJson(text));
      const answer = parsed.success ? parsed.data : undefined;
      if (response.ok && answer?.protection) {
        log.info(enabled ? 'task scale-in protection on' : 'task scale-in protection off', {
          protectionEnabled: answer.protection.ProtectionEnabled,
          expirationDate: answer.protection.ExpirationDate,
        });
        return true;
      }
      if (answer?.failure) {
        log.warn('task scale-in protection refused by ECS', { protectionEnabled: enabled, status: response.status, reason: answer.failure.Reason, detail: answer.failure.Detail, arn: answer.failure.Arn });
        return false;
      }
      log.warn('task scale-in protection call failed', {
        protectionEnabled: enabled,
        status: response.status,
        code: answer?.error?.Code,
        error: answer?.error?.Message ?? text.slice(0, 500),
        requestId: answer?.requestID,
      });
      return false;
    } catch (error) {
      log.warn('task scale-in protection call failed', { protectionEnabled: enabled, error: describeThrown(error) });
      return false;
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
