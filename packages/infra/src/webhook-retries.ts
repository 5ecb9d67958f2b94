import { join } from 'node:path';
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { putLocalEsbuildOnPath, LAMBDA_BUNDLING } from './esbuild.js';
import { REPO_ROOT } from './paths.js';

/** The function's timeout: one POST (10 s at most), a DynamoDB read and write, an SQS send, with margin. @default 30 */
export const WEBHOOK_RETRY_TIMEOUT_SECONDS = 30;
/**
 * Visibility of a retry message: longer than the function's timeout (which the event source requires), so a message is
 * never handled twice at once; a failed one comes back after it. @default 90
 */
export const WEBHOOK_RETRY_VISIBILITY_SECONDS = 90;
/** Messages per invocation, handled at once (one POST each). @default 10 */
export const WEBHOOK_RETRY_BATCH_SIZE = 10;
/** Concurrent invocations, so that a burst of retries leaves Lambda concurrency to the API. @default 5 */
export const WEBHOOK_RETRY_MAX_CONCURRENCY = 5;
/**
 * Receives before a retry message goes to the retry queue's DLQ: only failed writes (DynamoDB, SQS) return a message,
 * a receiver's own failures are recorded and rescheduled, never thrown. @default 5
 */
export const WEBHOOK_RETRY_MAX_RECEIVE_COUNT = 5;
/** SQS's longest retention, for the retry queue's DLQ. */
const DLQ_RETENTION_DAYS = 14;

export interface WebhookRetriesProps {
  /** The jobs table's name (REVIVE_TABLE_NAME). */
  readonly tableName: string;
  /** The media bucket's name (REVIVE_BUCKET_NAME): SUCCEEDED jobs' bodies carry a freshly presigned result URL. */
  readonly bucketName: string;
  /** The webhook HMAC key the worker signs with; the function reads it once per cold start. */
  readonly webhookSecret: secretsmanager.ISecret;
  readonly logRetention: logs.RetentionDays;
}

/**
 * Durable webhook retries: the webhook-retry queue (SSE, TLS only, its own DLQ with an alarm) and the Lambda that
 * consumes it (packages/worker/src/lambdas/webhook-retries.ts, built from the worker package like the DLQ
 * consumer). The worker and the DLQ consumer send a message there when their quick attempts leave a webhook
 * undelivered; the function makes one attempt per due message and schedules the next, over about a day. It is not
 * the job queue: the workers' scaling never sees it. Grants are in grants.ts; the alarm's action is the stack's topic.
 */
export class WebhookRetries extends Construct {
  public readonly queue: sqs.Queue;
  public readonly deadLetterQueue: sqs.Queue;
  public readonly function: NodejsFunction;
  public readonly logGroup: logs.LogGroup;
  public readonly eventSource: SqsEventSource;
  /** A retry message failed WEBHOOK_RETRY_MAX_RECEIVE_COUNT times (a failing write): its webhook's state is stuck. */
  public readonly deadLetterAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: WebhookRetriesProps) {
    super(scope, id);
    putLocalEsbuildOnPath();
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(DLQ_RETENTION_DAYS),
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(WEBHOOK_RETRY_VISIBILITY_SECONDS),
      // Retries are due within a day and re-sent every 15 minutes at most: four days leave room for an outage.
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: WEBHOOK_RETRY_MAX_RECEIVE_COUNT },
    });
    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention });
    const role = new iam.Role(this, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: 'Revive webhook retries' });
    this.function = new NodejsFunction(this, 'Function', {
      role,
      entry: join(REPO_ROOT, 'packages/worker/src/lambdas/webhook-retries.ts'),
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      timeout: Duration.seconds(WEBHOOK_RETRY_TIMEOUT_SECONDS),
      logGroup: this.logGroup,
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'pnpm-lock.yaml'),
      environment: {
        REVIVE_TABLE_NAME: props.tableName,
        REVIVE_BUCKET_NAME: props.bucketName,
        REVIVE_WEBHOOK_RETRY_QUEUE_URL: this.queue.queueUrl,
        REVIVE_WEBHOOK_SECRET_ARN: props.webhookSecret.secretArn,
        POWERTOOLS_SERVICE_NAME: 'webhook-retries',
      },
      bundling: LAMBDA_BUNDLING,
    });
    this.eventSource = new SqsEventSource(this.queue, {
      batchSize: WEBHOOK_RETRY_BATCH_SIZE,
      maxBatchingWindow: Duration.seconds(0),
      maxConcurrency: WEBHOOK_RETRY_MAX_CONCURRENCY,
      reportBatchItemFailures: true,
    });
    this.function.addEventSource(this.eventSource);
    this.deadLetterAlarm = new cloudwatch.Alarm(this, 'DeadLetterNotEmpty', {
      alarmDescription: 'Webhook retries failed to record their outcome repeatedly and sit in the webhook-retry DLQ: those webhooks stay DELIVERING.',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: Duration.minutes(1) }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }
}
