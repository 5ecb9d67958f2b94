import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, type BatchGetCommandOutput, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { jobRecordSchema, pendingShardKey, TABLE_SCHEMA, tenantIndexItemSchema, type JobRecord, type TenantIndexItem } from '@revive/contract';
import type { ApiConfig } from '../config.js';
import { ApiError, ServiceError } from '../errors.js';
import { callOptions, describeSdkError, sdkOptions } from './sdk-options.js';

/** The key of the last item of a page of the tenant index (table key + index keys). */
export interface TenantPageKey {
  readonly jobId: string;
  readonly tenantId: string;
  readonly createdAt: string;
}

/** The key of the last item of a page of the pending-enqueue index (table key + index keys). */
export interface PendingPageKey {
  readonly jobId: string;
  readonly enqueuePending: string;
  readonly enqueuePendingSince: number;
}

/** A job the pending-enqueue index lists: its id and when it became pending. */
export interface PendingEnqueue {
  readonly jobId: string;
  readonly enqueuePendingSince: number;
}

/** One page of the pending-enqueue index, oldest first. */
export interface PendingPage {
  readonly pending: PendingEnqueue[];
  readonly lastKey: PendingPageKey | undefined;
}

/** One page of a tenant's jobs, newest first: what the index projects (everything `GET /jobs` returns). */
export interface JobPage {
  readonly jobs: TenantIndexItem[];
  readonly lastKey: TenantPageKey | undefined;
}

function isConditionFailure(error: unknown): boolean {
  return error instanceof ConditionalCheckFailedException || (error as { name?: string } | null)?.name === 'ConditionalCheckFailedException';
}

/**
 * Job records in DynamoDB. Every state change the API makes is conditional, so it can never overwrite a state the
 * worker wrote (the worker's own transitions are conditional too).
 */
