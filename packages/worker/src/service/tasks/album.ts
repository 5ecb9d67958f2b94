// An album's fan-in: once every photo (an ordinary photo job with `parentJobId`) has ended, one worker (the one whose
// claim of the album won) writes the ZIP of the results and the album's end. The photos themselves run as photo jobs.
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { albumZipKey, childJobId, TERMINAL_STATUSES, type JobMessage, type JobRecord } from '@revive/contract';
import { PermanentError } from '@revive/pipeline';
import { ZipFile } from 'yazl';
import type { ChildEnd, JobStore } from '../job-store.js';
import type { ObjectStore } from '../object-store.js';
import { withSignal, type JobTask, type TaskContext, type TaskResult, type TaskYield } from './task.js';

export interface AlbumTaskDeps {
  readonly store: Pick<JobStore, 'get' | 'getMany' | 'countChildEnd'>;
  readonly objects: Pick<ObjectStore, 'getObjectStream' | 'putResultStream'>;
}

/** The name of a photo in the ZIP: its place in the album (so the order is the request's) and its result's extension. */
export function zipEntryName(index: number, total: number, resultKey: string): string {
  return `${String(index + 1).padStart(Math.max(4, String(total).length), '0')}${path.extname(resultKey)}`;
}

/** Recounts an album's children and, once they have all ended, writes its ZIP and its end. */
export class AlbumTask implements JobTask {
  constructor(private readonly deps: AlbumTaskDeps) {}

  async run(job: JobMessage, context: TaskContext): Promise<TaskResult | TaskYield | undefined> {
    const album = await this.deps.store.get(job.jobId);
    const total = album?.childrenTotal;
    if (album === undefined || total === undefined) throw new PermanentError('INVALID_MESSAGE', `album ${job.jobId} has no children to finish`);
    const children = await this.deps.store.getMany(Array.from({ length: total }, (_, i) => childJobId(job.jobId, i)));
    // The recount: a child whose end was written but not counted (its worker died in between) is counted now.
    let running = 0;
    for (const child of children.values()) {
      if (!TERMINAL_STATUSES.includes(child.status)) running++;
      else if (child.countedOnParent !== true) await this.deps.store.countChildEnd({ jobId: child.jobId, parentJobId: job.jobId }, child.status as ChildEnd, 0, new Date());
    }
    // A child record that is missing never ran (the API's create died before it wrote it): it will not end.
    const missing = total - children.size;
    if (running > 0) return { yielded: `${running} of ${total} photos still to end` };
    if (context.abandoned) return undefined;
    context.startBudget();
    // Each photo's result is fetched and streamed into the ZIP one after the other.
    context.workFound({ children: total });

    const ordered = Array.from({ length: total }, (_, i) => children.get(childJobId(job.jobId, i)));
    const succeeded = ordered.flatMap((child, index) => (child?.status === 'SUCCEEDED' && child.resultKey !== undefined ? [{ child, index }] : []));
    const key = albumZipKey(job.tenantId, job.jobId, context.attempt);
    await withSignal(this.writeZip(key, succeeded, total, context.signal), context.signal);
    if (context.abandoned) return undefined;

    const failed = ordered.filter((c) => c?.status === 'FAILED').length;
    const canceled = ordered.filter((c) => c?.status === 'CANCELED').length;
    const facesFound = succeeded.reduce((sum, { child }) => sum + (child.facesFound ?? 0), 0);
    const result: TaskResult = {
      success: { resultKey: key, facesFound, facesDetected: succeeded.reduce((sum, { child }) => sum + (child.facesDetected ?? 0), 0), facesRestored: facesFound, faces: [], timingsMs: {} },
      logKeys: { photos: total, succeeded: succeeded.length, failed, canceled, missing },
    };
    if (succeeded.length === total) return result;
    const parts = [`${failed} failed`, ...(canceled > 0 ? [`${canceled} canceled`] : []), ...(missing > 0 ? [`${missing} never created`] : [])];
    return {
      ...result,
      failure: {
        code: 'ALBUM_PARTLY_FAILED',
        message: `${total - succeeded.length} of ${total} photos did not succeed (${parts.join(', ')}); the ZIP holds the ${succeeded.length} that did. GET /jobs/${job.jobId}/children shows each photo's error.`,
      },
    };
  }

  /**
   * Streams the ZIP to S3 as it is written: each result is read from S3 only when the ZIP reaches it (one at a time)
   * and stored without recompression (JPEG, PNG and WebP are compressed already); memory holds the upload's parts in
   * flight, never the ZIP.
   */
  private async writeZip(key: string, photos: readonly { child: JobRecord; index: number }[], total: number, signal: AbortSignal): Promise<void> {
    const zip = new ZipFile();
    for (const { child, index } of photos) {
      const resultKey = child.resultKey!;
      zip.addReadStreamLazy(zipEntryName(index, total, resultKey), { compress: false, mtime: new Date(child.finishedAt ?? Date.now()) }, (callback) => {
        this.deps.objects.getObjectStream(resultKey).then(
          (stream) => callback(null, stream),
          (error: unknown) => callback(error, new PassThrough()),
        );
      });
    }
    zip.end();
    const output = zip.outputStream as unknown as Readable;
    let zipError: unknown;
    // yazl reports a failed read (a result gone from S3) on the ZipFile: end the upload with it rather than hang.
    zip.on('error', (error: unknown) => {
      zipError = error;
      output.destroy(error as Error);
    });
    try {
      await this.deps.objects.putResultStream(key, output, 'application/zip', { signal });
    } catch (error) {
      throw zipError ?? error;
    }
  }
}
