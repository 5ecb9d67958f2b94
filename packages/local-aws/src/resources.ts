import { randomBytes } from 'node:crypto';
import { CreateTableCommand, DynamoDBClient, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, GetQueueUrlCommand, SetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DEFAULT_MAX_RECEIVE_COUNT, DEFAULT_VISIBILITY_TIMEOUT_SECONDS, TABLE_SCHEMA } from '@revive/contract';
import { LOCAL_CREDENTIALS, type LocalAwsEndpoints } from './emulators.js';

/** Where the emulators are, as the AWS SDK clients need it. */
export interface LocalAwsTarget {
  readonly endpoints: LocalAwsEndpoints;
  readonly region: string;
}

/** Client options for one service: loopback endpoint, fake credentials, path-style S3. */
export function clientConfig(target: LocalAwsTarget, service: keyof LocalAwsEndpoints) {
  return {
    endpoint: target.endpoints[service],
    region: target.region,
    credentials: LOCAL_CREDENTIALS,
    forcePathStyle: true,
    // Emulators do not all validate flexible checksums on streamed bodies.
    requestChecksumCalculation: 'WHEN_REQUIRED' as const,
    responseChecksumValidation: 'WHEN_REQUIRED' as const,
  };
}

/** Real AWS SDK clients pointed at the emulators. Call `destroy()` on each when done. */
export function localClients(target: LocalAwsTarget) {
  return {
    sqs: new SQSClient(clientConfig(target, 'sqs')),
    s3: new S3Client(clientConfig(target, 's3')),
    dynamodb: new DynamoDBClient(clientConfig(target, 'dynamodb')),
  };
}

/** The queue, dead-letter queue, table and bucket, as the CDK app creates them in AWS. */
export interface ReviveResources {
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly dlqUrl: string;
  /** The webhook-retry queue (durable webhook retries) and its own dead-letter queue. */
  readonly webhookRetryQueueUrl: string;
  readonly webhookRetryDlqUrl: string;
  readonly tableName: string;
  readonly bucketName: string;
  readonly visibilityTimeoutSeconds: number;
  readonly maxReceiveCount: number;
}

export interface CreateResourcesOptions {
  /** Prefix of every name, so test files can share one emulator. @default 'revive-<random>' */
  readonly prefix?: string;
  /** @default DEFAULT_VISIBILITY_TIMEOUT_SECONDS */
  readonly visibilityTimeoutSeconds?: number;
  /** @default DEFAULT_MAX_RECEIVE_COUNT */
  readonly maxReceiveCount?: number;
}

/**
 * CreateQueue, or, when the queue is already there with other settings (a kept state folder started again with
 * another REVIVE_VISIBILITY_TIMEOUT_SECONDS), the same queue with its settings updated. Returns its URL.
 */
async function ensureQueue(sqs: SQSClient, name: string, attributes: Record<string, string>): Promise<string> {
  try {
    return (await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }))).QueueUrl!;
  } catch (error) {
    const code = (error as { name?: string }).name;
    if (code !== 'QueueNameExists' && code !== 'QueueAlreadyExists') throw error;
    const url = (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl!;
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: attributes }));
    return url;
  }
}

/**
 * Creates Revive's resources on the emulators, with the same keys, indexes, TTL and redrive policy as the CDK app.
 * Resources that already exist (a state folder kept across restarts, the same prefix) are reused with what they hold.
 */