export class JobTable {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    private readonly tableName: string,
    client: DynamoDBClient = new DynamoDBClient({}),
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  /**
   * Writes a new record; false when a record with this id already exists (an idempotent repeat, or this put's own
   * earlier attempt that timed out after DynamoDB applied it: the caller tells them apart by the record's createdAt).
   * Throws JOB_STATE_UNKNOWN when the put may or may not have been applied.
   */
  async putNew(record: JobRecord, signal?: AbortSignal): Promise<boolean> {
    assertTimeLeft(signal, 'put the job record');
    try {
      await this.doc.send(
        new PutCommand({ TableName: this.tableName, Item: record, ConditionExpression: 'attribute_not_exists(#id)', ExpressionAttributeNames: { '#id': TABLE_SCHEMA.partitionKey } }),
        callOptions(signal),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw writeError('put the job record', error);
    }
  }

  /** The record, read consistently, or undefined. */
  async get(jobId: string, signal?: AbortSignal): Promise<JobRecord | undefined> {
    let item: Record<string, unknown> | undefined;
    try {
      const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { [TABLE_SCHEMA.partitionKey]: jobId }, ConsistentRead: true }), callOptions(signal));
      item = out.Item;
    } catch (error) {
      throw readError('read the job record', error);
    }
    return item === undefined ? undefined : parseRecord(item);
  }

  /** Records by id, read consistently (BatchGetItem, 100 keys a call); missing ones are left out. */
  async getMany(jobIds: readonly string[], signal?: AbortSignal): Promise<Map<string, JobRecord>> {
    const found = new Map<string, JobRecord>();
    for (let start = 0; start < jobIds.length; start += 100) {
      let keys: Record<string, unknown>[] | undefined = jobIds.slice(start, start + 100).map((jobId) => ({ [TABLE_SCHEMA.partitionKey]: jobId }));
      for (let round = 0; keys !== undefined && keys.length > 0; round++) {
        if (round > 0) await new Promise((r) => setTimeout(r, Math.min(1_000, 50 * 2 ** round)));
        let out: BatchGetCommandOutput;
        try {
          out = await this.doc.send(new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } } }), callOptions(signal));
        } catch (error) {
          throw readError('read the job records', error);
        }
        for (const item of out.Responses?.[this.tableName] ?? []) {
          const record = parseRecord(item);
          found.set(record.jobId, record);
        }
        keys = out.UnprocessedKeys?.[this.tableName]?.Keys;
      }
    }
    return found;
  }

  /** A page of one tenant's jobs, newest first, through the `byTenant` index. */
  async listByTenant(tenantId: string, limit: number, startKey?: TenantPageKey, signal?: AbortSignal): Promise<JobPage> {
    const index = TABLE_SCHEMA.tenantIndex;
    try {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: index.name,
          KeyConditionExpression: '#t = :t',
          ExpressionAttributeNames: { '#t': index.partitionKey },
          ExpressionAttributeValues: { ':t': tenantId },
          ScanIndexForward: false,
          Limit: limit,
          ...(startKey === undefined ? {} : { ExclusiveStartKey: { ...startKey } }),
        }),
        callOptions(signal),
      );
      const last = out.LastEvaluatedKey as TenantPageKey | undefined;
      return {
        jobs: (out.Items ?? []).map(parseIndexItem),
        lastKey: last === undefined ? undefined : { jobId: last.jobId, tenantId: last.tenantId, createdAt: last.createdAt },
      };
    } catch (error) {
      if (error instanceof ApiError) throw error;
      throw readError('list jobs', error);
    }
  }

  /**
   * Up to `limit` jobs of one outbox shard (`pending#<n>`, see pendingShardKeys) that became pending at or before
   * `cutoffMs`, oldest first, through the sparse pending index. The index is eventually consistent and projects keys
   * only: read the record itself before acting on it.
   */
  async listEnqueuePending(shard: string, cutoffMs: number, limit: number, startKey?: PendingPageKey): Promise<PendingPage> {
    const index = TABLE_SCHEMA.pendingIndex;
    try {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: index.name,
          KeyConditionExpression: '#p = :p AND #since <= :cutoff',
          ExpressionAttributeNames: { '#p': index.partitionKey, '#since': index.sortKey },
          ExpressionAttributeValues: { ':p': shard, ':cutoff': cutoffMs },
          ScanIndexForward: true,
          Limit: limit,
          ...(startKey === undefined ? {} : { ExclusiveStartKey: { ...startKey } }),
        }),
      );
      const last = out.LastEvaluatedKey as PendingPageKey | undefined;
      return {
        pending: (out.Items ?? []).map((item) => ({ jobId: String(item.jobId), enqueuePendingSince: Number(item.enqueuePendingSince) })),
        lastKey: last === undefined ? undefined : { jobId: last.jobId, enqueuePending: last.enqueuePending, enqueuePendingSince: last.enqueuePendingSince },
      };
    } catch (error) {
      throw readError('list jobs pending enqueue', error);
    }
  }

  /**
   * Takes the job out of the pending index once its message is sent (or it no longer needs one). With `sinceMs`,
   * only if it is still the same pending mark, so a newer mark (a re-queue after ENQUEUE_FAILED) is kept.
   * False when the record is gone or the mark changed.
   */
  async clearEnqueuePending(jobId: string, sinceMs?: number, signal?: AbortSignal): Promise<boolean> {
    const index = TABLE_SCHEMA.pendingIndex;
    const updated = await this.transition(
      jobId,
      {
        UpdateExpression: 'REMOVE #p, #since',
        ConditionExpression: sinceMs === undefined ? 'attribute_exists(#id)' : 'attribute_exists(#id) AND #since = :since',
        ExpressionAttributeNames: { '#id': TABLE_SCHEMA.partitionKey, '#p': index.partitionKey, '#since': index.sortKey },
        ...(sinceMs === undefined ? {} : { ExpressionAttributeValues: { ':since': sinceMs } }),
      },
      signal,
    );
    return updated !== undefined;
  }

  /**
   * QUEUED → CANCELED for this tenant's job, with `finishedAt = nowIso`; undefined when the job is not this tenant's or
   * not QUEUED (or when an earlier attempt of this update applied it: then the record's finishedAt is `nowIso`).
   */
  async cancelQueued(tenantId: string, jobId: string, nowIso: string, signal?: AbortSignal): Promise<JobRecord | undefined> {
    return await this.transition(
      jobId,
      {
        UpdateExpression: 'SET #s = :canceled, finishedAt = :now',
        ConditionExpression: 'tenantId = :tenant AND #s = :queued',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':canceled': 'CANCELED', ':now': nowIso, ':tenant': tenantId, ':queued': 'QUEUED' },
      },
      signal,
    );
  }

  /**
   * An album or a video, QUEUED or RUNNING → CANCELED, out of the outbox (the parent sweeper's watch). Its children
   * not started yet are skipped by the worker when their message comes (they see the parent ended).
   */
  async cancelParent(tenantId: string, jobId: string, nowIso: string, signal?: AbortSignal): Promise<JobRecord | undefined> {
    const index = TABLE_SCHEMA.pendingIndex;
    return await this.transition(
      jobId,
      {
        UpdateExpression: 'SET #s = :canceled, finishedAt = :now REMOVE #p, #since, leaseOwner, leaseExpiresAt',
        ConditionExpression: 'tenantId = :tenant AND (#s = :queued OR #s = :running) AND (kind = :album OR kind = :video)',
        ExpressionAttributeNames: { '#s': 'status', '#p': index.partitionKey, '#since': index.sortKey },
        ExpressionAttributeValues: { ':canceled': 'CANCELED', ':now': nowIso, ':tenant': tenantId, ':queued': 'QUEUED', ':running': 'RUNNING', ':album': 'album', ':video': 'video' },
      },
      signal,
    );
  }

  /** Moves an open parent's outbox mark to `nowMs` (the parent sweeper looked at it), if it is still `sinceMs`. */
  async touchParentPending(jobId: string, sinceMs: number, nowMs: number): Promise<boolean> {
    const index = TABLE_SCHEMA.pendingIndex;
    const updated = await this.transition(
      jobId,
      {
        UpdateExpression: 'SET #since = :now',
        ConditionExpression: 'attribute_exists(#p) AND #since = :since',
        ExpressionAttributeNames: { '#p': index.partitionKey, '#since': index.sortKey },
        ExpressionAttributeValues: { ':since': sinceMs, ':now': nowMs },
      },
      undefined,
    );
    return updated !== undefined;
  }

  /**
   * QUEUED → FAILED ENQUEUE_FAILED after the message could not be sent. Conditional on `attempts = 0`, so a worker
   * that somehow got the message anyway is never overruled. Leaves the pending index too: the sweeper must not
   * resend a job the caller was told failed.
   */
  async markEnqueueFailed(jobId: string, message: string, nowIso: string, signal?: AbortSignal): Promise<JobRecord | undefined> {
    const index = TABLE_SCHEMA.pendingIndex;
    return await this.transition(
      jobId,
      {
        UpdateExpression: 'SET #s = :failed, errorCode = :code, errorMessage = :message, finishedAt = :now REMOVE #p, #since',
        ConditionExpression: '#s = :queued AND attempts = :zero',
        ExpressionAttributeNames: { '#s': 'status', '#p': index.partitionKey, '#since': index.sortKey },
        ExpressionAttributeValues: { ':failed': 'FAILED', ':code': 'ENQUEUE_FAILED', ':message': message, ':now': nowIso, ':queued': 'QUEUED', ':zero': 0 },
      },
      signal,
    );
  }

  /**
   * FAILED ENQUEUE_FAILED → QUEUED, when the caller retries with the same Idempotency-Key; pending enqueue again from
   * `nowMs`, so a crash before this retry's send is swept like a first one.
   */
  async requeueAfterEnqueueFailure(jobId: string, nowMs: number, signal?: AbortSignal): Promise<JobRecord | undefined> {
    const index = TABLE_SCHEMA.pendingIndex;
    return await this.transition(
      jobId,
      {
        UpdateExpression: 'SET #s = :queued, #p = :pending, #since = :since REMOVE errorCode, errorMessage, finishedAt',
        ConditionExpression: '#s = :failed AND errorCode = :code',
        ExpressionAttributeNames: { '#s': 'status', '#p': index.partitionKey, '#since': index.sortKey },
        ExpressionAttributeValues: { ':queued': 'QUEUED', ':failed': 'FAILED', ':code': 'ENQUEUE_FAILED', ':pending': pendingShardKey(jobId), ':since': nowMs },
      },
      signal,
    );
  }

  destroy(): void {
    this.doc.destroy();
  }

  /**
   * A conditional update; undefined when its condition failed. Throws JOB_STATE_UNKNOWN when it may or may not have
   * been applied. With the SDK's retries, a first attempt that DynamoDB applied but that timed out makes the second
   * attempt's condition fail: callers that must know read the record again.
   */
  private async transition(
    jobId: string,
    update: Pick<ConstructorParameters<typeof UpdateCommand>[0], 'UpdateExpression' | 'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'>,
    signal: AbortSignal | undefined,
  ): Promise<JobRecord | undefined> {
    assertTimeLeft(signal, 'update the job record');
    let attributes: Record<string, unknown> | undefined;
    try {
      const out = await this.doc.send(
        new UpdateCommand({ TableName: this.tableName, Key: { [TABLE_SCHEMA.partitionKey]: jobId }, ReturnValues: 'ALL_NEW', ...update }),
        callOptions(signal),
      );
      attributes = out.Attributes;
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw writeError('update the job record', error);
    }
    return attributes === undefined ? undefined : parseRecord(attributes);
  }
}

