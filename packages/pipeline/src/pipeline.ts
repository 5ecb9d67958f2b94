import path from 'node:path';
import { DEFAULT_BLEND, DEFAULT_MAX_FACES, DEFAULT_UPSCALE, type OutputExt } from '@revive/contract';
import { PermanentError } from './errors.js';
import { alignFace, templateForSize } from './align.js';
import { checkHeader, decode, type SizeCheckOptions } from './decode.js';
import { DETECTOR_KINDS, FaceDetector, type DetectorKind } from './detect.js';
import { encode, encodeToFile, resolveOutputFormat } from './encode.js';
import { readImageHeader, resizeImage, resizePlane, type ResizeKernel } from './image.js';
import { DEFAULT_DEVICE, DEFAULT_THREADS, type ExecutionDevice, type SessionOptions } from './inference.js';
import type { ModelRole } from '@revive/contract';
import { defaultModelsDir, resolveModel } from './models.js';
import { opaqueRuns, pasteFaces, type FaceToPaste } from './paste.js';
import { configureKernels } from './resample.js';
import { DEFAULT_FIDELITY, FaceRestorer, type ConversionTimer, type RestoreStage } from './restore.js';
import { processCpuMs, startSyncCpuClock } from './thread-cpu.js';
import { forEachInFlight } from './restore-batch.js';
import type { Affine, DetectedFace, EncodedFormat, Landmarks5, RgbImage, StageName, StageTimingsMs } from './types.js';
import { BackgroundUpsampler } from './upscale.js';
import { DEFAULT_DETECTOR, DEFAULT_RESTORER } from './defaults.js';

export { DEFAULT_DETECTOR, DEFAULT_RESTORER } from './defaults.js';

/**
 * Kernel of the background upscale without an upsampler model: Catmull-Rom with exact pixel centres, in the
 * WebAssembly kernels (image.ts's resizeRaw, resample.ts), chosen over Revive's TypeScript Lanczos-3 for speed
 * (resample.bench.ts; figures in docs/decisions/resampling-kernels.md). @default 'cubic'
 */
export const BACKGROUND_UPSCALE_KERNEL: ResizeKernel = 'cubic';

export interface PipelineConfig {
  /** Folder of model files. @default defaultModelsDir() */
  readonly modelsDir?: string;
  /** Detector catalogue id or .onnx path. @default DEFAULT_DETECTOR */
  readonly detector?: string;
  /**
   * The detector's decoder. @default told from the detector's id or file name (yunet, scrfd, retinaface), else
   * from the model's output names
   */
  readonly detectorKind?: DetectorKind;
  /** Restorer catalogue id or .onnx path. @default DEFAULT_RESTORER */
  readonly restorer?: string;
  /** Background upsampler id or path; when absent the background is upscaled with BACKGROUND_UPSCALE_KERNEL. */
  readonly bgUpsampler?: string;
  /** @default 0 */
  readonly threads?: number;
  /** @default 'cpu' */
  readonly device?: ExecutionDevice;
  /** Download missing catalogue models. @default true */
  readonly download?: boolean;
  /**
   * Threads the resampling kernels run a large photo's strips on, this one included (resample.ts; per thread:
   * PipelineThreadPool gives each of its threads a share of the cores). @default os.availableParallelism()
   */
  readonly kernelThreads?: number;
  /** Largest input the decoder accepts. @default DEFAULT_MAX_PIXELS (decode.ts) */
  readonly maxPixels?: number;
  /** Largest output (input × upscale²) a job may have. @default the contract's DEFAULT_MAX_OUTPUT_PIXELS */
  readonly maxOutputPixels?: number;
  /** Working memory a job may need (the contract's jobMemoryBytes). @default the contract's defaultJobMemoryMiB(1) */
  readonly jobMemoryMiB?: number;
  readonly onDownloadProgress?: (modelId: string, receivedBytes: number, totalBytes: number | undefined) => void;
}

/** Stages built elsewhere and handed to `RestorationPipeline.create` instead of being loaded from the config. */
export interface PipelineStages {
  /** The restorer shared with other pipeline threads (restorer-thread.ts): `config.restorer` is then only its id. */
  readonly restorer?: RestoreStage;
}

