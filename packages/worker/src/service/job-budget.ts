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

/**
 * The work of a parent job's own step (a video's planner or finisher, an album's ZIP), which restores nothing: what it
 * copies. Its children's work is theirs, on their own budgets.
 */
export interface ParentWork {
  /** Bytes the step moves: a URL source's copy (planner), the input it reads to mux the audio from (finisher). */
  readonly bytes?: number;
  /** Frames the finisher concatenates and muxes (stream copy). */
  readonly frames?: number;
  /** Children the step handles one by one: segment records written, segment objects fetched, an album's photos zipped. */
  readonly children?: number;
}

/**
 * A parent's seconds per GiB it moves: a floor of about 3.5 MB/s through S3 or a source's server.
 * @default 300
 */
export const PARENT_BUDGET_PER_GIB_SECONDS = 300;
/**
 * A parent's seconds per 1,000 frames it concatenates and muxes: stream copy, a floor of 100 frames/s.
 * @default 10
 */
export const PARENT_BUDGET_PER_1000_FRAMES_SECONDS = 10;
/**
 * A parent's seconds per child: a record written and a message sent, or an object fetched (a photo of an album, a
 * segment of a video).
 * @default 2
 */
export const PARENT_BUDGET_PER_CHILD_SECONDS = 2;

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
export function jobBudget(settings: JobBudgetSettings, work?: JobWork | ParentWork): JobBudget {
  const base = settings.baseSeconds ?? DEFAULT_JOB_TIMEOUT_SECONDS;
  if (work === undefined) return { seconds: base, explanation: `REVIVE_JOB_TIMEOUT_SECONDS ${base} s, before the faces were found` };
  if (!('faces' in work)) return parentBudget(base, work);
  const perFace = settings.perFaceSeconds ?? DEFAULT_JOB_TIMEOUT_PER_FACE_SECONDS;
  const perMegapixel = settings.perMegapixelSeconds ?? DEFAULT_JOB_TIMEOUT_PER_MEGAPIXEL_SECONDS;
  const megapixels = work.outputPixels / 1e6;
  const seconds = round1(base + perFace * work.faces + perMegapixel * megapixels);
  return {
    seconds,
    explanation: `${base} s + ${perFace} s × ${work.faces} face(s) + ${perMegapixel} s × ${round1(megapixels)} MP of output (REVIVE_JOB_TIMEOUT_SECONDS, _PER_FACE_SECONDS, _PER_MEGAPIXEL_SECONDS)`,
  };
}

/** base + the parent's work at the PARENT_BUDGET_* rates. */
function parentBudget(base: number, work: ParentWork): JobBudget {
  const gib = (work.bytes ?? 0) / 2 ** 30;
  const frames = work.frames ?? 0;
  const children = work.children ?? 0;
  const seconds = round1(base + PARENT_BUDGET_PER_GIB_SECONDS * gib + (PARENT_BUDGET_PER_1000_FRAMES_SECONDS * frames) / 1000 + PARENT_BUDGET_PER_CHILD_SECONDS * children);
  return {
    seconds,
    explanation: `${base} s + ${PARENT_BUDGET_PER_GIB_SECONDS} s × ${round1(gib * 100) / 100} GiB + ${PARENT_BUDGET_PER_1000_FRAMES_SECONDS} s × ${frames} frames / 1000 + ${PARENT_BUDGET_PER_CHILD_SECONDS} s × ${children} children (REVIVE_JOB_TIMEOUT_SECONDS and the worker's PARENT_BUDGET_* rates)`,
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

  /** `onBudget` hears each budget armed (the health check's wedge limit follows a budget that grew). */
  constructor(
    private readonly settings: JobBudgetSettings,
    private readonly onBudget?: (seconds: number) => void,
  ) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The job's own time starts: the base budget runs. Idempotent. */
  start(): void {
    if (this.startedAt !== undefined) return;
    this.startedAt = performance.now();
    this.arm(jobBudget(this.settings));
  }

  /** The work is known (a photo's faces, a parent's bytes, frames, children): the budget becomes the whole formula's, from the same start. */
  detected(work: JobWork | ParentWork): void {
    if (this.startedAt === undefined || this.controller.signal.aborted) return;
    this.arm(jobBudget(this.settings, work));
  }

  clear(): void {
    clearTimeout(this.timer);
  }

  private arm(budget: JobBudget): void {
    clearTimeout(this.timer);
    this.onBudget?.(budget.seconds);
    const leftMs = Math.max(0, budget.seconds * 1000 - (performance.now() - (this.startedAt ?? 0)));
    this.timer = setTimeout(
      () => this.controller.abort(new PermanentError('JOB_TIMEOUT', `the job ran past its budget of ${budget.seconds} s (${budget.explanation}) and was stopped`)),
      leftMs,
    );
  }
}
