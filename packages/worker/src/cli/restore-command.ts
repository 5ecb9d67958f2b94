import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_BLEND, DEFAULT_MAX_FACES, DEFAULT_UPSCALE, MAX_FACES_LIMIT, MAX_UPSCALE, outputExtSchema } from '@revive/contract';
import { z } from 'zod';
import { PermanentError, WorkerError, messageOf, DEFAULT_DEVICE, DEFAULT_THREADS, DEFAULT_DETECTOR, DEFAULT_RESTORER, DETECTOR_KINDS, EXECUTION_DEVICES, RestorationPipeline, type ProcessOptions, DEFAULT_FIDELITY } from '@revive/pipeline';
import { describeError, EXIT_CODES, exitCodeFor } from './exit-codes.js';
import { DEFAULT_VIDEO_CRF, outputExtensionFor, restoreVideo } from '@revive/pipeline/video';
import { collectInputs, isVideoFile } from './inputs.js';
import { OUTPUT_DIRS, OutputWriter, REPORT_FILE } from './output.js';
import { createDownloadProgress, createProgress, createVideoProgress } from './progress.js';
import { summarize, REPORT_VERSION, type ImageReport, type RestoreReport, type VideoReport } from './report.js';

/** Photos of a batch restored at once by `revive restore`. @default 2 */
export const BATCH_CONCURRENCY = 2;

/** Options of `revive restore`, as commander hands them over (strings) and as the run uses them. */
export const restoreOptionsSchema = z.strictObject({
  output: z.string().min(1),
  upscale: z.coerce.number().int().min(1).max(MAX_UPSCALE).default(DEFAULT_UPSCALE),
  restorer: z.string().min(1).default(DEFAULT_RESTORER),
  detector: z.string().min(1).default(DEFAULT_DETECTOR),
  detectorKind: z.enum(DETECTOR_KINDS).optional(),
  bgUpsampler: z.string().min(1).optional(),
  onlyCenterFace: z.boolean().default(false),
  maxFaces: z.coerce.number().int().min(1).max(MAX_FACES_LIMIT).default(DEFAULT_MAX_FACES),
  aligned: z.boolean().default(false),
  blend: z.coerce.number().min(0).max(1).default(DEFAULT_BLEND),
  fidelity: z.coerce.number().min(0).max(1).default(DEFAULT_FIDELITY),
  ext: outputExtSchema.default('auto'),
  // x264's constant rate factor of restored videos: lower is better and larger.
  crf: z.coerce.number().int().min(0).max(51).default(DEFAULT_VIDEO_CRF),
  suffix: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ".", "_" and "-" (it becomes part of file names)')
    .optional(),
  threads: z.coerce.number().int().min(0).max(256).default(DEFAULT_THREADS),
  device: z.enum(EXECUTION_DEVICES).default(DEFAULT_DEVICE),
  modelsDir: z.string().min(1).optional(),
  scoreThreshold: z.coerce.number().gt(0).lt(1).optional(),
  maxPixels: z.coerce.number().int().positive().optional(),
  maxOutputPixels: z.coerce.number().int().positive().optional(),
  // commander's name for --job-memory-mib.
  jobMemoryMib: z.coerce.number().int().positive().optional(),
  download: z.boolean().default(true),
  saveFaces: z.boolean().default(true),
});
export type RestoreCommandOptions = z.output<typeof restoreOptionsSchema>;