export interface ProcessOptions {
  /** @default 2 */
  readonly upscale?: number;
  /** @default false */
  readonly onlyCenterFace?: boolean;
  /** The input is already a crop aligned to the template: restore it only. @default false */
  readonly aligned?: boolean;
  /** @default 1 */
  readonly blend?: number;
  /** @default 0.5 */
  readonly fidelity?: number;
  /** @default 'auto' */
  readonly ext?: OutputExt;
  /** Use the loaded background upsampler. @default true when one is loaded */
  readonly useBgUpsampler?: boolean;
  /** Fail with NO_FACE when none is found. @default false */
  readonly requireFace?: boolean;
  /** Minimum detection score. @default the detector family's own (DEFAULT_SCORE_THRESHOLDS) */
  readonly scoreThreshold?: number;
  /** Also return per-face crops (cropped_faces/, restored_faces/, cmp/). @default false */
  readonly keepFaces?: boolean;
  /**
   * Restore at most this many faces, the largest by box area (`largestFaces`); the others stay as the background
   * upscale has them and are counted in `facesDetected`. @default DEFAULT_MAX_FACES (the contract's, 50)
   */
  readonly maxFaces?: number;
  /**
   * Write the encoded image into this file instead of returning it: the encoder's output is never held in memory
   * whole (a 13200×13200 PNG of noise is 541 MB), and `image` comes back empty. The caller removes the file.
   * @default none (the bytes come back in `image`)
   */
  readonly outputPath?: string;
}

/** What the detect stage found, told before any face is restored (`ProcessEvents.onDetected`). */
export interface DetectionSummary {
  /** Every face the detector found. */
  readonly facesDetected: number;
  /** The faces that will be restored: at most `maxFaces` (one with `onlyCenterFace`). */
  readonly facesToRestore: number;
  readonly outputWidth: number;
  readonly outputHeight: number;
}

/** Progress callbacks of one `process()` call. */
export interface ProcessEvents {
  /** Called once the faces are found, before the restorer runs: a caller sizes the job's budget from it. */
  readonly onDetected?: (detection: DetectionSummary) => void;
}

export interface ProcessedFace extends DetectedFace {
  /** Maps input-image coordinates to the restorer's crop (size `cropSizePx`). */
  readonly affine?: Affine;
  /** Side of the aligned crop the restorer saw. */
  readonly cropSizePx?: number;
  /** Aligned input crop and restored face, only with `keepFaces`. */
  readonly cropped?: RgbImage;
  readonly restored?: RgbImage;
}

export interface ProcessResult {
  /** The encoded image; empty when it was written to `outputPath`. */
  readonly image: Uint8Array;
  /** Size of the encoded image, in `image` or in the file. */
  readonly byteLength: number;
  readonly format: EncodedFormat;
  readonly width: number;
  readonly height: number;
  /** The restored faces, in the detector's order. */
  readonly faces: readonly ProcessedFace[];
  /** Every face the detector found, restored or not (over `maxFaces`, or not the centre one with `onlyCenterFace`). */
  readonly facesDetected: number;
  readonly timingsMs: StageTimingsMs;
  /**
   * The process's CPU time (user + system, all threads) while each stage ran, in ms: the stage's CPU cost when the
   * process runs one photo at a time (the benches), an upper bound when photos overlap, or when a batching restorer
   * overlaps one face's align with another's restore (each stage then counts the other's work too). `restoreConvert`
   * is the part of `restore` spent outside the model on the pipeline's thread (each crop to its tensor and back): CPU
   * a GPU task pays per face too, so it counts in the CPU-side cost, while the rest of `restore` is the model's run.
   * It is that thread's own CPU time where Node tells it (23.9 and later), else the smaller of the conversions' wall
   * time and the process's CPU time over them (thread-cpu.ts): not inflated by other threads' work either way.
   */
  readonly cpuMs?: CpuTimingsMs;
  /** Why the output is not in the requested format, when `ext: auto` had to fall back to PNG (the input's format cannot hold it). */
  readonly formatFallback?: string;
}

