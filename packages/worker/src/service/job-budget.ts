import { DEFAULT_JOB_TIMEOUT_PER_FACE_SECONDS, DEFAULT_JOB_TIMEOUT_PER_MEGAPIXEL_SECONDS, DEFAULT_JOB_TIMEOUT_SECONDS } from '@revive/contract';
import { PermanentError } from '@revive/pipeline/errors';

/**
 * How long a job may run, from the moment a pipeline thread takes it: a fixed part, then a share per face it restores
 * and per megapixel of output, since those are what a photo's time grows with (a fixed budget let a 340-face photo
 * run for as long as a one-face one was allowed, and cut short a large photo that was merely slow).
 */
export interface JobBudgetSettings {
  /** REVIVE_JOB_TIMEOUT_SECONDS. @default DEFAULT_JOB_TIMEOUT_SECONDS */
  readonly baseSeconds?: number;
  /** REVIVE_JOB_TIMEOUT_PER_FACE_SECONDS. @default DEFAULT_JOB_TIMEOUT_PER_FACE_SECONDS */
  readonly perFaceSeconds?: number;
  /** REVIVE_JOB_TIMEOUT_PER_MEGAPIXEL_SECONDS. @default DEFAULT_JOB_TIMEOUT_PER_MEGAPIXEL_SECONDS */
  readonly perMegapixelSeconds?: number;
}

/** The work a job turned out to be, once its faces are found. */
export interface JobWork {
  /** Faces that will be restored (after `maxFaces`), not every face detected. */
  readonly faces: number;
  readonly outputPixels: number;
}

/** A job's budget and how it was made up, for the JOB_TIMEOUT reason. */
export interface JobBudget {
  readonly seconds: number;
  readonly explanation: string;
}

const round1 = (value: number) => Math.round(value * 10) / 10;

/**
 * base + perFace × faces + perMegapixel × output megapixels, in seconds. Before detection a job has only the base,
 * which covers decode and detect; `work` undefined gives that.
 */
export function jobBudget(settings: JobBudgetSettings, work?: JobWork): JobBudget {
  const base = settings.baseSeconds ?? DEFAULT_JOB_TIMEOUT_SECONDS;
  if (work === undefined) return { seconds: base, explanation: `REVIVE_JOB_TIMEOUT_SECONDS ${base} s, before the faces were found` };
  const perFace = settings.perFaceSeconds ?? DEFAULT_JOB_TIMEOUT_PER_FACE_SECONDS;
  const perMegapixel = settings.perMegapixelSeconds ?? DEFAULT_JOB_TIMEOUT_PER_MEGAPIXEL_SECONDS;
  const megapixels = work.outputPixels / 1e6;
  const seconds = round1(base + perFace * work.faces + perMegapixel * megapixels);
  return {
    seconds,
    explanation: `${base} s + ${perFace} s × ${work.faces} face(s) + ${perMegapixel} s × ${round1(megapixels)} MP of output (REVIVE_JOB_TIMEOUT_SECONDS, _PER_FACE_SECONDS, _PER_MEGAPIXEL_SECONDS)`,
  };
}

/**
 * One job's budget as a timer: the base from `start()` (a pipeline thread took the job), re-armed by `detected()` with
 * the whole budget, still counted from the start. Past it `signal` aborts with a permanent JOB_TIMEOUT whose reason
 * shows how the budget was made up.
 */
export class JobDeadline {
  private readonly controller = new AbortController();
  private startedAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly settings: JobBudgetSettings) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The job's own time starts: the base budget runs. Idempotent. */
  start(): void {
    if (this.startedAt !== undefined) return;
    this.startedAt = performance.now();
    this.arm(jobBudget(this.settings));
  }

  /** The faces are found: the budget becomes the whole formula's, from the same start. */
  detected(work: JobWork): void {
    if (this.startedAt === undefined || this.controller.signal.aborted) return;
    this.arm(jobBudget(this.settings, work));
  }

  clear(): void {
    clearTimeout(this.timer);
  }

  private arm(budget: JobBudget): void {
    clearTimeout(this.timer);
    const leftMs = Math.max(0, budget.seconds * 1000 - (performance.now() - (this.startedAt ?? 0)));
    this.timer = setTimeout(
      () => this.controller.abort(new PermanentError('JOB_TIMEOUT', `the job ran past its budget of ${budget.seconds} s (${budget.explanation}) and was stopped`)),
      leftMs,
    );
  }
}
