// One photo: fetch the source (an upload of the tenant's, or a URL), run the pipeline on a pipeline thread, put the
// result object. The job's record, message and webhook are the lifecycle's (job-lifecycle.ts).
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_MAX_FACES, isTenantUploadKey, resultKey, servedModelIds, type JobMessage } from '@revive/contract';
import { PermanentError, describeThrown, type EncodedFormat, type RestorationService } from '@revive/pipeline';
import type { ObjectStore } from '../object-store.js';
import { assertImageBytes, type SafeHttpClient } from '../source-fetch.js';
import { withSignal, type JobTask, type TaskContext, type TaskResult } from './task.js';

const CONTENT_TYPES: Record<EncodedFormat, { readonly contentType: string; readonly extension: string }> = {
  jpeg: { contentType: 'image/jpeg', extension: 'jpg' },
  png: { contentType: 'image/png', extension: 'png' },
  webp: { contentType: 'image/webp', extension: 'webp' },
};

export interface PhotoTaskDeps {
  readonly pipeline: Pick<RestorationService, 'process'>;
  readonly objects: Pick<ObjectStore, 'getUpload' | 'putResultFile'>;
  readonly http: Pick<SafeHttpClient, 'fetchImage'>;
}

export interface PhotoTaskSettings {
  /** REVIVE_RESTORER and REVIVE_BG_UPSAMPLER as configured: a job's options must name these (or nothing). */
  readonly restorer: string;
  readonly bgUpsampler: string | undefined;
  /** The largest upload read from the bucket. */
  readonly maxSourceBytes: number;
  /** Faces restored per photo, and the cap on a job's own `maxFaces` (REVIVE_MAX_FACES). @default DEFAULT_MAX_FACES */
  readonly maxFaces?: number;
  /** Folder the pipeline encodes results into before they go up to S3 (one file per job, removed after). @default os.tmpdir() */
  readonly spoolDir?: string;
  /** Where the photo task reports what it could not clean up. */
  readonly onSpoolCleanupError?: (file: string, error: string) => void;
}

/** Names a model may be asked for by: its id, or the file name without `.onnx` when configured as a path. */
function modelNames(configured: string): Set<string> {
  // The contract's list, which the API's REVIVE_AVAILABLE_MODELS is built from: both refuse the same names.
  return new Set(servedModelIds(configured));
}

/** Restores one photo: the per-kind work of a photo job. */
export class PhotoTask implements JobTask {
  private readonly restorerNames: Set<string>;
  private readonly upsamplerNames: Set<string>;

  constructor(
    private readonly deps: PhotoTaskDeps,
    private readonly settings: PhotoTaskSettings,
  ) {
    this.restorerNames = modelNames(settings.restorer);
    this.upsamplerNames = settings.bgUpsampler ? modelNames(settings.bgUpsampler) : new Set();
  }

  async run(job: JobMessage, context: TaskContext): Promise<TaskResult | undefined> {
    const { signal } = context;
    this.checkModels(job);
    const input = await this.readSource(job);
    // The pipeline encodes into this file and the upload reads it as it goes: a 541 MB PNG held as bytes (and copied
    // between the threads) left the worker 1.1 GiB over its idle RSS after the job.
    const spool = path.join(this.settings.spoolDir ?? os.tmpdir(), `${job.jobId}-${context.attempt}.result`);
    try {
      // The budget starts when a pipeline thread takes the job (onStarted): the source fetch has its own timeouts. It
      // grows once the faces are found (onDetected).
      const result = await withSignal(
        this.deps.pipeline.process(
          input,
          {
            upscale: job.options.upscale,
            onlyCenterFace: job.options.onlyCenterFace,
            blend: job.options.blend,
            ...(job.options.fidelity !== undefined && { fidelity: job.options.fidelity }),
            ext: job.options.ext,
            useBgUpsampler: job.options.bgUpsampler !== undefined,
            requireFace: job.options.requireFace,
            maxFaces: this.maxFacesFor(job),
            outputPath: spool,
          },
          {
            signal,
            onStarted: context.startBudget,
            onDetected: (d) => context.workFound({ faces: d.facesToRestore, outputPixels: d.outputWidth * d.outputHeight }),
          },
        ),
        signal,
      );
      if (context.abandoned) return undefined;
      const { contentType, extension } = CONTENT_TYPES[result.format];
      // One object per attempt: a worker that lost its lease writes its own key, never the winner's (see resultKey).
      const key = resultKey(job.tenantId, job.jobId, extension, context.attempt);
      await withSignal(this.deps.objects.putResultFile(key, spool, result.byteLength, contentType, { signal }), signal);
      const faces = result.faces.map((f) => ({ box: [...f.box] as [number, number, number, number], score: f.score, landmarks: f.landmarks.map((p) => [p[0], p[1]] as [number, number]) }));
      const timingsMs = Object.fromEntries(Object.entries(result.timingsMs).filter((e): e is [string, number] => typeof e[1] === 'number'));
      return {
        success: {
          resultKey: key,
          resultWidth: result.width,
          resultHeight: result.height,
          facesFound: faces.length,
          facesDetected: result.facesDetected,
          facesRestored: faces.length,
          faces,
          timingsMs,
        },
        logKeys: {
          facesDetected: result.facesDetected,
          facesRestored: faces.length,
          // A format fallback (ext auto, an output the input's format cannot hold) shows in the result key's extension.
          ...(result.formatFallback !== undefined && { formatFallback: result.formatFallback }),
        },
      };
    } finally {
      // Also a partial file of a job stopped mid-encode: a thread still writing it writes to an unlinked file, freed when closed.
      await rm(spool, { force: true }).catch((e: unknown) => this.settings.onSpoolCleanupError?.(spool, describeThrown(e)));
    }
  }

  /** The job's `maxFaces`, never more than the worker's REVIVE_MAX_FACES, which is also the default. */
  private maxFacesFor(job: JobMessage): number {
    const workerMax = this.settings.maxFaces ?? DEFAULT_MAX_FACES;
    return Math.min(job.options.maxFaces ?? workerMax, workerMax);
  }

  private checkModels(job: JobMessage): void {
    if (job.options.restorer !== undefined && !this.restorerNames.has(job.options.restorer)) {
      throw new PermanentError('UNSUPPORTED_MODEL', `this worker serves the restorer ${path.basename(this.settings.restorer)}, not ${job.options.restorer}`);
    }
    if (job.options.bgUpsampler !== undefined && !this.upsamplerNames.has(job.options.bgUpsampler)) {
      const served = this.settings.bgUpsampler ? path.basename(this.settings.bgUpsampler) : 'none';
      throw new PermanentError('UNSUPPORTED_MODEL', `this worker serves the background upsampler ${served}, not ${job.options.bgUpsampler}`);
    }
  }

  private async readSource(job: JobMessage): Promise<Uint8Array> {
    if (job.source.kind === 'url') return await this.deps.http.fetchImage(job.source.url);
    if (job.source.kind === 'album') throw new PermanentError('INVALID_MESSAGE', 'a photo message must name a photo, not an album');
    if (!isTenantUploadKey(job.tenantId, job.source.key)) {
      // Same answer as a missing key: whether another tenant's object exists is not this tenant's business.
      throw new PermanentError('SOURCE_NOT_FOUND', `${job.source.key} is not one of this tenant's uploads`);
    }
    const bytes = await this.deps.objects.getUpload(job.source.key, this.settings.maxSourceBytes);
    assertImageBytes(bytes, 'the upload');
    return bytes;
  }
}
