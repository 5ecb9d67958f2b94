// Dynamic batching for the restorer, as Triton's dynamic batcher does it: faces from any job queue up; a batch leaves
// as soon as it holds `maxBatchFaces` faces, or when its oldest face has waited `maxBatchDelayMs`, and never while the
// model is still running the previous batch (the faces that arrive meanwhile make the next one). A batch holds faces
// of one fidelity only: the model's fidelity input is one value per run.

import { DEFAULT_RESTORE_BATCH_DELAY_MS, DEFAULT_RESTORE_BATCH_FACES } from '@revive/contract/models';

// The defaults live in the contract, beside the worker's env vars that set them (REVIVE_RESTORE_BATCH_FACES, …_DELAY_MS).
export { DEFAULT_RESTORE_BATCH_DELAY_MS, DEFAULT_RESTORE_BATCH_FACES };

/** A face waiting for its batch. */
export interface BatchRequest {
  /** The face as `cropToTensor` writes it: planar [3,S,S] in [-1,1]. */
  readonly tensor: Float32Array;
  readonly fidelity: number;
  /** When the face was sent, in ms since the epoch (`performance.timeOrigin + performance.now()`, comparable across threads). */
  readonly sentAtMs: number;
}

/** Runs one batch: the faces' outputs, in the order given. */
export type RunBatch = (tensors: readonly Float32Array[], fidelity: number) => Promise<Float32Array[]>;

export interface RestoreBatcherOptions {
  /** @default DEFAULT_RESTORE_BATCH_FACES */
  readonly maxBatchFaces?: number;
  /** @default DEFAULT_RESTORE_BATCH_DELAY_MS */
  readonly maxBatchDelayMs?: number;
}

interface Pending extends BatchRequest {
  readonly resolve: (output: Float32Array) => void;
  readonly reject: (error: unknown) => void;
}

const nowMs = () => performance.timeOrigin + performance.now();

/** Collects faces into batches and runs one batch at a time. */
export class RestoreBatcher {
  readonly maxBatchFaces: number;
  readonly maxBatchDelayMs: number;
  readonly #run: RunBatch;
  readonly #queue: Pending[] = [];
  #running: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(run: RunBatch, options: RestoreBatcherOptions = {}) {
    this.maxBatchFaces = options.maxBatchFaces ?? DEFAULT_RESTORE_BATCH_FACES;
    this.maxBatchDelayMs = options.maxBatchDelayMs ?? DEFAULT_RESTORE_BATCH_DELAY_MS;
    if (!Number.isInteger(this.maxBatchFaces) || this.maxBatchFaces < 1) throw new RangeError(`maxBatchFaces must be a positive integer, not ${this.maxBatchFaces}`);
    if (!(this.maxBatchDelayMs >= 0)) throw new RangeError(`maxBatchDelayMs must be 0 or more, not ${this.maxBatchDelayMs}`);
    this.#run = run;
  }

  /** Queues one face; resolves with its output once its batch has run. */
  restore(request: BatchRequest): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ ...request, resolve, reject });
      this.#schedule();
    });
  }

  /** Resolves once the queue is empty and no batch runs. */
  async drained(): Promise<void> {
    while (this.#running || this.#queue.length > 0) {
      if (!this.#running) this.#flush();
      await this.#running;
    }
  }

  #schedule(): void {
    if (this.#running) return;
    const oldest = this.#queue[0];
    if (!oldest) return;
    const waitMs = oldest.sentAtMs + this.maxBatchDelayMs - nowMs();
    if (this.#sameFidelity(oldest.fidelity) >= this.maxBatchFaces || waitMs <= 0) {
      this.#flush();
      return;
    }
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#schedule();
    }, waitMs);
  }

  #sameFidelity(fidelity: number): number {
    return this.#queue.reduce((n, r) => n + (r.fidelity === fidelity ? 1 : 0), 0);
  }

  /** Takes the oldest face and up to `maxBatchFaces - 1` more of its fidelity, in arrival order, and runs them. */
  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const first = this.#queue[0];
    if (!first) return;
    const batch: Pending[] = [];
    for (let i = 0; i < this.#queue.length && batch.length < this.maxBatchFaces; ) {
      const request = this.#queue[i]!;
      if (request.fidelity === first.fidelity) {
        batch.push(request);
        this.#queue.splice(i, 1);
      } else i++;
    }
    this.#running = this.#run(
      batch.map((r) => r.tensor),
      first.fidelity,
    ).then(
      (outputs) => batch.forEach((r, i) => r.resolve(outputs[i]!)),
      (error: unknown) => batch.forEach((r) => r.reject(error)),
    );
    void this.#running.then(() => {
      this.#running = undefined;
      this.#schedule();
    });
  }

  /** Fails every queued face with `error` and stops the timer; a running batch still settles its own faces. */
  close(error: unknown): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const request of this.#queue.splice(0)) request.reject(error);
  }
}

/**
 * Calls `work(0)` … `work(count - 1)` with at most `limit` of them running at once, each next index as one finishes.
 * Resolves once all have settled; rejects with the first error after the others have settled (none is left running
 * behind a failed job), and starts no new index after an error.
 */
export async function forEachInFlight(count: number, limit: number, work: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const errors: unknown[] = [];
  const lane = async () => {
    while (!failed && next < count) {
      const index = next++;
      try {
        await work(index);
      } catch (error) {
        failed = true;
        errors.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, count)) }, lane));
  if (failed) throw errors[0];
}