/** Options of the raw-frame entry: the photo options that apply to a decoded frame, and the faces to restore. */
export interface FrameOptions extends Pick<ProcessOptions, 'upscale' | 'onlyCenterFace' | 'blend' | 'fidelity' | 'useBgUpsampler' | 'scoreThreshold' | 'maxFaces'> {
  /** The faces to restore (a video's tracked, smoothed faces); detection is skipped. @default detected in the frame */
  readonly faces?: readonly DetectedFace[];
}

/** A restored raw frame: `frame × upscale`, RGB. */
export interface FrameResult {
  readonly image: RgbImage;
  readonly faces: readonly ProcessedFace[];
  readonly facesDetected: number;
  readonly timingsMs: StageTimingsMs;
}

/** Detector kind from a catalogue id or file name; undefined lets the detector tell it from the model's outputs. */
export function detectorKindFromName(idOrPath: string): DetectorKind | undefined {
  const name = path.basename(idOrPath).toLowerCase();
  return DETECTOR_KINDS.find((kind) => name.includes(kind));
}

/**
 * facexlib's `get_center_face`: the face whose box centre is closest to the image centre.
 * Returns the index, or -1 for no faces.
 */
export function centerFaceIndex(faces: readonly DetectedFace[], width: number, height: number): number {
  let best = -1;
  let bestDistance = Infinity;
  faces.forEach((face, index) => {
    const [x1, y1, x2, y2] = face.box;
    const distance = Math.hypot((x1 + x2) / 2 - width / 2, (y1 + y2) / 2 - height / 2);
    if (distance < bestDistance) {
      bestDistance = distance;
      best = index;
    }
  });
  return best;
}

/**
 * The `max` largest faces by box area (ties: the higher score, then the earlier), in their original order: a group
 * photo's small background faces gain least from the restorer and cost as much as the large ones.
 */
export function largestFaces<T extends DetectedFace>(faces: readonly T[], max: number): T[] {
  if (faces.length <= max) return [...faces];
  const area = ({ box: [x1, y1, x2, y2] }: DetectedFace) => Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
  const ranked = faces.map((face, index) => ({ face, index, area: area(face) }));
  ranked.sort((a, b) => b.area - a.area || b.face.score - a.face.score || a.index - b.index);
  const kept = new Set(ranked.slice(0, Math.max(0, max)).map((r) => r.index));
  return faces.filter((_, index) => kept.has(index));
}

/** Per-stage CPU ms, and the restore stage's conversions around the model (part of `restore`, not beside it). */
export type CpuTimingsMs = StageTimingsMs & { restoreConvert?: number };

/**
 * Accumulates wall time per stage; a stage run once per face (align, restore) sums over the faces, except where faces
 * overlap (`timeOverlapping`: the batched restorer), which counts the time any of them is in the stage. Beside it, the
 * process's CPU time over the same spans (`cpuMs`): a stage's own CPU cost on every thread it uses (libvips, the
 * kernels' helpers, onnxruntime) when nothing else runs in the process, an upper bound when other work does.
 */
class StageClock {
  readonly timingsMs: StageTimingsMs = {};
  readonly cpuMs: CpuTimingsMs = {};
  /**
   * Times the restorer's conversions around its model: synchronous on this thread, so their cost is this thread's
   * alone, not what the restorer's threads (spinning after a run) or other pipeline threads do meanwhile.
   */
  readonly timeConversion: ConversionTimer = (convert) => {
    const elapsed = startSyncCpuClock();
    try {
      return convert();
    } finally {
      this.cpuMs.restoreConvert = (this.cpuMs.restoreConvert ?? 0) + elapsed();
    }
  };
  readonly #active = new Map<string, { count: number; since: number; cpuSince: number }>();
  async timeOverlapping<T>(stage: StageName, work: () => Promise<T>): Promise<T> {
    const active = this.#active.get(stage) ?? { count: 0, since: 0, cpuSince: 0 };
    this.#active.set(stage, active);
    if (active.count++ === 0) {
      active.since = performance.now();
      active.cpuSince = processCpuMs();
    }
    try {
      return await work();
    } finally {
      if (--active.count === 0) this.#add(stage, performance.now() - active.since, processCpuMs() - active.cpuSince);
    }
  }
  async time<T>(stage: StageName | 'upscale', work: () => Promise<T> | T): Promise<T> {
    const start = performance.now();
    const cpuStart = processCpuMs();
    try {
      return await work();
    } finally {
      this.#add(stage, performance.now() - start, processCpuMs() - cpuStart);
    }
  }
  #add(stage: StageName | 'upscale', wallMs: number, cpuMs: number): void {
    this.timingsMs[stage] = (this.timingsMs[stage] ?? 0) + wallMs;
    this.cpuMs[stage] = (this.cpuMs[stage] ?? 0) + cpuMs;
  }
}

