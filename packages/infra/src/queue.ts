import {
  DEFAULT_MAX_RECEIVE_COUNT,
  DEFAULT_VISIBILITY_TIMEOUT_SECONDS,
} from '@revive/contract';
import { Duration } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** Fewer deliveries than this turns one throttled S3 read into a lost job. */
export const MIN_MAX_RECEIVE_COUNT = 3;
/** SQS's longest retention: a DLQ keeps failed jobs as long as it can, for inspection and redrive. */
const DLQ_RETENTION_DAYS = 14;
/**
 * SQS's longest retention. Past it SQS deletes a message without dead-lettering it, and its job stays QUEUED
 * forever: a backlog must never reach that silently (the drain-time alarm pages long before). @default 14
 */
export const DEFAULT_QUEUE_RETENTION_DAYS = 14;

export interface JobQueueProps {
  /**
   * Visibility timeout the queue starts each delivery with; the worker's heartbeat extends it every third of it.
   * @default DEFAULT_VISIBILITY_TIMEOUT_SECONDS (120)
   */
  readonly visibilityTimeoutSeconds?: number;
  /** Deliveries before a message moves to the DLQ; at least 3. @default DEFAULT_MAX_RECEIVE_COUNT (4) */
  readonly maxReceiveCount?: number;
  /** @default DEFAULT_QUEUE_RETENTION_DAYS (14) */
  readonly retentionDays?: number;
}

/** The job queue (SSE, TLS only) and its dead-letter queue. */
export class JobQueue extends Construct {
  public readonly queue: sqs.Queue;
  public readonly deadLetterQueue: sqs.Queue;
  public readonly maxReceiveCount: number;
  public readonly visibilityTimeoutSeconds: number;

  constructor(scope: Construct, id: string, props: JobQueueProps = {}) {
    super(scope, id);
    this.maxReceiveCount = props.maxReceiveCount ?? DEFAULT_MAX_RECEIVE_COUNT;
    this.visibilityTimeoutSeconds = props.visibilityTimeoutSeconds ?? DEFAULT_VISIBILITY_TIMEOUT_SECONDS;
    if (!Number.isInteger(this.maxReceiveCount) || this.maxReceiveCount < MIN_MAX_RECEIVE_COUNT) {
      throw new Error(`JobQueue: maxReceiveCount must be a whole number ≥ ${MIN_MAX_RECEIVE_COUNT} (got ${this.maxReceiveCount})`);
    }
    if (this.visibilityTimeoutSeconds < 30 || this.visibilityTimeoutSeconds > 43_200) {
      throw new Error(
        `JobQueue: visibilityTimeoutSeconds must be 30..43200 so a heartbeat fits inside it (got ${this.visibilityTimeoutSeconds})`,
      );
    }

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(DLQ_RETENTION_DAYS),
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(this.visibilityTimeoutSeconds),
      retentionPeriod: Duration.days(props.retentionDays ?? DEFAULT_QUEUE_RETENTION_DAYS),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: this.maxReceiveCount },
    });
  }
}
