import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  METRICS_NAMESPACE,
  WORKER_METRIC_DIMENSIONS as DIMENSIONS,
  WORKER_METRICS as NAMES,
  WORKER_SERVICE_NAME,
  type JobErrorCode,
  type StageTimings,
} from '@revive/contract';

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
