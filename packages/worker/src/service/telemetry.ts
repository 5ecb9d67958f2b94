import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  METRICS_NAMESPACE,
  WORKER_METRIC_DIMENSIONS as DIMENSIONS,
  WORKER_METRICS as NAMES,
  WORKER_SERVICE_NAME,
  type JobErrorCode,
  type StageTimings,
  type WorkCosts,
} from '@revive/contract';

/** Stages whose time grows with the faces restored. */
const PER_FACE_STAGES = ['align', 'restore'];
/** Stages whose time grows with the output's pixels. */
const PER_OUTPUT_PIXEL_STAGES = ['upscale', 'paste', 'encode'];

/** What a succeeded photo took, for its per-unit costs. */
export interface JobCostSample {
  /** Milliseconds from the lifecycle's start to success: every stage plus fetch, upload and record writes. */
  readonly durationMs: number;
  readonly timingsMs: StageTimings;
  readonly facesRestored: number;
  readonly outputPixels: number;
  /** Jobs the task runs at once: a job's wall time is this many jobs' share of the task. */
  readonly concurrency: number;
}

/**
 * A photo's measured per-unit costs in task-seconds (see WORKER_METRICS.workSecondsPerFace): a cost whose unit the
 * job had none of (no face restored) is left out rather than divided by zero.
 */
export function measuredWorkCosts(sample: JobCostSample): Partial<WorkCosts> {
  const ms = (stages: readonly string[]) => stages.reduce((n, s) => n + (sample.timingsMs[s] ?? 0), 0);
  const taskSeconds = (wallMs: number) => wallMs / 1000 / Math.max(1, sample.concurrency);
  const faceMs = ms(PER_FACE_STAGES);
  const pixelMs = ms(PER_OUTPUT_PIXEL_STAGES);
  const frameMs = Math.max(0, sample.durationMs - faceMs - pixelMs);
  return {
    secondsPerFrame: taskSeconds(frameMs),
    ...(sample.outputPixels > 0 ? { secondsPerOutputMegapixel: taskSeconds(pixelMs) / (sample.outputPixels / 1_000_000) } : {}),
    ...(sample.facesRestored > 0 ? { secondsPerFace: taskSeconds(faceMs) / sample.facesRestored } : {}),
  };
}

/**
 * JSON logs and EMF metrics. Powertools works outside Lambda: both write JSON lines to stdout, which the ECS
 * awslogs driver ships to CloudWatch Logs, where EMF lines become metrics. Dimensions are kept to `service`,
 * `Stage` (six values) and `ErrorCode` (the contract's dozen) so cardinality stays fixed.
 */
export class Telemetry {
  readonly logger: Logger;
  private readonly metrics: Metrics;

  constructor(options: { readonly logLevel?: string } = {}) {
    this.logger = new Logger({
      serviceName: WORKER_SERVICE_NAME,
      ...(options.logLevel !== undefined && { logLevel: options.logLevel as 'INFO' }),
    });
    this.metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: WORKER_SERVICE_NAME });
  }

  /** One finished job: total ms, faces, queue wait, and the per-stage ms (one EMF line per stage, dimension Stage). */
  jobSucceeded(durationMs: number, facesFound: number, queueWaitMs: number | undefined, timingsMs: StageTimings): void {
    this.metrics.addMetric(NAMES.jobDurationMs, MetricUnit.Milliseconds, durationMs);
    this.metrics.addMetric(NAMES.facesFound, MetricUnit.Count, facesFound);
    this.metrics.addMetric(NAMES.jobsSucceeded, MetricUnit.Count, 1);
    if (queueWaitMs !== undefined) this.metrics.addMetric(NAMES.queueWaitMs, MetricUnit.Milliseconds, queueWaitMs);
    this.metrics.publishStoredMetrics();
    for (const [stage, ms] of Object.entries(timingsMs)) {
      const single = this.metrics.singleMetric();
      single.addDimension(DIMENSIONS.stage, stage);
      single.addMetric(NAMES.stageMs, MetricUnit.Milliseconds, ms);
    }
  }

  /** A succeeded photo's measured per-unit costs (measuredWorkCosts), which the scaling signal may read. */
  workCosts(sample: JobCostSample): void {
    const costs = measuredWorkCosts(sample);
    this.metrics.addMetric(NAMES.workSecondsPerFrame, MetricUnit.Seconds, costs.secondsPerFrame ?? 0);
    if (costs.secondsPerOutputMegapixel !== undefined) this.metrics.addMetric(NAMES.workSecondsPerOutputMegapixel, MetricUnit.Seconds, costs.secondsPerOutputMegapixel);
    if (costs.secondsPerFace !== undefined) this.metrics.addMetric(NAMES.workSecondsPerFace, MetricUnit.Seconds, costs.secondsPerFace);
    this.metrics.publishStoredMetrics();
  }

  jobFailed(code: JobErrorCode, durationMs: number | undefined): void {
    const single = this.metrics.singleMetric();
    single.addDimension(DIMENSIONS.errorCode, code);
    single.addMetric(NAMES.jobsFailed, MetricUnit.Count, 1);
    if (durationMs !== undefined) {
      this.metrics.addMetric(NAMES.jobDurationMs, MetricUnit.Milliseconds, durationMs);
      this.metrics.publishStoredMetrics();
    }
  }

  /** Deliveries left for later (transient failure, lease held elsewhere, released at shutdown). */
  jobDeferred(reason: 'transient' | 'lease-held' | 'record-missing' | 'shutdown'): void {
    const single = this.metrics.singleMetric();
    single.addDimension(DIMENSIONS.reason, reason);
    single.addMetric(NAMES.jobsDeferred, MetricUnit.Count, 1);
  }

  modelsLoaded(loadMs: number): void {
    this.metrics.addMetric(NAMES.modelLoadMs, MetricUnit.Milliseconds, loadMs);
    this.metrics.publishStoredMetrics();
  }
}