/** Validates commander's option bag once, at the edge; a bad value is a usage error naming the option. */
export function parseRestoreOptions(raw: unknown): RestoreCommandOptions {
  const parsed = restoreOptionsSchema.safeParse(raw);
  if (!parsed.success) {
    const details = parsed.error.issues.map((issue) => `  --${kebab(String(issue.path[0] ?? ''))}: ${issue.message}`).join('\n');
    throw new PermanentError('CONFIG', `Invalid options:\n${details}`);
  }
  return parsed.data;
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

export interface RestoreIo {
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
}

/** `revive restore`: returns the exit code. Every file gets an entry in report.json, restored or failed. */
export async function runRestore(
  inputs: readonly string[],
  rawOptions: unknown,
  io: RestoreIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const started = performance.now();
  let options: RestoreCommandOptions;
  let files: string[];
  let videos: string[];
  try {
    options = parseRestoreOptions(rawOptions);
    const found = await collectInputs(inputs, options.output);
    if (found.length === 0) throw new PermanentError('CONFIG', `No image or video files found in: ${inputs.join(', ')}`);
    files = found.filter((file) => !isVideoFile(file));
    videos = found.filter(isVideoFile);
  } catch (error) {
    io.stderr.write(`revive restore: ${describeError(error)}\n`);
    return exitCodeFor(error);
  }

  const downloads = createDownloadProgress(io.stderr);
  let pipeline: RestorationPipeline;
  try {
    pipeline = await RestorationPipeline.create({
      detector: options.detector,
      restorer: options.restorer,
      threads: options.threads,
      device: options.device,
      download: options.download,
      onDownloadProgress: (id, received, total) => downloads.update(id, received, total),
      ...(options.modelsDir !== undefined && { modelsDir: options.modelsDir }),
      ...(options.detectorKind !== undefined && { detectorKind: options.detectorKind }),
      ...(options.bgUpsampler !== undefined && { bgUpsampler: options.bgUpsampler }),
      ...(options.maxPixels !== undefined && { maxPixels: options.maxPixels }),
      ...(options.maxOutputPixels !== undefined && { maxOutputPixels: options.maxOutputPixels }),
      ...(options.jobMemoryMib !== undefined && { jobMemoryMiB: options.jobMemoryMib }),
    });
  } catch (error) {
    io.stderr.write(`revive restore: cannot load the models: ${describeError(error)}\n`);
    return exitCodeFor(error);
  } finally {
    downloads.stop();
  }

  const writer = new OutputWriter(path.resolve(options.output), options.suffix);
  const processOptions: ProcessOptions = {
    upscale: options.upscale,
    onlyCenterFace: options.onlyCenterFace,
    maxFaces: options.maxFaces,
    aligned: options.aligned,
    blend: options.blend,
    fidelity: options.fidelity,
    ext: options.ext,
    ...(options.scoreThreshold !== undefined && { scoreThreshold: options.scoreThreshold }),
    keepFaces: options.saveFaces,
  };
  const images: ImageReport[] = new Array<ImageReport>(files.length);
  const videoReports: VideoReport[] = [];
  const progress = createProgress('Restoring', files.length, io.stderr);
  try {
    await writer.prepare();
    // Names are claimed in input order so that duplicates are numbered the same way whatever finishes first.
    const names = files.map((file) => writer.claimName(file));
    const videoNames = videos.map((file) => writer.claimName(file));
    const restoreOne = async (index: number): Promise<void> => {
      const file = files[index]!;
      const imageStart = performance.now();
      try {
        const bytes = await readFile(file);
        const result = await pipeline.process(bytes, processOptions);
        const written = await writer.write(names[index]!, result);
        images[index] = {
          status: 'ok',
          input: file,
          output: written.output,
          format: result.format,
          width: result.width,
          height: result.height,
          faces: written.faces,
          facesDetected: result.facesDetected,
          timingsMs: roundTimings(result.timingsMs),
          totalMs: round(performance.now() - imageStart),
        };
        const skipped = result.facesDetected - result.faces.length;
        progress.increment(`${path.basename(file)}: ${result.faces.length} face(s)${skipped > 0 ? ` restored, ${skipped} more not (--max-faces ${options.maxFaces}${options.onlyCenterFace ? ', --only-center-face' : ''})` : ''}`);
      } catch (error) {
        // A bad file is reported and skipped: the others are still restored.
        const code = error instanceof WorkerError ? error.code : 'INTERNAL';
        const message = messageOf(error);
        images[index] = { status: 'failed', input: file, error: { code, message } };
        progress.log(`${file}: ${code}: ${message}`);
        progress.increment(`${path.basename(file)}: failed`);
      }
    };
    // Photos overlap: while one is in a TypeScript stage on the main thread, the other's decode, resampling,
    // inference and encode run on libvips' and onnxruntime's threads. Two in flight bound the memory to two photos.
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(BATCH_CONCURRENCY, files.length) }, async () => {
        while (next < files.length) await restoreOne(next++);
      }),
    );
    progress.stop();
    // Videos one at a time, after the photos: each already keeps the pipeline busy frame after frame.
    for (const [index, file] of videos.entries()) {
      const videoStart = performance.now();
      let bar: ReturnType<typeof createVideoProgress> | undefined;
      try {
        if (options.aligned) throw new PermanentError('CONFIG', '--aligned takes aligned face crops (photos), not videos');
        const base = `${videoNames[index]!}${options.suffix === undefined ? '' : `_${options.suffix}`}`;
        const result = await restoreVideo(pipeline, {
          input: file,
          output: (probe) => path.join(writer.outputDir, OUTPUT_DIRS.restoredImgs, `${base}${outputExtensionFor(probe, file)}`),
          restore: { upscale: options.upscale, onlyCenterFace: options.onlyCenterFace, maxFaces: options.maxFaces, blend: options.blend, fidelity: options.fidelity, ...(options.scoreThreshold !== undefined && { scoreThreshold: options.scoreThreshold }) },
          crf: options.crf,
          onProbed: (probe) => (bar = createVideoProgress(path.basename(file), probe.video.frameCount, io.stderr)),
          onProgress: (done) => bar?.update(done),
        });
        bar?.stop();
        const totalMs = performance.now() - videoStart;
        videoReports.push({
          status: 'ok',
          input: file,
          output: path.relative(writer.outputDir, result.output),
          width: result.probe.video.displayWidth * options.upscale,
          height: result.probe.video.displayHeight * options.upscale,
          frames: result.frames,
          durationSeconds: round(result.probe.durationSeconds, 3),
          facesRestored: result.facesRestored,
          segments: result.segments,
          framesPerSecond: round(result.frames / (totalMs / 1000), 2),
          timingsMs: roundTimings(result.timingsMs),
          totalMs: round(totalMs),
        });
        io.stderr.write(`${path.basename(file)}: ${result.frames} frames, ${result.facesRestored} face(s) restored\n`);
      } catch (error) {
        bar?.stop();
        const code = error instanceof WorkerError ? error.code : 'INTERNAL';
        const message = messageOf(error);
        videoReports.push({ status: 'failed', input: file, error: { code, message } });
        io.stderr.write(`${file}: ${code}: ${message}\n`);
      }
    }
  } finally {
    progress.stop();
    await pipeline.dispose();
  }

  const seconds = round((performance.now() - started) / 1000);
  const report: RestoreReport = {
    version: REPORT_VERSION,
    startedAt: new Date(Date.now() - seconds * 1000).toISOString(),
    models: pipeline.models,
    options: { ...options, output: writer.outputDir },
    images,
    videos: videoReports,
    totals: summarize(images, seconds),
  };
  await writer.writeReport(report);
  const { totals } = report;
  const videosFailed = videoReports.filter((v) => v.status !== 'ok').length;
  const videoLine = videoReports.length === 0 ? '' : ` Restored ${videoReports.length - videosFailed} of ${videoReports.length} video(s).` + (videosFailed > 0 ? ` ${videosFailed} failed.` : '');
  // A run of videos alone says nothing of images.
  const summary =
    totals.images === 0 && videoReports.length > 0
      ? `Restored ${videoReports.length - videosFailed} of ${videoReports.length} video(s) in ${totals.seconds.toFixed(1)} s.` + (videosFailed > 0 ? ` ${videosFailed} failed.` : '')
      : `Restored ${totals.restored} of ${totals.images} image(s), ${totals.faces} face(s), in ${totals.seconds.toFixed(1)} s.` + (totals.failed > 0 ? ` ${totals.failed} failed.` : '') + videoLine;
  io.stdout.write(`${summary} Results in ${writer.outputDir} (${REPORT_FILE}).\n`);
  return totals.failed > 0 || videosFailed > 0 ? EXIT_CODES.someFailed : EXIT_CODES.ok;
}

function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function roundTimings(timings: Readonly<Record<string, number | undefined>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [stage, ms] of Object.entries(timings)) if (ms !== undefined) out[stage] = round(ms);
  return out;
}
