import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { METRICS_NAMESPACE, WORKER_METRIC_DIMENSIONS, WORKER_METRICS, WORKER_SERVICE_NAME } from '@revive/contract';
import { Construct } from 'constructs';
import type { JobApi } from './api.js';
import type { JobQueue } from './queue.js';
import type { WorkerService } from './worker.js';

/** Metric the health-check stop counter publishes (from the ECS task-state events), in METRICS_NAMESPACE. */
export const UNHEALTHY_STOPS_METRIC = 'WorkerUnhealthyTaskStops';
/** ECS's stoppedReason when a container failed its health check. */
const UNHEALTHY_STOP_REASON_PREFIX = 'Task failed container health checks';
const FIVE_MINUTES = Duration.minutes(5);

export interface MonitoringProps {
  readonly queue: JobQueue;
  readonly worker: WorkerService;
  readonly api: JobApi;
  /** Oldest visible message age (seconds) that pages. */
  readonly oldestMessageAlarmSeconds: number;
  /** API 5xx per 5 minutes that page. */
  readonly api5xxThreshold: number;
  /** Jobs per second the fleet clears at maxTasks: maxTasks / secondsPerJob. */
  readonly fleetJobsPerSecond: number;
  /** Estimated time to drain (all queued and running jobs ÷ fleet capacity) that pages, seconds. */
  readonly drainTimeAlarmSeconds: number;
  /** Subscribed to the alarm topic. @default none */
  readonly alarmEmail?: string;
  readonly logRetention: logs.RetentionDays;
}

/** Alarms (to an encrypted SNS topic) and the operations dashboard. */
/** Metrics a CloudWatch alarm's math expression may use (CloudWatch's own limit). */
export const ALARM_MAX_METRICS = 10;

export class Monitoring extends Construct {
  public readonly alarmTopic: sns.Topic;
  public readonly topicKey: kms.Key;
  public readonly deadLetterAlarm: cloudwatch.Alarm;
  /** Pages when the DLQ consumer receives a message: a job ended DEAD_LETTERED. */
  public readonly deadLetteredAlarm: cloudwatch.Alarm;
  public readonly oldestMessageAlarm: cloudwatch.Alarm;
  /** The backlog would take longer than drainTimeAlarmSeconds at full fleet: raise maxTasks (and its quota). */
  public readonly drainTimeAlarm: cloudwatch.Alarm;
  public readonly unhealthyTasksAlarm: cloudwatch.Alarm;
  /** The worker's scaling signal stopped (QueueDepthScaling.signalMissingAlarm): only the fallback scales out, nothing scales in. */
  public readonly scalingSignalAlarm: cloudwatch.Alarm;
  public readonly api5xxAlarm: cloudwatch.Alarm;
  /**
   * Errors (crashes, timeouts) of any API Lambda, the outbox sweeper included: one alarm per ALARM_MAX_METRICS
   * functions (a CloudWatch alarm's math expression takes at most 10 metrics).
   */
  public readonly lambdaErrorsAlarms: readonly cloudwatch.Alarm[];
  public readonly lambdaThrottlesAlarms: readonly cloudwatch.Alarm[];
  public readonly taskStopLogGroup: logs.LogGroup;
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    if (props.oldestMessageAlarmSeconds <= 0) throw new Error('Monitoring: oldestMessageAlarmSeconds must be > 0');
    if (props.api5xxThreshold < 1) throw new Error('Monitoring: api5xxThreshold must be ≥ 1');
    if (!(props.fleetJobsPerSecond > 0) || !(props.drainTimeAlarmSeconds > 0)) {
      throw new Error('Monitoring: fleetJobsPerSecond and drainTimeAlarmSeconds must be > 0');
    }
    const { queue, worker, api } = props;

