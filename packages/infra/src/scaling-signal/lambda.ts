// The scaling signal as a Lambda run once a minute by an EventBridge rule (packages/infra/src/scaling.ts): reads the
// job queue's counts and the worker service's task counts, and publishes scalingSignal() as EMF metrics.
//
// EMF (Powertools Metrics) rather than PutMetricData: the points travel in the invocation's own log stream, so the
// function needs no cloudwatch:PutMetricData grant and no CloudWatch client in its bundle, and Powertools is what the
// worker and the API already publish with. A failed invocation publishes nothing: alarms see a missing point, never
// a zero.
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DescribeServicesCommand, ECSClient } from '@aws-sdk/client-ecs';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { SCALING_SIGNAL_METRICS, SCALING_SIGNAL_NAMESPACE, SCALING_SIGNAL_SERVICE, scalingSignal, type ScalingSnapshot } from './signal.js';

const positiveInt = z.coerce.number().int().min(1);
/** The function's environment (set by the ScalingSignal construct). */
export const scalingSignalEnvSchema = z.object({
  REVIVE_QUEUE_URL: z.string().url(),
  REVIVE_CLUSTER_NAME: z.string().min(1),
  REVIVE_SERVICE_NAME: z.string().min(1),
  REVIVE_JOBS_PER_TASK: positiveInt,
  REVIVE_CONCURRENCY: positiveInt,
});
export type ScalingSignalEnv = z.infer<typeof scalingSignalEnvSchema>;

const wholeCount = z.coerce.number().int().min(0);

let env: ScalingSignalEnv | undefined;
const sqs = new SQSClient({});
const ecs = new ECSClient({});
const metrics = new Metrics({ namespace: SCALING_SIGNAL_NAMESPACE, serviceName: SCALING_SIGNAL_SERVICE });

/** One snapshot: the queue's two counts and the service's three, read at once. */
async function snapshot(e: ScalingSignalEnv): Promise<ScalingSnapshot> {
  const [queue, services] = await Promise.all([
    sqs.send(new GetQueueAttributesCommand({ QueueUrl: e.REVIVE_QUEUE_URL, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] })),
    ecs.send(new DescribeServicesCommand({ cluster: e.REVIVE_CLUSTER_NAME, services: [e.REVIVE_SERVICE_NAME] })),
  ]);
  const service = services.services?.[0];
  if (service === undefined) throw new Error(`DescribeServices found no service ${e.REVIVE_SERVICE_NAME}: ${JSON.stringify(services.failures ?? [])}`);
  return {
    visible: wholeCount.parse(queue.Attributes?.ApproximateNumberOfMessages),
    inFlight: wholeCount.parse(queue.Attributes?.ApproximateNumberOfMessagesNotVisible),
    desired: wholeCount.parse(service.desiredCount),
    running: wholeCount.parse(service.runningCount),
    pending: wholeCount.parse(service.pendingCount),
  };
}

/** Publishes one minute's scaling signal; throws (publishing nothing) when a count can't be read. */
export async function handler(): Promise<void> {
  env ??= scalingSignalEnvSchema.parse(process.env);
  const snap = await snapshot(env);
  const signal = scalingSignal(snap, { jobsPerTask: env.REVIVE_JOBS_PER_TASK, concurrency: env.REVIVE_CONCURRENCY });
  metrics.addDimension('ServiceName', env.REVIVE_SERVICE_NAME);
  for (const [field, name] of Object.entries(SCALING_SIGNAL_METRICS) as [keyof typeof SCALING_SIGNAL_METRICS, string][]) {
    metrics.addMetric(name, MetricUnit.Count, signal[field]);
  }
  // The raw counts go along as properties (searchable in Logs Insights), not as metrics.
  metrics.addMetadata('snapshot', JSON.stringify(snap));
  metrics.publishStoredMetrics();
}