/**
 * Largest upscaled background a pipeline keeps, once its photo is encoded, for the next photo's upscale to write
 * into: a fresh buffer costs its page faults as it is first written (about 5 CPU ms per 11.5 MB output here, 2–3 ms
 * a face on `shared/photos/whole`), a reused one nothing. Larger outputs are not kept (memory an idle pipeline
 * thread would hold). @default 32 MiB (a 10.6 MP RGB output, e.g. a 2300×2300 photo at upscale 2)
 */
export const SPARE_OUTPUT_MAX_BYTES = 32 * 2 ** 20;

/** The whole restoration: models load once in `create()`; `process()` may be called concurrently. */
export class RestorationPipeline {
  /** Ids or paths of the loaded models, for logs and for checking a job's `restorer` option. */
  readonly models: { readonly detector: string; readonly restorer: string; readonly bgUpsampler: string | undefined };
  /** A finished photo's upscaled background, kept for the next one (SPARE_OUTPUT_MAX_BYTES); taken, it is no longer here. */
  #spareOutput: Uint8Array | undefined;

  private constructor(
    private readonly detector: FaceDetector,
    private readonly restorer: RestoreStage,
    private readonly bgUpsampler: BackgroundUpsampler | undefined,
    models: RestorationPipeline['models'],
    private readonly sizeOptions: SizeCheckOptions,
  ) {
    this.models = models;
  }

  /**
   * Resolves every model (downloading missing catalogue models unless `download` is false) and loads each once.
   * Fails with MODEL_UNAVAILABLE, MODEL_CHECKSUM, MODEL_INVALID, DEVICE_UNAVAILABLE or CONFIG.
   */
  static async create(config: PipelineConfig, stages: PipelineStages = {}): Promise<RestorationPipeline> {
    const modelsDir = config.modelsDir ?? defaultModelsDir();
    const session: SessionOptions = { threads: config.threads ?? DEFAULT_THREADS, device: config.device ?? DEFAULT_DEVICE };
    const detectorId = config.detector ?? DEFAULT_DETECTOR;
    const restorerId = config.restorer ?? DEFAULT_RESTORER;
    const detectorKind = config.detectorKind ?? detectorKindFromName(detectorId);
    const resolve = (id: string, role: ModelRole) =>
      resolveModel(id, role, {
        modelsDir,
        download: config.download ?? true,
        ...(config.onDownloadProgress && {
          onProgress: (received: number, total: number | undefined) => config.onDownloadProgress?.(id, received, total),
        }),
      });

    // Resolve (and download) everything before loading anything, so a missing file fails fast.
    const detectorPath = await resolve(detectorId, 'detector');
    const restorerPath = stages.restorer ? undefined : await resolve(restorerId, 'restorer');
    const upsamplerPath = config.bgUpsampler === undefined ? undefined : await resolve(config.bgUpsampler, 'upsampler');

    try {
      configureKernels(config.kernelThreads === undefined ? {} : { threads: config.kernelThreads });
    } catch (error) {
      throw new PermanentError('CONFIG', error instanceof Error ? error.message : String(error), { cause: error });
    }
    // Only the models the options name are loaded (no upsampler session without --bg-upsampler), all started at
    // once. onnxruntime-node builds each session synchronously on this thread (loadModel inside a setImmediate), so
    // this overlaps their file reads, not their graph optimisation: 40 ms in all for YuNet and the identity
    // restorer (measured in-process), against 280 ms of module loading under tsx and ~100 ms of first-photo warm-up.
    const [detector, restorer, upsampler] = await Promise.allSettled([
      FaceDetector.create(detectorPath, { ...session, ...(detectorKind !== undefined && { kind: detectorKind }) }),
      stages.restorer ?? FaceRestorer.create(restorerPath!, session),
      upsamplerPath === undefined ? Promise.resolve(undefined) : BackgroundUpsampler.create(upsamplerPath, session),
    ]);
    if (detector.status === 'rejected' || restorer.status === 'rejected' || upsampler.status === 'rejected') {
      await Promise.allSettled(
        [detector, restorer, upsampler].flatMap((loaded) => (loaded.status === 'fulfilled' && loaded.value !== undefined ? [loaded.value.dispose()] : [])),
      );
      // The first failure in the order the models are named, as when they loaded one after the other.
      throw [detector, restorer, upsampler].find((loaded) => loaded.status === 'rejected')!.reason;
    }
    return new RestorationPipeline(
      detector.value,
      restorer.value,
      upsampler.value,
      { detector: detectorId, restorer: restorerId, bgUpsampler: config.bgUpsampler },
      {
        ...(config.maxPixels !== undefined && { maxPixels: config.maxPixels }),
        ...(config.maxOutputPixels !== undefined && { maxOutputPixels: config.maxOutputPixels }),
        ...(config.jobMemoryMiB !== undefined && { jobMemoryMiB: config.jobMemoryMiB }),
      },
    );
  }

