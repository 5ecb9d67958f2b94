// The CloudWatch metrics the worker and the API publish (EMF lines through Powertools) and the infra's alarms and
// dashboard read: one table, so a renamed metric cannot leave a dashboard graphing nothing. The scaling signal's
// metrics are not here: infra publishes and reads them itself (packages/infra/src/scaling-signal/signal.ts).

/** CloudWatch namespace of the worker's and the API's metrics (and of the infra's metric filters beside them). */
export const METRICS_NAMESPACE = 'Revive';

/** Powertools `service` of the worker: a dimension on every worker metric and a field on every log line. */
export const WORKER_SERVICE_NAME = 'worker';
/**
 * Powertools `service` of the API when POWERTOOLS_SERVICE_NAME is not set (the local server, tests). In AWS each
 * function has its own, apiServiceName(handler), so logs and metrics split per function.
 */
export const API_SERVICE_NAME = 'api';
/** The `service` the infra gives one API function (its POWERTOOLS_SERVICE_NAME). */
export function apiServiceName(handler: string): string {
  return `${API_SERVICE_NAME}-${handler}`;
}

/** Metric names the worker publishes, all with the dimension `service` = WORKER_SERVICE_NAME. */
export const WORKER_METRICS = {
  /** Milliseconds a job ran, succeeded or failed. */
  jobDurationMs: 'JobDurationMs',
  /** Milliseconds per pipeline stage; dimension `Stage` (WORKER_METRIC_DIMENSIONS.stage). */
  stageMs: 'StageMs',
  /** Faces found in one photo. */
  facesFound: 'FacesFound',
  /** Milliseconds from the job's enqueue to a worker starting it. */
  queueWaitMs: 'QueueWaitMs',
  jobsSucceeded: 'JobsSucceeded',
  /** Dimension `ErrorCode` (WORKER_METRIC_DIMENSIONS.errorCode). */
  jobsFailed: 'JobsFailed',
  /** Deliveries left for later; dimension `Reason` (WORKER_METRIC_DIMENSIONS.reason). */
  jobsDeferred: 'JobsDeferred',
  /** Milliseconds to load the models at start. */
  modelLoadMs: 'ModelLoadMs',
  /**
   * The worker's measured per-unit costs of a succeeded photo (task-seconds: wall time ÷ REVIVE_CONCURRENCY), the
   * measured counterparts of contract DEFAULT_WORK_COSTS: align and restore per face restored; upscale, paste and
   * encode per output megapixel; the rest of the job (fetch, decode, detection, upload) per frame.
   */
  workSecondsPerFace: 'WorkSecondsPerFace',
  workSecondsPerOutputMegapixel: 'WorkSecondsPerOutputMegapixel',
  workSecondsPerFrame: 'WorkSecondsPerFrame',
} as const;

/** Dimensions some worker metrics carry beside `service` (their values are bounded: six stages, the contract's codes). */
export const WORKER_METRIC_DIMENSIONS = {
  stage: 'Stage',
  errorCode: 'ErrorCode',
  reason: 'Reason',
} as const;

/** Metric names the API functions publish, with the dimension `service` = apiServiceName(handler). */
export const API_METRICS = {
  /** Milliseconds per request; dimension `route` (API_METRIC_DIMENSIONS.route). */
  latencyMs: 'LatencyMs',
  errors4xx: 'Errors4xx',
  errors5xx: 'Errors5xx',
  jobsCreated: 'JobsCreated',
  /** POST /jobs whose SQS send failed (the job ends FAILED ENQUEUE_FAILED, or is re-sent by the sweeper). */
  enqueueFailures: 'EnqueueFailures',
  /** POST /jobs whose SQS send got no answer: the job stays in the outbox and the sweeper sends it. */
  enqueueDeferred: 'EnqueueDeferred',
  /** POST /jobs answered from an earlier request with the same Idempotency-Key. */
  idempotentReplays: 'IdempotentReplays',
  jobsCanceled: 'JobsCanceled',
  /**
   * The work of each message sent (workUnits of its estimatedWork, one value per message): the scaling signal reads
   * their sums over recent minutes for the mean work per message of the queue.
   */
  enqueuedFrames: 'EnqueuedFrames',
  enqueuedOutputMegapixels: 'EnqueuedOutputMegapixels',
  enqueuedFaces: 'EnqueuedFaces',
  /** The outbox sweeper's counts per run. */
  jobsReenqueued: 'JobsReenqueued',
  enqueuePendingCleared: 'EnqueuePendingCleared',
  reenqueueFailures: 'ReenqueueFailures',
} as const;

/** Dimensions some API metrics carry beside `service`. */
export const API_METRIC_DIMENSIONS = {
  route: 'route',
} as const;

/** Every metric name the worker or the API publishes in METRICS_NAMESPACE. */
export const PUBLISHED_METRIC_NAMES: readonly string[] = [...Object.values(WORKER_METRICS), ...Object.values(API_METRICS)];