export async function createReviveResources(target: LocalAwsTarget, options: CreateResourcesOptions = {}): Promise<ReviveResources> {
  const prefix = options.prefix ?? `revive-${randomBytes(4).toString('hex')}`;
  const visibilityTimeoutSeconds = options.visibilityTimeoutSeconds ?? DEFAULT_VISIBILITY_TIMEOUT_SECONDS;
  const maxReceiveCount = options.maxReceiveCount ?? DEFAULT_MAX_RECEIVE_COUNT;
  const { sqs, s3, dynamodb } = localClients(target);
  try {
    const dlqUrl = await ensureQueue(sqs, `${prefix}-jobs-dlq`, { MessageRetentionPeriod: '1209600' });
    const dlqAttributes = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }));
    const queueUrl = await ensureQueue(sqs, `${prefix}-jobs`, {
      VisibilityTimeout: String(visibilityTimeoutSeconds),
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqAttributes.Attributes!.QueueArn, maxReceiveCount }),
    });
    const queueAttributes = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
    const { webhookRetryQueueUrl, webhookRetryDlqUrl } = await createWebhookRetryQueues(sqs, prefix);

    const tableName = `${prefix}-jobs`;
    const index = TABLE_SCHEMA.tenantIndex;
    const pending = TABLE_SCHEMA.pendingIndex;
    await createTableOnce(
      dynamodb,
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: TABLE_SCHEMA.partitionKey, AttributeType: 'S' },
          { AttributeName: index.partitionKey, AttributeType: 'S' },
          { AttributeName: index.sortKey, AttributeType: 'S' },
          { AttributeName: pending.partitionKey, AttributeType: 'S' },
          { AttributeName: pending.sortKey, AttributeType: 'N' },
        ],
        KeySchema: [{ AttributeName: TABLE_SCHEMA.partitionKey, KeyType: 'HASH' }],
        GlobalSecondaryIndexes: [
          {
            IndexName: index.name,
            KeySchema: [
              { AttributeName: index.partitionKey, KeyType: 'HASH' },
              { AttributeName: index.sortKey, KeyType: 'RANGE' },
            ],
            // As deployed: only what GET /jobs returns, so heartbeats and outbox marks never write to the index.
            Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...index.projected] },
          },
          {
            IndexName: pending.name,
            KeySchema: [
              { AttributeName: pending.partitionKey, KeyType: 'HASH' },
              { AttributeName: pending.sortKey, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'KEYS_ONLY' },
          },
        ],
      }),
    );
    try {
      await dynamodb.send(
        new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { AttributeName: TABLE_SCHEMA.ttlAttribute, Enabled: true } }),
      );
    } catch {
      // dynalite has no TTL; records then simply stay, which is harmless locally.
    }

    const bucketName = `${prefix}-media`.toLowerCase();
    await s3.send(new CreateBucketCommand({ Bucket: bucketName }));
    return { queueUrl, queueArn: queueAttributes.Attributes!.QueueArn!, dlqUrl, webhookRetryQueueUrl, webhookRetryDlqUrl, tableName, bucketName, visibilityTimeoutSeconds, maxReceiveCount };
  } finally {
    sqs.destroy();
    s3.destroy();
    dynamodb.destroy();
  }
}

/** CreateTable, unless the table is already there (a kept state folder): then it is used as it is. */
async function createTableOnce(dynamodb: DynamoDBClient, command: CreateTableCommand): Promise<void> {
  try {
    await dynamodb.send(command);
  } catch (error) {
    if ((error as { name?: string }).name !== 'ResourceInUseException') throw error;
  }
}

/** As the CDK app's WebhookRetries: the retry queue, redriving to its own DLQ after a few failed receives. */
async function createWebhookRetryQueues(sqs: SQSClient, prefix: string): Promise<{ webhookRetryQueueUrl: string; webhookRetryDlqUrl: string }> {
  const dlqUrl = await ensureQueue(sqs, `${prefix}-webhook-retries-dlq`, { MessageRetentionPeriod: '1209600' });
  const dlqArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
  const queueUrl = await ensureQueue(sqs, `${prefix}-webhook-retries`, { VisibilityTimeout: '30', RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 5 }) });
  return { webhookRetryQueueUrl: queueUrl, webhookRetryDlqUrl: dlqUrl };
}

/**
 * Environment for a worker or API process that should use the emulators: the SDK reads the
 * AWS_ENDPOINT_URL_* variables itself, so production code needs no local-only branch for endpoints.
 */
export function localAwsEnv(target: LocalAwsTarget, resources: ReviveResources): Record<string, string> {
  return {
    AWS_REGION: target.region,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_SQS: target.endpoints.sqs,
    AWS_ENDPOINT_URL_S3: target.endpoints.s3,
    AWS_ENDPOINT_URL_DYNAMODB: target.endpoints.dynamodb,
    // The SDK reads the checksum variables itself; Revive's S3 adapters read REVIVE_S3_FORCE_PATH_STYLE (the emulator has no virtual-hosted buckets).
    REVIVE_S3_FORCE_PATH_STYLE: 'true',
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    // Local runs use this machine's Node 20; the deployed worker and Lambdas run Node 22, which the notice asks for.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    REVIVE_QUEUE_URL: resources.queueUrl,
    REVIVE_WEBHOOK_RETRY_QUEUE_URL: resources.webhookRetryQueueUrl,
    REVIVE_TABLE_NAME: resources.tableName,
    REVIVE_BUCKET_NAME: resources.bucketName,
    REVIVE_VISIBILITY_TIMEOUT_SECONDS: String(resources.visibilityTimeoutSeconds),
    REVIVE_MAX_RECEIVE_COUNT: String(resources.maxReceiveCount),
  };
}