/** Records are written by two programs; a record that breaks the contract is a bug worth a clear 500. */
function parseRecord(item: Record<string, unknown>): JobRecord {
  const parsed = jobRecordSchema.safeParse(item);
  if (!parsed.success) {
    throw new ServiceError(500, 'INTERNAL', `Job record ${String(item.jobId)} does not match the contract: ${parsed.error.message}`, { cause: parsed.error });
  }
  return parsed.data;
}

function parseIndexItem(item: Record<string, unknown>): TenantIndexItem {
  const parsed = tenantIndexItemSchema.safeParse(item);
  if (!parsed.success) {
    throw new ServiceError(500, 'INTERNAL', `Index item of job ${String(item.jobId)} does not match the contract: ${parsed.error.message}`, { cause: parsed.error });
  }
  return parsed.data;
}

/** A read that failed or ran out of time: nothing was changed, the same request may pass later. */
function readError(action: string, error: unknown): ServiceError {
  return new ServiceError(503, 'SERVICE_UNAVAILABLE', `Could not ${action} (${describeSdkError(error)}); nothing was changed. Retry later.`, {
    cause: error,
    headers: { 'retry-after': '1' },
  });
}

/**
 * A write that failed without a "no": a timeout, the request's deadline, a dropped connection or a 5xx may each come
 * after DynamoDB applied it (a stalled table applies what it had received once it runs again), so its outcome is unknown.
 */
function writeError(action: string, error: unknown): ServiceError {
  return new ServiceError(503, 'JOB_STATE_UNKNOWN', `Could not ${action} (${describeSdkError(error)}); it may or may not have been applied.`, {
    cause: error,
    headers: { 'retry-after': '1' },
  });
}

/** A write is never started once the request's deadline has passed: its outcome would be unknown for no reason. */
function assertTimeLeft(signal: AbortSignal | undefined, action: string): void {
  if (signal?.aborted) {
    throw new ServiceError(503, 'SERVICE_UNAVAILABLE', `Could not ${action}: the request ran out of time; nothing was changed. Retry later.`, {
      cause: signal.reason,
      headers: { 'retry-after': '1' },
    });
  }
}

/** The table from the API's environment (a Lambda entry's or the local server's). */
export function jobTableFromEnv(env: NodeJS.ProcessEnv, config: ApiConfig): JobTable {
  return new JobTable(config.REVIVE_TABLE_NAME, new DynamoDBClient(sdkOptions(env, env.AWS_ENDPOINT_URL_DYNAMODB)));
}
