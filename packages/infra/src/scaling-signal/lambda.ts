// The scaling signal as a Lambda run once a minute by an EventBridge rule (packages/infra/src/scaling.ts): reads the
// job queue's counts, the worker service's counts and CloudWatch's recent points, computes scalingSignal() and sets
// the service's desired count itself; publishes the signal as EMF metrics.
//
// EMF (Powertools Metrics) rather than PutMetricData: the points travel in the invocation's own log stream, so the
// function needs no cloudwatch:PutMetricData grant. A failed invocation publishes nothing and sets nothing: the
// fallback alarm and SignalMissingAlarm see a missing point, never a zero.
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { API_METRICS, METRICS_NAMESPACE, WORKER_METRICS, WORKER_SERVICE_NAME, workUnitsSeconds, type WorkCosts } from '@revive/contract';
import { CloudWatchClient, GetMetricDataCommand, type MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import { DescribeServicesCommand, ECSClient, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import {
  SCALING_SIGNAL_METRICS,
  SCALING_SIGNAL_NAMESPACE,
  SCALING_SIGNAL_SERVICE,
  scalingSettingsSchema,
  scalingSignal,
  type ScalingHistory,
  type ScalingSettings,
  type ScalingSnapshot,
  type SignalMinute,
} from './signal.js';

/** The function's environment (set by the QueueDepthScaling construct). */
export const scalingSignalEnvSchema = z.object({
  REVIVE_QUEUE_URL: z.string().url(),
  REVIVE_QUEUE_NAME: z.string().min(1),
  REVIVE_CLUSTER_NAME: z.string().min(1),
  REVIVE_SERVICE_NAME: z.string().min(1),
  /** Comma-separated Powertools `service` names of the functions that publish EnqueuedWork* units. */
  REVIVE_SENDER_SERVICES: z.string().transform((v) => v.split(',').filter((x) => x.length > 0)),
  REVIVE_SCALING: z.string().transform((v, ctx) => {
    try {
      return scalingSettingsSchema.parse(JSON.parse(v));
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `REVIVE_SCALING: ${(error as Error).message}` });
      return z.NEVER;
    }
  }),
});
export type ScalingSignalEnv = z.infer<typeof scalingSignalEnvSchema>;

const wholeCount = z.coerce.number().int().min(0);
const PERIOD_SECONDS = 60;

let env: ScalingSignalEnv | undefined;
const sqs = new SQSClient({});
const ecs = new ECSClient({});
const cloudwatch = new CloudWatchClient({});
const metrics = new Metrics({ namespace: SCALING_SIGNAL_NAMESPACE, serviceName: SCALING_SIGNAL_SERVICE });

async function queueCounts(e: ScalingSignalEnv): Promise<Pick<ScalingSnapshot, 'visible' | 'inFlight' | 'delayed'>> {
  const queue = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: e.REVIVE_QUEUE_URL, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'] }),
  );
  return {
    visible: wholeCount.parse(queue.Attributes?.ApproximateNumberOfMessages),
    inFlight: wholeCount.parse(queue.Attributes?.ApproximateNumberOfMessagesNotVisible),
    delayed: wholeCount.parse(queue.Attributes?.ApproximateNumberOfMessagesDelayed),
  };
}

/** One snapshot: the queue's three counts and the service's three, read at once. */
async function snapshot(e: ScalingSignalEnv): Promise<ScalingSnapshot> {
  const [queue, services] = await Promise.all([queueCounts(e), ecs.send(new DescribeServicesCommand({ cluster: e.REVIVE_CLUSTER_NAME, services: [e.REVIVE_SERVICE_NAME] }))]);
  const service = services.services?.[0];
  if (service === undefined) throw new Error(`DescribeServices found no service ${e.REVIVE_SERVICE_NAME}: ${JSON.stringify(services.failures ?? [])}`);
  return { ...queue, desired: wholeCount.parse(service.desiredCount), running: wholeCount.parse(service.runningCount), pending: wholeCount.parse(service.pendingCount) };
}

/**
 * The recent minutes as CloudWatch holds them, oldest first, ending with the last whole minute: the signal's own
 * Jobs and WantedTasks, SQS's NumberOfMessagesSent, the senders' EnqueuedWork* sums and the worker's measured
 * WorkSecondsPer* costs, in one GetMetricData call (paged).
 */
