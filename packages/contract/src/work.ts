import { z } from 'zod';

/**
 * The work a queue message carries, declared by whoever sends it, so that the fleet can scale on seconds of work
 * rather than on a count of messages (a one-minute video segment and a small photo are not the same job).
 *
 * A photo is one frame; a video segment is its frames. `facesPerFrame` is known once a face detector has seen the
 * input (a retried photo, an album child re-sent, a video segment after the probe's sample); absent, the consumer of
 * the estimate assumes its own default.
 */
export const workEstimateSchema = z.strictObject({
  /** Frames to run through the pipeline: 1 for a photo. */
  frames: z.number().int().positive(),
  /** Input pixels per frame (width × height of the decoded input). */
  pixelsPerFrame: z.number().int().positive(),
  /** Output pixels per frame, after the upscale. */
  outputPixelsPerFrame: z.number().int().positive().optional(),
  /** Faces per frame, where a detector has seen the input (an average for a video). */
  facesPerFrame: z.number().nonnegative().optional(),
});
export type WorkEstimate = z.infer<typeof workEstimateSchema>;
