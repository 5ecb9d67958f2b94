// The queue worker's job runner: the job lifecycle with the task of each job kind, chosen from the job message.
import type { JobKind } from '@revive/contract';
import { JobLifecycle, type JobLifecycleDeps, type JobLifecycleSettings } from './job-lifecycle.js';
import type { ObjectStore } from './object-store.js';
import { AlbumTask } from './tasks/album.js';
import { PhotoTask, type PhotoTaskDeps, type PhotoTaskSettings } from './tasks/photo.js';
import type { JobTask } from './tasks/task.js';
import { VideoTask, type VideoSettings, type VideoTaskDeps } from './tasks/video.js';
import { VideoSegmentTask } from './tasks/video-segment.js';

export { DEFAULT_RETRY_BASE_SECONDS, DEFAULT_RETRY_MAX_SECONDS, LEASE_MARGIN_MAX_MS, parseBody } from './job-lifecycle.js';

export interface JobRunnerSettings extends JobLifecycleSettings, PhotoTaskSettings {
  readonly video: VideoSettings;
}

export interface JobRunnerDeps extends JobLifecycleDeps, PhotoTaskDeps {
  readonly objects: ObjectStore;
  readonly pipeline: PhotoTaskDeps['pipeline'] & ConstructorParameters<typeof VideoSegmentTask>[0]['pipeline'];
  readonly http: PhotoTaskDeps['http'] & VideoTaskDeps['http'];
}

/** Runs the messages of the job queue: every job through the lifecycle, its kind's work by its task. */
export class JobRunner extends JobLifecycle {
  constructor(deps: JobRunnerDeps, settings: JobRunnerSettings) {
    const photo = new PhotoTask(deps, {
      ...settings,
      onSpoolCleanupError: (spool, error) => deps.telemetry.logger.warn('could not remove the result spool file', { spool, error }),
    });
    const tasks: Record<JobKind, JobTask> = {
      photo,
      album: new AlbumTask(deps),
      video: new VideoTask(deps, settings.video),
      'video-segment': new VideoSegmentTask(deps, { workDir: settings.video.workDir, ...(settings.maxFaces !== undefined && { maxFaces: settings.maxFaces }) }),
    };
    super(deps, settings, (job) => tasks[job.kind ?? 'photo']);
  }
}