  /** The background upsampler a job will run, for the memory check: its model's scale. */
  private upsamplerPlan(options: ProcessOptions): { readonly bgUpsamplerScale?: number } {
    const upsampler = (options.useBgUpsampler ?? true) ? this.bgUpsampler : undefined;
    return upsampler === undefined ? {} : { bgUpsamplerScale: upsampler.modelScale };
  }

  /**
   * decode → detect → align → restore → paste → encode. Fails with INVALID_IMAGE, IMAGE_TOO_LARGE, OUTPUT_TOO_LARGE
   * (the size limits are checked from the header, before any pixel is decoded) or NO_FACE.
   */
  async process(input: Uint8Array, options: ProcessOptions = {}, events: ProcessEvents = {}): Promise<ProcessResult> {
    const clock = new StageClock();
    const ext = options.ext ?? 'auto';
    // The header is read and checked once: a whole photo against every size limit (checkHeader), an aligned crop,
    // whose output is the restorer's crop size whatever the upscale, against the input limit only (decode).
    const { plan, decoded } = await clock.time('decode', async () => {
      if (options.aligned) return { plan: undefined, decoded: await decode(input, this.sizeOptions) };
      const header = await readImageHeader(input);
      const job = { upscale: options.upscale ?? DEFAULT_UPSCALE, ext, ...this.upsamplerPlan(options) };
      const checked = checkHeader(header, job, this.sizeOptions);
      const pixels = await decode(input, { ...this.sizeOptions, header });
      if (!header.hasAlpha || pixels.alpha !== undefined) return { plan: checked, decoded: pixels };
      // The header declared alpha but every pixel is opaque (the decoder dropped it): the output is planned for the
      // RGB photo it is, in the format asked for, unless that format cannot hold it, where the plan made stays.
      try {
        return { plan: checkHeader({ ...header, hasAlpha: false }, job, this.sizeOptions), decoded: pixels };
      } catch {
        return { plan: checked, decoded: pixels };
      }
    });
    const { faces, facesDetected, image, alpha, recyclable } = options.aligned
      ? await this.restoreAligned(decoded.rgb, decoded.alpha, options, clock, events)
      : await this.restoreWhole(decoded.rgb, decoded.alpha, options, clock, events, undefined, true);
    const format = plan?.format ?? resolveOutputFormat(ext, decoded.format, alpha !== undefined);
    const { outputPath } = options;
    const encoded =
      outputPath === undefined
        ? await clock.time('encode', () => encode(image, alpha, format)).then((bytes) => ({ bytes, byteLength: bytes.byteLength }))
        : await clock.time('encode', () => encodeToFile(image, alpha, format, outputPath)).then((byteLength) => ({ bytes: new Uint8Array(0), byteLength }));
    // Encoded: nothing reads the background any more (a failed encode keeps it away, in case libvips still reads).
    if (recyclable !== undefined && recyclable.byteLength <= SPARE_OUTPUT_MAX_BYTES && recyclable.byteLength > (this.#spareOutput?.byteLength ?? 0)) {
      this.#spareOutput = recyclable;
    }
    return {
      image: encoded.bytes,
      byteLength: encoded.byteLength,
      format,
      width: image.width,
      height: image.height,
      faces,
      facesDetected,
      timingsMs: clock.timingsMs,
      cpuMs: clock.cpuMs,
      ...(plan?.fallback !== undefined && { formatFallback: plan.fallback }),
    };
  }

  private async restoreWhole(
    rgb: RgbImage,
    alpha: Uint8Array | undefined,
    options: ProcessOptions,
    clock: StageClock,
    events: ProcessEvents,
    given?: readonly DetectedFace[],
    recycle = false,
  ): Promise<{ faces: ProcessedFace[]; facesDetected: number; image: RgbImage; alpha: Uint8Array | undefined; recyclable?: Uint8Array }> {
    const upscale = options.upscale ?? DEFAULT_UPSCALE;
    const outWidth = rgb.width * upscale;
    const outHeight = rgb.height * upscale;
    let detected = given ?? (await clock.time('detect', () => this.detectIn(rgb, options)));
    const facesDetected = detected.length;
    if (options.onlyCenterFace && detected.length > 1) {
      detected = [detected[centerFaceIndex(detected, rgb.width, rgb.height)] as DetectedFace];
    }
    detected = largestFaces(detected, options.maxFaces ?? DEFAULT_MAX_FACES);
    if (detected.length === 0 && options.requireFace) {
      throw new PermanentError('NO_FACE', 'No face was found in the image.');
    }
    events.onDetected?.({ facesDetected, facesToRestore: detected.length, outputWidth: outWidth, outputHeight: outHeight });

    const size = this.restorer.inputSize;
    const restoreOptions = { blend: options.blend ?? DEFAULT_BLEND, fidelity: options.fidelity ?? DEFAULT_FIDELITY };
    // A session of its own takes one face at a time (it already uses every intra-op thread); a batching restorer takes
    // up to a batch, so the next faces are aligned while the first wait for theirs. Order is the detector's either way.
    const faces: ProcessedFace[] = [];
    const toPaste: FaceToPaste[] = [];
    await forEachInFlight(detected.length, this.restorer.facesInFlight, async (index) => {
      const face = detected[index]!;
      const aligned = await clock.time('align', () => alignFace(rgb, face.landmarks, size));
      const restored = await clock.timeOverlapping('restore', () => this.restorer.restore(aligned.crop, restoreOptions, clock.timeConversion));
      toPaste[index] = { face: restored, affine: aligned.affine };
      faces[index] = {
        ...face,
        affine: aligned.affine,
        cropSizePx: size,
        ...(options.keepFaces && { cropped: aligned.crop, restored }),
      };
    });

    const upsampler = (options.useBgUpsampler ?? true) ? this.bgUpsampler : undefined;
    const background = await clock.time('upscale', () => {
      if (upsampler !== undefined) return upsampler.upscale(rgb, upscale);
      if (upscale === 1) return rgb;
      // The paste below overwrites the opaque inside of every face whatever the background holds there. With
      // `recycle` the caller hands the result's buffer back once it has encoded it: the kept one is written over.
      const bytes = outWidth * outHeight * 3;
      const spare = recycle && this.#spareOutput !== undefined && this.#spareOutput.byteLength >= bytes ? this.#spareOutput : undefined;
      // Taken, or too small for this job: either way let it go now, so a larger job's peak does not carry it too.
      if (recycle) this.#spareOutput = undefined;
      const into = spare?.subarray(0, bytes);
      const skip = opaqueRuns(toPaste, { upscale, outWidth, outHeight });
      return resizeImage(rgb, outWidth, outHeight, BACKGROUND_UPSCALE_KERNEL, { ...(skip !== undefined && { skip }), ...(into !== undefined && { into }) });
    });
    // The cubic upscale's own buffer (kept or new), which only this job holds.
    const recyclable = recycle && upsampler === undefined && upscale !== 1 && BACKGROUND_UPSCALE_KERNEL === 'cubic' ? new Uint8Array(background.data.buffer) : undefined;
    const image =
      toPaste.length === 0
        ? background
        : await clock.time('paste', () =>
            pasteFaces(background, toPaste, { upscale, sourceWidth: rgb.width, sourceHeight: rgb.height, inPlace: background !== rgb }),
          );
    const outAlpha =
      alpha === undefined || upscale === 1
        ? alpha
        : await clock.time('upscale', () => resizePlane(alpha, rgb.width, rgb.height, outWidth, outHeight, BACKGROUND_UPSCALE_KERNEL));
    return { faces, facesDetected, image, alpha: outAlpha, ...(recyclable !== undefined && { recyclable }) };
  }

  /** `--aligned`: like GFPGAN, the crop is resized to the restorer's input and restored; nothing is pasted. */
  private async restoreAligned(
    rgb: RgbImage,
    alpha: Uint8Array | undefined,
    options: ProcessOptions,
    clock: StageClock,
    events: ProcessEvents,
  ): Promise<{ faces: ProcessedFace[]; facesDetected: number; image: RgbImage; alpha: Uint8Array | undefined; recyclable?: Uint8Array }> {
    const size = this.restorer.inputSize;
    events.onDetected?.({ facesDetected: 1, facesToRestore: 1, outputWidth: size, outputHeight: size });
    const resized = rgb.width === size && rgb.height === size;
    const crop = resized ? rgb : await clock.time('align', () => resizeImage(rgb, size, size, 'lanczos3'));
    const restored = await clock.time('restore', () =>
      this.restorer.restore(crop, { blend: options.blend ?? DEFAULT_BLEND, fidelity: options.fidelity ?? DEFAULT_FIDELITY }, clock.timeConversion),
    );
    // The input is aligned by definition: its landmarks are the template, in the input's own pixels.
    const landmarks = templateForSize(size).map(
      ([x, y]) => [(x * rgb.width) / size, (y * rgb.height) / size] as const,
    ) as unknown as Landmarks5;
    const face: ProcessedFace = {
      box: [0, 0, rgb.width, rgb.height],
      score: 1,
      landmarks,
      affine: [size / rgb.width, 0, 0, 0, size / rgb.height, 0],
      cropSizePx: size,
      ...(options.keepFaces && { cropped: crop, restored }),
    };
    const outAlpha =
      alpha === undefined || resized
        ? alpha
        : await clock.time('align', () => resizePlane(alpha, rgb.width, rgb.height, size, size, 'lanczos3'));
    return { faces: [face], facesDetected: 1, image: restored, alpha: outAlpha };
  }

  private detectIn(rgb: RgbImage, options: Pick<ProcessOptions, 'scoreThreshold'>): Promise<DetectedFace[]> | DetectedFace[] {
    return this.detector.detect(rgb, options.scoreThreshold === undefined ? {} : { scoreThreshold: options.scoreThreshold });
  }

  /** The detect stage alone, on a raw frame (a video's): the caller tracks and smooths the faces across frames. */
  async detectFrame(frame: RgbImage, options: Pick<ProcessOptions, 'scoreThreshold'> = {}): Promise<DetectedFace[]> {
    return [...(await this.detectIn(frame, options))];
  }

  /**
   * The raw-frame entry (a video's frames): align → restore → paste → background upscale on decoded RGB, no decode and
   * no encode. With `faces` (tracked and smoothed by the caller) detection is skipped; without, the frame is detected.
   */
  async processFrame(frame: RgbImage, options: FrameOptions = {}): Promise<FrameResult> {
    const clock = new StageClock();
    const { faces: given, ...rest } = options;
    const { faces, facesDetected, image } = await this.restoreWhole(frame, undefined, rest, clock, {}, given);
    return { image, faces: faces.map(({ cropped: _c, restored: _r, ...face }) => face), facesDetected, timingsMs: clock.timingsMs };
  }

  /** Releases every onnxruntime session. */
  async dispose(): Promise<void> {
    await Promise.allSettled([this.detector.dispose(), this.restorer.dispose(), this.bgUpsampler?.dispose()]);
  }
}
