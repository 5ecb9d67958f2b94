import { join } from 'node:path';
import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { putLocalEsbuildOnPath, LAMBDA_BUNDLING } from './esbuild.js';
import { REPO_ROOT } from './paths.js';

/**
 * The consumer's timeout. Under SQS's default 30 s visibility for the DLQ, so a message is never seen twice while
 * one invocation still runs; long enough for one DynamoDB write and a webhook of 3 × 5 s attempts. @default 25
 */
export const DEAD_LETTER_TIMEOUT_SECONDS = 25;
/**
 * Messages per invocation. Records are handled one after another and one webhook can take ≈ 19 s (3 attempts of 5 s
 * plus backoff), so only a batch of one is sure to fit DEAD_LETTER_TIMEOUT_SECONDS. @default 1
 */
export const DEAD_LETTER_BATCH_SIZE = 1;
/**
 * Concurrent invocations the event source may start (SQS's minimum is 2), so a flood of dead letters (say, a missing
 * permission failing every job) cannot use up the account's Lambda concurrency that the API routes need. @default 5
 */
export const DEAD_LETTER_MAX_CONCURRENCY = 5;

export interface DeadLetterConsumerProps {
  /** The job queue's dead-letter queue. */
  readonly deadLetterQueue: sqs.IQueue;
  /** The jobs table's name (REVIVE_TABLE_NAME). */
  readonly tableName: string;
  /** REVIVE_JOB_TTL_DAYS. */
  readonly jobTtlDays: number;
  /** The webhook HMAC key the worker signs with; the function reads it once per cold start. */
  readonly webhookSecret: secretsmanager.ISecret;
  readonly logRetention: logs.RetentionDays;
}

/**
 * A Lambda on the DLQ that marks each dead-lettered message's job FAILED (DEAD_LETTERED) unless it already ended, and
 * sends its webhook, so no job waits forever once its message is dead-lettered. Each message goes at once (no batching
 * window, one per invocation, at most DEAD_LETTER_MAX_CONCURRENCY at a time) and failures are reported per message,
 * so one bad record never holds the others back. The handler is
 * packages/worker/src/lambdas/dead-letters.ts (the worker package owns the job lifecycle writes).
 * Grants are in grants.ts.
 */
export class DeadLetterConsumer extends Construct {
  public readonly function: NodejsFunction;
  public readonly logGroup: logs.LogGroup;
  public readonly eventSource: SqsEventSource;

  constructor(scope: Construct, id: string, props: DeadLetterConsumerProps) {
    super(scope, id);
    putLocalEsbuildOnPath();
    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention });
    const role = new iam.Role(this, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: 'Revive dead-letter consumer' });
    this.function = new NodejsFunction(this, 'Function', {
      role,
      entry: join(REPO_ROOT, 'packages/worker/src/lambdas/dead-letters.ts'),
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      timeout: Duration.seconds(DEAD_LETTER_TIMEOUT_SECONDS),
      logGroup: this.logGroup,
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'pnpm-lock.yaml'),
      environment: {
        REVIVE_TABLE_NAME: props.tableName,
        REVIVE_JOB_TTL_DAYS: String(props.jobTtlDays),
        REVIVE_WEBHOOK_SECRET_ARN: props.webhookSecret.secretArn,
        POWERTOOLS_SERVICE_NAME: 'dead-letters',
      },
      bundling: LAMBDA_BUNDLING,
    });
    this.eventSource = new SqsEventSource(props.deadLetterQueue, {
      batchSize: DEAD_LETTER_BATCH_SIZE,
      maxBatchingWindow: Duration.seconds(0),
      maxConcurrency: DEAD_LETTER_MAX_CONCURRENCY,
      reportBatchItemFailures: true,
    });
    this.function.addEventSource(this.eventSource);
  }
}