export async function history(e: ScalingSignalEnv, nowMs: number): Promise<ScalingHistory> {
  const s: ScalingSettings = e.REVIVE_SCALING;
  const minutes = Math.max(s.options.rateMinutes, s.options.scaleInMinutes, s.options.idleMinutesToZero, s.workMixMinutes);
  const end = Math.floor(nowMs / 60_000) * 60_000;
  const start = end - minutes * 60_000;
  const own = (id: string, name: string): MetricDataQuery => ({
    Id: id,
    MetricStat: {
      Metric: { Namespace: SCALING_SIGNAL_NAMESPACE, MetricName: name, Dimensions: [{ Name: 'service', Value: SCALING_SIGNAL_SERVICE }, { Name: 'ServiceName', Value: e.REVIVE_SERVICE_NAME }] },
      Period: PERIOD_SECONDS,
      Stat: 'Maximum',
    },
  });
  const sender = (id: string, name: string, service: string, stat: 'Sum' | 'SampleCount'): MetricDataQuery => ({
    Id: id,
    MetricStat: { Metric: { Namespace: METRICS_NAMESPACE, MetricName: name, Dimensions: [{ Name: 'service', Value: service }] }, Period: PERIOD_SECONDS, Stat: stat },
  });
  const units = [API_METRICS.enqueuedFrames, API_METRICS.enqueuedOutputMegapixels, API_METRICS.enqueuedFaces] as const;
  const costs = [WORKER_METRICS.workSecondsPerFrame, WORKER_METRICS.workSecondsPerOutputMegapixel, WORKER_METRICS.workSecondsPerFace] as const;
  const queries: MetricDataQuery[] = [
    own('jobs', SCALING_SIGNAL_METRICS.jobs),
    own('wanted', SCALING_SIGNAL_METRICS.wantedTasks),
    { Id: 'sent', MetricStat: { Metric: { Namespace: 'AWS/SQS', MetricName: 'NumberOfMessagesSent', Dimensions: [{ Name: 'QueueName', Value: e.REVIVE_QUEUE_NAME }] }, Period: PERIOD_SECONDS, Stat: 'Sum' } },
    ...e.REVIVE_SENDER_SERVICES.flatMap((service, i) => [
      ...units.map((name, u) => sender(`u${u}s${i}`, name, service, 'Sum')),
      sender(`n${i}`, API_METRICS.enqueuedFrames, service, 'SampleCount'),
    ]),
    // The worker's measured per-unit costs (sum and count per minute, averaged over the mix window below).
    ...costs.flatMap((name, c) => [sender(`c${c}`, name, WORKER_SERVICE_NAME, 'Sum'), sender(`k${c}`, name, WORKER_SERVICE_NAME, 'SampleCount')]),
  ];
  const byId = new Map<string, Map<number, number>>();
  let token: string | undefined;
  do {
    const page = await cloudwatch.send(new GetMetricDataCommand({ StartTime: new Date(start), EndTime: new Date(end), MetricDataQueries: queries, NextToken: token }));
    for (const r of page.MetricDataResults ?? []) {
      const points = byId.get(r.Id!) ?? new Map<number, number>();
      r.Timestamps?.forEach((t, k) => points.set(t.getTime(), r.Values![k]!));
      byId.set(r.Id!, points);
    }
    token = page.NextToken;
  } while (token !== undefined);
  const at = (id: string, t: number) => byId.get(id)?.get(t);
  const mins: (SignalMinute | undefined)[] = [];
  const sent: (number | undefined)[] = [];
  for (let t = start; t < end; t += 60_000) {
    const jobs = at('jobs', t);
    const wanted = at('wanted', t);
    mins.push(jobs === undefined || wanted === undefined ? undefined : { jobs, wantedTasks: wanted });
    sent.push(at('sent', t));
  }
  // The mean work per message of the last workMixMinutes of sends, at this mode's costs.
  const mixFrom = end - s.workMixMinutes * 60_000;
  const sum = (id: string) => [...(byId.get(id) ?? new Map<number, number>()).entries()].reduce((n, [t, v]) => (t >= mixFrom ? n + v : n), 0);
  // Measured costs where the worker has published some lately, the configured defaults otherwise.
  const measured = (c: number, fallback: number) => (sum(`k${c}`) > 0 ? sum(`c${c}`) / sum(`k${c}`) : fallback);
  const workCosts: WorkCosts = {
    secondsPerFrame: measured(0, s.workCosts.secondsPerFrame),
    secondsPerOutputMegapixel: measured(1, s.workCosts.secondsPerOutputMegapixel),
    secondsPerFace: measured(2, s.workCosts.secondsPerFace),
  };
  let messages = 0;
  let seconds = 0;
  e.REVIVE_SENDER_SERVICES.forEach((_, i) => {
    messages += sum(`n${i}`);
    seconds += workUnitsSeconds({ frames: sum(`u0s${i}`), outputMegapixels: sum(`u1s${i}`), faces: sum(`u2s${i}`) }, workCosts);
  });
  return { minutes: mins, sent, secondsPerMessage: messages > 0 ? seconds / messages : undefined };
}

async function setDesired(e: ScalingSignalEnv, desiredCount: number): Promise<void> {
  await ecs.send(new UpdateServiceCommand({ cluster: e.REVIVE_CLUSTER_NAME, service: e.REVIVE_SERVICE_NAME, desiredCount }));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Computes one minute's signal, sets the desired count, publishes; at zero, watches the queue for the rest of the minute. */
export async function handler(): Promise<void> {
  env ??= scalingSignalEnvSchema.parse(process.env);
  const e = env;
  const started = Date.now();
  const [snap, past] = await Promise.all([snapshot(e), history(e, started)]);
  const signal = scalingSignal(snap, past, e.REVIVE_SCALING.options);
  if (signal.targetTasks !== snap.desired) await setDesired(e, signal.targetTasks);
  metrics.addDimension('ServiceName', e.REVIVE_SERVICE_NAME);
  for (const [field, name] of Object.entries(SCALING_SIGNAL_METRICS) as [keyof typeof SCALING_SIGNAL_METRICS, string][]) {
    metrics.addMetric(name, MetricUnit.Count, signal[field]);
  }
  // The raw counts and the decision go along as properties (searchable in Logs Insights), not as metrics.
  metrics.addMetadata('snapshot', JSON.stringify(snap));
  metrics.addMetadata('reason', signal.reason);
  metrics.publishStoredMetrics();

  // A job sent to an empty fleet should not wait for the next minute's run.
  if (signal.targetTasks !== 0) return;
  const pollMs = e.REVIVE_SCALING.zeroPollSeconds * 1000;
  while (Date.now() - started + pollMs < PERIOD_SECONDS * 1000 - 5_000) {
    await sleep(pollMs);
    const queue = await queueCounts(e);
    if (queue.visible + queue.inFlight === 0) continue;
    const now = scalingSignal({ ...snap, ...queue, desired: 0 }, past, e.REVIVE_SCALING.options);
    if (now.targetTasks > 0) await setDesired(e, now.targetTasks);
    return;
  }
}
