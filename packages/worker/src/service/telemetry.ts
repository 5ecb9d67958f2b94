import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { JobErrorCode, StageTimings } from '@revive/contract';

/** CloudWatch namespace of every worker metric. */
export const METRICS_NAMESPACE = 'Revive';
/** Powertools `service` (a dimension on every metric and a field on every log line). */
export const SERVICE_NAME = 'worker';

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
      serviceName: SERVICE_NAME,
      ...(options.logLevel !== undefined && { logLevel: options.logLevel as 'INFO' }),
    });
    this.metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });
  }

  /** One finished job: total ms, faces, queue wait, and the per-stage ms (one EMF line per stage, dimension Stage). */
  jobSucceeded(durationMs: number, facesFound: number, queueWaitMs: number | undefined, timingsMs: StageTimings): void {
    this.metrics.addMetric('JobDurationMs', MetricUnit.Milliseconds, durationMs);
    this.metrics.addMetric('FacesFound', MetricUnit.Count, facesFound);
    this.metrics.addMetric('JobsSucceeded', MetricUnit.Count, 1);
    if (queueWaitMs !== undefined) this.metrics.addMetric('QueueWaitMs', MetricUnit.Milliseconds, queueWaitMs);
    this.metrics.publishStoredMetrics();
    for (const [stage, ms] of Object.entries(timingsMs)) {
      const single = this.metrics.singleMetric();
      single.addDimension('Stage', stage);
      single.addMetric('StageMs', MetricUnit.Milliseconds, ms);
    }
  }

  jobFailed(code: JobErrorCode, durationMs: number | undefined): void {
    const single = this.metrics.singleMetric();
    single.addDimension('ErrorCode', code);
    single.addMetric('JobsFailed', MetricUnit.Count, 1);
    if (durationMs !== undefined) {
      this.metrics.addMetric('JobDurationMs', MetricUnit.Milliseconds, durationMs);
      this.metrics.publishStoredMetrics();
    }
  }

  /** Deliveries left for later (transient failure, lease held elsewhere, released at shutdown). */
  jobDeferred(reason: 'transient' | 'lease-held' | 'record-missing' | 'shutdown'): void {
    const single = this.metrics.singleMetric();
    single.addDimension('Reason', reason);
    single.addMetric('JobsDeferred', MetricUnit.Count, 1);
  }

  modelsLoaded(loadMs: number): void {
    this.metrics.addMetric('ModelLoadMs', MetricUnit.Milliseconds, loadMs);
    this.metrics.publishStoredMetrics();
  }
}
