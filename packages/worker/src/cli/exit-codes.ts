import { WorkerError } from '@revive/pipeline/errors';

/** What `revive` exits with; scripts branch on these, so they are part of the CLI's contract. */
export const EXIT_CODES = {
  /** Every image was restored. */
  ok: 0,
  /** Some images failed (each is named in the report and on stderr); the others were written. */
  someFailed: 1,
  /** Bad usage: an unknown option, a value out of range, an input path that does not exist. */
  usage: 2,
  /** A model could not be found, downloaded, verified or loaded, or the device is unavailable. */
  model: 3,
  /** An unexpected error (a bug). */
  internal: 4,
} as const;

/** The text appended to `--help`. */
export const EXIT_CODES_HELP = `
Exit codes:
  ${EXIT_CODES.ok}  every image was restored
  ${EXIT_CODES.someFailed}  some images failed (see stderr and report.json); the others were written
  ${EXIT_CODES.usage}  bad usage (unknown option, value out of range, missing input)
  ${EXIT_CODES.model}  model problem (missing and not downloadable, checksum mismatch, invalid model) or device unavailable
  ${EXIT_CODES.internal}  unexpected internal error`;

/** Exit code for an error that ends the whole run (not a per-file failure). */
export function exitCodeFor(error: unknown): number {
  if (!(error instanceof WorkerError)) return EXIT_CODES.internal;
  switch (error.code) {
    case 'CONFIG':
      return EXIT_CODES.usage;
    case 'MODEL_INVALID':
    case 'MODEL_UNAVAILABLE':
    case 'MODEL_CHECKSUM':
    case 'DEVICE_UNAVAILABLE':
    case 'UNSUPPORTED_MODEL':
      return EXIT_CODES.model;
    default:
      return EXIT_CODES.internal;
  }
}

/** One line for stderr: the code when the error is ours, the cause chain's first message otherwise. */
export function describeError(error: unknown): string {
  if (error instanceof WorkerError) return `${error.code}: ${error.message}`;
  if (error instanceof Error) return `INTERNAL: ${error.message}`;
  return `INTERNAL: ${String(error)}`;
}