    // CloudWatch can only publish to a topic encrypted with a customer managed key whose policy lets it.
    this.topicKey = new kms.Key(this, 'AlarmTopicKey', { enableKeyRotation: true, description: 'Revive alarm topic' });
    this.topicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', { masterKey: this.topicKey, enforceSSL: true });
    // enforceSSL gives the topic a policy, which replaces SNS's default one: without this Allow no alarm is delivered.
    const stack = Stack.of(this);
    this.alarmTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.alarmTopic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': stack.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }),
          },
        },
      }),
    );
    if (props.alarmEmail !== undefined) {
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    }
    const notify = (alarm: cloudwatch.Alarm) => {
      alarm.addAlarmAction(new actions.SnsAction(this.alarmTopic));
      alarm.addOkAction(new actions.SnsAction(this.alarmTopic));
      return alarm;
    };
    /** Pages (and sends OK) as soon as one datapoint reaches `threshold`; no data is no trouble. */
    const pageWhenAtLeast = (id: string, alarmDescription: string, metric: cloudwatch.IMetric, threshold = 1) =>
      notify(
        new cloudwatch.Alarm(this, id, {
          alarmDescription,
          metric,
          threshold,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );

    this.deadLetterAlarm = pageWhenAtLeast(
      'DeadLetterNotEmpty',
      'Jobs exhausted their deliveries and sit in the dead-letter queue.',
      queue.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: Duration.minutes(1) }),
    );
    // The DLQ consumer drains the DLQ at once (it marks each job DEAD_LETTERED), so "not empty" only pages when the
    // consumer itself fails; every message the consumer receives is a job that ended without a worker's outcome.
    this.deadLetteredAlarm = pageWhenAtLeast(
      'JobsDeadLettered',
      'Messages reached the dead-letter queue: their jobs were marked FAILED (DEAD_LETTERED). See the README on redrive.',
      queue.deadLetterQueue.metricNumberOfMessagesReceived({ statistic: 'Sum', period: Duration.minutes(1) }),
    );
    this.oldestMessageAlarm = notify(
      new cloudwatch.Alarm(this, 'OldestMessageAge', {
        alarmDescription: `A job has waited more than ${props.oldestMessageAlarmSeconds} s: workers are missing, stuck or too few.`,
        metric: queue.queue.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', period: Duration.minutes(1) }),
        threshold: props.oldestMessageAlarmSeconds,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );

    // Seen before the oldest message is old: at full fleet, this backlog takes longer than the budget to clear.
    this.drainTimeAlarm = notify(
      new cloudwatch.MathExpression({
        label: 'Estimated seconds to drain at maxTasks',
        // In seconds of work (the scaling signal's WorkSeconds over maxTasks), so ten-minute jobs count as ten
        // minutes each; in jobs at secondsPerJob while the signal is missing.
        expression: `IF(FILL(work, -1) >= 0, work / ${worker.scaling.settings.options.maxTasks}, (FILL(visible, 0) + FILL(inFlight, 0)) / ${props.fleetJobsPerSecond})`,
        period: Duration.minutes(1),
        usingMetrics: {
          work: worker.scaling.workSeconds,
          visible: queue.queue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: Duration.minutes(1) }),
          inFlight: queue.queue.metricApproximateNumberOfMessagesNotVisible({ statistic: 'Maximum', period: Duration.minutes(1) }),
        },
      }).createAlarm(this, 'DrainTime', {
        alarmDescription: `The queued and running work would take more than ${props.drainTimeAlarmSeconds} s to clear even at maxTasks: raise maxTasks and its service quota.`,
        threshold: props.drainTimeAlarmSeconds,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 5,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );

    // ECS reports a health-check kill only as a task state change event; route those to a log group and count them.
    // No fixed name: the group is retained on delete, so a fixed name would make `cdk destroy` + `cdk deploy` fail.
    this.taskStopLogGroup = new logs.LogGroup(this, 'UnhealthyTaskStops', { retention: props.logRetention });
    new logs.ResourcePolicy(this, 'EventsToLogs', {
      policyStatements: [
        new iam.PolicyStatement({
          principals: [new iam.ServicePrincipal('events.amazonaws.com')],
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [`${this.taskStopLogGroup.logGroupArn}`],
        }),
      ],
    });
    // EventBridge delivers only to a log group ARN without the `:*` that GetAtt Arn carries; this is the ARN
    // aws-events-targets.CloudWatchLogGroup builds. That target itself is not used because it writes the logs
    // resource policy through a custom-resource Lambda (an extra function, role and nag findings), where the native
    // AWS::Logs::ResourcePolicy above does the same.
    const stopLogGroupArn = stack.formatArn({
      service: 'logs',
      resource: 'log-group',
      resourceName: this.taskStopLogGroup.logGroupName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    new events.Rule(this, 'UnhealthyTaskStopRule', {
      description: 'Worker tasks ECS stopped because `revive healthcheck` failed',
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Task State Change'],
        detail: {
          clusterArn: [worker.cluster.clusterArn],
          group: [`service:${worker.service.serviceName}`],
          lastStatus: ['STOPPED'],
          stoppedReason: [{ prefix: UNHEALTHY_STOP_REASON_PREFIX }],
        },
      },
      targets: [{ bind: () => ({ arn: stopLogGroupArn }) }],
    });
    const unhealthyStops = new logs.MetricFilter(this, 'UnhealthyStopsFilter', {
      logGroup: this.taskStopLogGroup,
      filterPattern: logs.FilterPattern.allEvents(),
      metricNamespace: METRICS_NAMESPACE,
      metricName: UNHEALTHY_STOPS_METRIC,
      metricValue: '1',
      defaultValue: 0,
    }).metric({ statistic: 'Sum', period: FIVE_MINUTES });
    this.unhealthyTasksAlarm = pageWhenAtLeast(
      'WorkerHealthCheckFailures',
      'ECS stopped worker tasks that failed `revive healthcheck`.',
      unhealthyStops,
    );

    this.scalingSignalAlarm = notify(worker.scaling.signalMissingAlarm);

    this.api5xxAlarm = pageWhenAtLeast(
      'Api5xx',
      'The job API answers 5xx.',
      api.httpApi.metricServerError({ statistic: 'Sum', period: FIVE_MINUTES }),
      props.api5xxThreshold,
    );

    // Route handlers turn their own errors into 5xx answers (the alarm above); these count what escapes a handler:
    // crashes, timeouts and out-of-memory, and every failed sweep-enqueue run, which no client would ever see.
    const functionGroups: lambda.IFunction[][] = [];
    Object.values(api.functions).forEach((fn, i) => (functionGroups[Math.floor(i / ALARM_MAX_METRICS)] ??= []).push(fn));
    const groupSum = (group: lambda.IFunction[], metric: (fn: lambda.IFunction) => cloudwatch.Metric, label: string) =>
      new cloudwatch.MathExpression({
        expression: 'SUM(METRICS())',
        label,
        period: FIVE_MINUTES,
        usingMetrics: Object.fromEntries(group.map((fn, i) => [`f${i}`, metric(fn)])),
      });
    // The first group keeps the single alarm's construct id of old, so an update replaces no alarm that exists.
    const groupId = (base: string, n: number) => (n === 0 ? base : `${base}${n + 1}`);
    this.lambdaErrorsAlarms = functionGroups.map((group, n) =>
      pageWhenAtLeast(
        groupId('ApiLambdaErrors', n),
        'An API Lambda (a route or the outbox sweeper) failed: crashed, timed out or ran out of memory.',
        groupSum(group, (fn) => fn.metricErrors({ statistic: 'Sum', period: FIVE_MINUTES }), 'Lambda errors'),
      ),
    );
    this.lambdaThrottlesAlarms = functionGroups.map((group, n) =>
      pageWhenAtLeast(
        groupId('ApiLambdaThrottles', n),
        'Lambda throttled an API function (account or reserved concurrency exhausted).',
        groupSum(group, (fn) => fn.metricThrottles({ statistic: 'Sum', period: FIVE_MINUTES }), 'Lambda throttles'),
      ),
    );

    const workerMetric = (metricName: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { service: WORKER_SERVICE_NAME },
        statistic,
        period: FIVE_MINUTES,
      });
    const searchExpression = (metricName: string, dimension: string, statistic: string) =>
      `SEARCH('{${METRICS_NAMESPACE},${dimension},service} MetricName="${metricName}" service="${WORKER_SERVICE_NAME}"', '${statistic}', 300)`;
    const search = (metricName: string, dimension: string, statistic: string, label: string) =>
      new cloudwatch.MathExpression({ expression: searchExpression(metricName, dimension, statistic), label, period: FIVE_MINUTES });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(6),
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'Queue depth',
            left: [
              queue.queue.metricApproximateNumberOfMessagesVisible({ label: 'visible', period: Duration.minutes(1) }),
              queue.queue.metricApproximateNumberOfMessagesNotVisible({ label: 'in flight', period: Duration.minutes(1) }),
              queue.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ label: 'dead letters', period: Duration.minutes(1) }),
            ],
            right: [queue.queue.metricApproximateAgeOfOldestMessage({ label: 'oldest (s)', period: Duration.minutes(1) })],
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Worker tasks',
            left: [
              worker.taskCountMetric('RunningTaskCount').with({ label: 'running' }),
              worker.taskCountMetric('DesiredTaskCount').with({ label: 'desired' }),
              worker.taskCountMetric('PendingTaskCount').with({ label: 'pending' }),
            ],
            right: [unhealthyStops.with({ label: 'unhealthy stops' }), worker.scaling.wantedTasks.with({ label: 'tasks wanted (scaling signal)' }), worker.scaling.targetTasks.with({ label: 'tasks set (scaling signal)' })],
            width: 12,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Job duration (ms)',
            left: ['p50', 'p90', 'p99'].map((p) => workerMetric(WORKER_METRICS.jobDurationMs, p).with({ label: `job ${p}` })),
            right: [workerMetric(WORKER_METRICS.queueWaitMs, 'p90').with({ label: 'queue wait p90' })],
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Jobs',
            left: [
              workerMetric(WORKER_METRICS.jobsSucceeded, 'Sum').with({ label: 'succeeded' }),
              new cloudwatch.MathExpression({
                expression: `SUM(${searchExpression(WORKER_METRICS.jobsFailed, WORKER_METRIC_DIMENSIONS.errorCode, 'Sum')})`,
                label: 'failed',
                period: FIVE_MINUTES,
              }),
            ],
            right: [workerMetric(WORKER_METRICS.facesFound, 'Average').with({ label: 'faces per photo' })],
            width: 12,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Failures by error code',
            left: [search(WORKER_METRICS.jobsFailed, WORKER_METRIC_DIMENSIONS.errorCode, 'Sum', '')],
            stacked: true,
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Per-stage ms (p90)',
            left: [search(WORKER_METRICS.stageMs, WORKER_METRIC_DIMENSIONS.stage, 'p90', '')],
            width: 12,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'API',
            left: [
              api.httpApi.metricCount({ statistic: 'Sum', period: FIVE_MINUTES, label: 'requests' }),
              api.httpApi.metricClientError({ statistic: 'Sum', period: FIVE_MINUTES, label: '4xx' }),
              api.httpApi.metricServerError({ statistic: 'Sum', period: FIVE_MINUTES, label: '5xx' }),
            ],
            right: [api.httpApi.metricLatency({ statistic: 'p90', period: FIVE_MINUTES, label: 'latency p90' })],
            width: 12,
          }),
          new cloudwatch.AlarmStatusWidget({
            title: 'Alarms',
            alarms: [
              this.deadLetterAlarm,
              this.oldestMessageAlarm,
              this.unhealthyTasksAlarm,
              this.api5xxAlarm,
              ...this.lambdaErrorsAlarms,
              ...this.lambdaThrottlesAlarms,
            ],
            width: 12,
          }),
        ],
      ],
    });
  }
}
