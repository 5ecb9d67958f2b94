// Size limits of a job, shared by the API (which checks an upload's header before queueing) and the worker (which
// checks every source's header before decoding): the same arithmetic, the same codes, the same messages.
import type { OutputExt } from './job.js';

/** Largest input: a 64 MP photo (8000×8000). @default 64_000_000 */
export const DEFAULT_MAX_INPUT_PIXELS = 64_000_000;
/**
 * Largest output (input × upscale²): the 64 MP photo at upscale 2. At upscale 4 the same photo would be 1,024 MP,
 * 3 GiB of RGB for the background alone, which a 4 GiB task cannot hold. @default 256_000_000
 */
export const DEFAULT_MAX_OUTPUT_PIXELS = 256_000_000;
/** The CPU task's memory that the default job memory is sized for (infra's DEFAULT_WORKER_MEMORY_MIB.cpu). @default 4096 */
export const DEFAULT_TASK_MEMORY_MIB = 4096;
/** A GPU task's memory (infra's DEFAULT_WORKER_MEMORY_MIB.gpu): two jobs' shares beside the baseline. @default 8192 */
export const DEFAULT_GPU_TASK_MEMORY_MIB = 8192;
/**
 * What a worker holds besides its jobs: node, libvips, the detector and a GFPGAN v1.4-class restorer after its first
 * face (337 MB of weights, onnxruntime's prepacked copy and its arena at working size). Measured through `revive serve`
 * with the stand-in restorer (scripts/stand-in, same architecture and size), 2 threads: 0.9 GiB ready, 1.4 GiB after a
 * one-face job, 1.8 GiB after a two-face job at upscale 4 (packages/worker/test/service-stand-in-memory.test.ts;
 * docs/benchmarks.md). Kept out of the jobs' share. @default 2048
 */
export const WORKER_BASELINE_MIB = 2048;

/** Encodings the worker writes. */
export type OutputFormat = 'jpeg' | 'png' | 'webp';
/** Formats an input may have; `other` is anything Revive reads but does not write (tiff, gif, avif…). */
export type InputFormat = OutputFormat | 'other';

/**
 * Largest width or height each encoder writes, measured with sharp 0.35.5 (libvips 8.17): WebP 16383 (libwebp's
 * WEBP_MAX_DIMENSION; 16384 fails with "too large for the WebP format"), JPEG 65500 (libjpeg-turbo's
 * JPEG_MAX_DIMENSION; 65501 fails with "Maximum supported image dimension is 65500 pixels"), PNG 2³¹−1 (the
 * PNG spec; the output pixel limit is hit long before).
 */
export const FORMAT_MAX_SIDE_PX: Readonly<Record<OutputFormat, number>> = { jpeg: 65_500, webp: 16_383, png: 2_147_483_647 };

const FORMAT_NAMES: Readonly<Record<OutputFormat, string>> = { jpeg: 'JPEG', png: 'PNG', webp: 'WebP' };

/**
 * Working memory per job, in bytes per pixel, counted from the pipeline's large buffers (packages/pipeline/src):
 * - per input pixel: the decoded RGB (3), or for RGBA the decoder's RGBA (4) plus the RGB and alpha planes split
 *   from it (3 + 1). Grey inputs are expanded to RGB, so they count as RGB.
 * - per output pixel: the upscaled background (3), the upscaled alpha plane (1 with alpha), and the encoder's
 *   output buffer: PNG at worst uncompressed (3, or 4 with alpha), JPEG/WebP at q95 about 1 byte per pixel.
 * Checked against peak RSS with `pnpm bench` (a 61 MP JPEG at upscale 2: estimate and measured peak in docs/benchmarks.md).
 */
export const JOB_MEMORY_BYTES_PER_PIXEL = {
  inputRgb: 3,
  inputRgba: 8,
  outputRgb: 3,
  outputAlpha: 1,
  encoded: { png: 3, jpeg: 1, webp: 1 },
  encodedAlpha: { png: 1, jpeg: 0, webp: 1 },
} as const;

