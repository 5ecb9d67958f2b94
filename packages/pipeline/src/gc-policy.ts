// When a pipeline thread collects its garbage: after the jobs whose buffers would otherwise stay in its RSS.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * After a job with at least this many output pixels, its thread runs a full garbage collection. A job's large
 * buffers (decoded input, upscaled background, alpha) are ArrayBuffers that V8 frees only when it collects, and an idle
 * thread allocates nothing that would make it collect: measured on a 61 MP photo at upscale 2 (`pnpm bench`), RSS
 * stayed at the job's peak (1.1 GiB) until the next job; MALLOC_ARENA_MAX=2 changed nothing, the collection brings
 * it back to within a few MiB of the idle worker. A 4 MP output's buffers are small enough to wait. @default 4_000_000
 */
export const DEFAULT_RELEASE_AFTER_OUTPUT_PIXELS = 4_000_000;

/** V8's `gc()` without starting node with --expose-gc: the flag set at run time applies to new contexts. */
function fullGc(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}

/** A thread's collection policy: what to do once a job's outcome is on its way to the pool. */
export interface GcPolicy {
  /** After a result: collects when the output had DEFAULT_RELEASE_AFTER_OUTPUT_PIXELS or more. */
  afterResult(outputPixels: number): void;
  /** After a failure: always collects, since a job can fail late (in the encoder) holding as much as one that succeeds; a collection of an idle heap is cheap. */
  afterFailure(): void;
}

/** The policy of one thread; a no-op where V8 refuses to expose `gc()`. */
export function createGcPolicy(releaseAfterOutputPixels = DEFAULT_RELEASE_AFTER_OUTPUT_PIXELS): GcPolicy {
  const gc = fullGc();
  return {
    afterResult: (outputPixels) => {
      if (outputPixels >= releaseAfterOutputPixels) gc?.();
    },
    afterFailure: () => gc?.(),
  };
}
