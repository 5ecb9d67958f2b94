// One photo: fetch the source (an upload of the tenant's, or a URL), run the pipeline on a pipeline thread, put the
// result object. The job's record, message and webhook are the lifecycle's (job-lifecycle.ts).
import path from 'node:path';
import { isTenantUploadKey, resultKey, type JobMessage } from '@revive/contract';
import { PermanentError, type EncodedFormat, type RestorationService } from '@revive/pipeline';
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
  readonly objects: Pick<ObjectStore, 'getUpload' | 'putResult'>;
  readonly http: Pick<SafeHttpClient, 'fetchImage'>;
}

export interface PhotoTaskSettings {
  /** REVIVE_RESTORER and REVIVE_BG_UPSAMPLER as configured: a job's options must name these (or nothing). */
  readonly restorer: string;
  readonly bgUpsampler: string | undefined;
  /** The largest upload read from the bucket. */
  readonly maxSourceBytes: number;
}

/** Names a model may be asked for by: its id, or the file name without `.onnx` when configured as a path. */
function modelNames(configured: string): Set<string> {
  const base = path.basename(configured);
  return new Set([configured, base, base.replace(/\.onnx$/i, '')]);
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
    // The budget starts when a pipeline thread takes the job (onStarted): the source fetch has its own timeouts.
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
        },
        { signal, onStarted: context.startBudget },
      ),
      signal,
    );
    if (context.abandoned) return undefined;
    const { contentType, extension } = CONTENT_TYPES[result.format];
    // One object per attempt: a worker that lost its lease writes its own key, never the winner's (see resultKey).
    const key = resultKey(job.tenantId, job.jobId, extension, context.attempt);
    await withSignal(this.deps.objects.putResult(key, result.image, contentType, { signal }), signal);
    const faces = result.faces.map((f) => ({ box: [...f.box] as [number, number, number, number], score: f.score, landmarks: f.landmarks.map((p) => [p[0], p[1]] as [number, number]) }));
    const timingsMs = Object.fromEntries(Object.entries(result.timingsMs).filter((e): e is [string, number] => typeof e[1] === 'number'));
    return {
      success: { resultKey: key, resultWidth: result.width, resultHeight: result.height, facesFound: faces.length, faces, timingsMs },
      // A format fallback (ext auto, an output the input's format cannot hold) shows in the result key's extension.
      ...(result.formatFallback !== undefined && { logKeys: { formatFallback: result.formatFallback } }),
    };
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
    if (!isTenantUploadKey(job.tenantId, job.source.key)) {
      // Same answer as a missing key: whether another tenant's object exists is not this tenant's business.
      throw new PermanentError('SOURCE_NOT_FOUND', `${job.source.key} is not one of this tenant's uploads`);
    }
    const bytes = await this.deps.objects.getUpload(job.source.key, this.settings.maxSourceBytes);
    assertImageBytes(bytes, 'the upload');
    return bytes;
  }
}