/**
 * A job's memory budget on a task: what is left after the baseline, shared by the jobs that run at once.
 * 4096 MiB with 1 job (CPU) gives 2048 MiB; 8192 MiB with 2 jobs (GPU) 3072 MiB each.
 */
export function jobMemoryBudgetMiB(taskMemoryMiB: number, concurrency: number): number {
  return Math.max(256, Math.floor((taskMemoryMiB - WORKER_BASELINE_MIB) / Math.max(1, concurrency)));
}

/** The budget a worker uses when REVIVE_JOB_MEMORY_MIB is not set: the default task at this concurrency. */
export function defaultJobMemoryMiB(concurrency: number): number {
  return jobMemoryBudgetMiB(DEFAULT_TASK_MEMORY_MIB, concurrency);
}

/** What the limits need to know of a source, from its header alone. */
export interface ImageGeometry {
  /** Width and height as displayed (EXIF orientation applied: a 90° rotation swaps them). */
  readonly width: number;
  readonly height: number;
  readonly hasAlpha: boolean;
  readonly format: InputFormat;
}

/** The job options that decide the output's size and encoding. */
export interface OutputPlanOptions {
  readonly upscale: number;
  readonly ext: OutputExt;
  /**
   * The background upsampler's own scale, when the worker runs one: its output (input × scale², RGB) is held beside
   * the job's output while it is resized to the upscale asked for. The API cannot know it; the worker passes it.
   * @default none (the plain upscale writes the output directly)
   */
  readonly bgUpsamplerScale?: number;
}

export interface ImageLimits {
  /** @default DEFAULT_MAX_INPUT_PIXELS */
  readonly maxInputPixels?: number;
  /** @default DEFAULT_MAX_OUTPUT_PIXELS */
  readonly maxOutputPixels?: number;
  /** Working memory one job may need (REVIVE_JOB_MEMORY_MIB). @default defaultJobMemoryMiB(1) */
  readonly jobMemoryMiB?: number;
}

/** A job that fits: its output size and the format it will be written in. */
export interface OutputPlan {
  readonly ok: true;
  readonly width: number;
  readonly height: number;
  readonly format: OutputFormat;
  /** Estimated working memory (JOB_MEMORY_BYTES_PER_PIXEL), in bytes. */
  readonly memoryBytes: number;
  /** Set when `ext: auto` had to leave the input's format because the output does not fit it. */
  readonly fallback?: string;
}

/** A job that does not fit: the stable code and the exact reason. */
export interface LimitRefusal {
  readonly ok: false;
  readonly code: 'IMAGE_TOO_LARGE' | 'OUTPUT_TOO_LARGE';
  readonly message: string;
}

const n = (v: number) => v.toLocaleString('en-US');
const mp = (pixels: number) => `${(pixels / 1e6).toFixed(1)} MP`;

/**
 * "8001×8000 is 64,008,000 pixels; the limit is 64,000,000 pixels (64.0 MP)": exact counts, since a photo a few
 * pixels over the limit rounds to the same megapixels as the limit.
 */
export function tooLargeMessage(width: number, height: number, maxPixels: number): string {
  return `The image is ${width}×${height} = ${n(width * height)} pixels (${mp(width * height)}); the limit is ${n(maxPixels)} pixels (${mp(maxPixels)}).`;
}

/** The output of a `width`×`height` input at `upscale`. */
export function outputSize(width: number, height: number, upscale: number): { readonly width: number; readonly height: number; readonly pixels: number } {
  return { width: width * upscale, height: height * upscale, pixels: width * upscale * height * upscale };
}

/** `auto` keeps the input's format (formats Revive does not write become PNG); alpha always forces PNG. */
export function requestedOutputFormat(ext: OutputExt, input: InputFormat, hasAlpha: boolean): OutputFormat {
  if (hasAlpha) return 'png';
  switch (ext) {
    case 'jpg':
      return 'jpeg';
    case 'png':
      return 'png';
    case 'webp':
      return 'webp';
    case 'auto':
      return input === 'other' ? 'png' : input;
  }
}

/** Estimated working memory of a job in bytes (see JOB_MEMORY_BYTES_PER_PIXEL). */
export function jobMemoryBytes(inputPixels: number, outputPixels: number, hasAlpha: boolean, format: OutputFormat): number {
  const b = JOB_MEMORY_BYTES_PER_PIXEL;
  const perInput = hasAlpha ? b.inputRgba : b.inputRgb;
  const perOutput = b.outputRgb + (hasAlpha ? b.outputAlpha + b.encodedAlpha[format] : 0) + b.encoded[format];
  return inputPixels * perInput + outputPixels * perOutput;
}

const fits = (format: OutputFormat, width: number, height: number) => Math.max(width, height) <= FORMAT_MAX_SIDE_PX[format];

/**
 * Checks a job against the limits from its source's header alone, before any pixel is decoded, in this order:
 * input pixels, output pixels (input × upscale²), the output format's largest side (`auto` falls back to PNG,
 * an explicit `ext` that cannot hold the output is refused with OUTPUT_TOO_LARGE), then the working memory.
 */
export function planOutput(image: ImageGeometry, options: OutputPlanOptions, limits: ImageLimits = {}): OutputPlan | LimitRefusal {
  const maxInput = limits.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS;
  const maxOutput = limits.maxOutputPixels ?? DEFAULT_MAX_OUTPUT_PIXELS;
  const memoryMiB = limits.jobMemoryMiB ?? defaultJobMemoryMiB(1);
  const { width, height, hasAlpha, upscale } = { ...image, ...options };
  const inputPixels = width * height;
  if (inputPixels > maxInput) return { ok: false, code: 'IMAGE_TOO_LARGE', message: tooLargeMessage(width, height, maxInput) };
  const out = outputSize(width, height, upscale);
  const what = `the ${width}×${height} image at upscale ${upscale}`;
  if (out.pixels > maxOutput) {
    return {
      ok: false,
      code: 'IMAGE_TOO_LARGE',
      message: `The output would be ${out.width}×${out.height} = ${n(out.pixels)} pixels (${mp(out.pixels)}: ${what}); the limit is ${n(maxOutput)} pixels (${mp(maxOutput)}). Ask for a smaller upscale.`,
    };
  }
  const requested = requestedOutputFormat(options.ext, image.format, hasAlpha);
  let format = requested;
  let fallback: string | undefined;
  if (!fits(requested, out.width, out.height)) {
    const side = out.width >= out.height ? `width ${n(out.width)}` : `height ${n(out.height)}`;
    const limit = `${FORMAT_NAMES[requested]} holds at most ${n(FORMAT_MAX_SIDE_PX[requested])} pixels per side`;
    if (options.ext !== 'auto' || !fits('png', out.width, out.height)) {
      return {
        ok: false,
        code: 'OUTPUT_TOO_LARGE',
        message: `The output would be ${out.width}×${out.height} (${what}); its ${side} is too large: ${limit}. Ask for ext "png" or "auto", or a smaller upscale.`,
      };
    }
    format = 'png';
    fallback = `written as PNG: the output is ${out.width}×${out.height} and ${limit}`;
  }
  const modelScale = options.bgUpsamplerScale;
  const intermediate = modelScale !== undefined && modelScale !== upscale ? inputPixels * modelScale ** 2 * JOB_MEMORY_BYTES_PER_PIXEL.outputRgb : 0;
  const memoryBytes = jobMemoryBytes(inputPixels, out.pixels, hasAlpha, format) + intermediate;
  if (memoryBytes > memoryMiB * 2 ** 20) {
    const channels = hasAlpha ? 'RGBA' : 'RGB';
    return {
      ok: false,
      code: 'IMAGE_TOO_LARGE',
      message: `The job would need about ${n(Math.ceil(memoryBytes / 2 ** 20))} MiB of working memory (${what}, ${channels}, ${FORMAT_NAMES[format]} output of ${n(out.pixels)} pixels); the limit is ${n(memoryMiB)} MiB per job. Ask for a smaller upscale${hasAlpha ? ' or send the photo without alpha' : ''}.`,
    };
  }
  return { ok: true, width: out.width, height: out.height, format, memoryBytes, ...(fallback !== undefined && { fallback }) };
}
