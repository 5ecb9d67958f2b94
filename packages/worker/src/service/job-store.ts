import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, type BatchGetCommandOutput, DynamoDBDocumentClient, GetCommand, PutCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { pendingShardKey, TABLE_SCHEMA, type FaceSummary, type JobErrorCode, type JobRecord, type JobStatus, type StageTimings, type WebhookDelivery } from '@revive/contract';
import { awsErrorName, toStorageError } from './aws-errors.js';

/** What a successful job writes into its record. */
export interface JobSuccess {
  readonly resultKey: string;
  /** Absent for an album (a ZIP) . */
  readonly resultWidth?: number;
  readonly resultHeight?: number;
  /** The restored faces' count (kept for existing readers; equals `facesRestored`). */
  readonly facesFound: number;
  /** Every face detected, restored or not. */
  readonly facesDetected: number;
  /** Faces restored: at most the job's maxFaces. */
  readonly facesRestored: number;
  readonly faces: readonly FaceSummary[];
  readonly timingsMs: StageTimings;
  readonly finishedAt: Date;
  /** Epoch seconds (the table's TTL attribute). */
  readonly expiresAt: number;
}

export interface JobFailure {
  readonly code: JobErrorCode;
  readonly message: string;
  /** What a failed job still delivers: a partly failed album's ZIP of the photos that succeeded. */
  readonly resultKey?: string;
  readonly finishedAt: Date;
  readonly expiresAt: number;
}

/** Outcome of a claim: the claimed record, or why not. */
export type ClaimResult =
  | { readonly claimed: true; readonly record: JobRecord }
  | { readonly claimed: false; readonly record: JobRecord | undefined };

/** How a child ended, as its parent counts it. */
export type ChildEnd = Extract<JobStatus, 'SUCCEEDED' | 'FAILED' | 'CANCELED'>;
const CHILD_COUNTERS: Record<ChildEnd, string> = { SUCCEEDED: 'childrenSucceeded', FAILED: 'childrenFailed', CANCELED: 'childrenCanceled' };
/** BatchGetItem's limit of keys per call. */
const BATCH_GET_KEYS = 100;

/** The outbox index's attributes: a parent carries them until it ends (the parent sweeper's watch). */
const PENDING_MARK = `${TABLE_SCHEMA.pendingIndex.partitionKey}, ${TABLE_SCHEMA.pendingIndex.sortKey}`;

/** Error messages are capped so a pathological reason cannot push the item past DynamoDB's 400 KB. */
const MAX_ERROR_MESSAGE_CHARS = 2_000;

/**
 * The jobs table. Every status change is an UpdateItem with a ConditionExpression, so that two workers holding
 * the same (redelivered) message can never both own a job, and a finished record is never written over.
 */
export class JobStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    private readonly tableName: string,
    client: DynamoDBClient = new DynamoDBClient({}),
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  /** Strongly consistent read: the API's conditional put is visible at once. */
  async get(jobId: string): Promise<JobRecord | undefined> {
    try {
      const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { jobId }, ConsistentRead: true }));
      return out.Item as JobRecord | undefined;
    } catch (error) {
      throw toStorageError(error, 'DynamoDB GetItem');
    }
  }

  /**
   * QUEUED → RUNNING, or takes over a RUNNING job whose lease has expired; attempts + 1 either way.
   * The record must belong to `tenantId`, so a forged message cannot run another tenant's job.
   *
   * A terminal job (SUCCEEDED, FAILED, CANCELED) is never claimed, whatever its code: a job ends once, and its one
   * webhook has been sent (or is being retried) for that end. A message redriven or redelivered for it is deleted by
   * the caller. Running it again would give the client a second end and a second webhook.
   */
  async claim(jobId: string, tenantId: string, owner: string, now: Date, leaseMs: number, options: { readonly keepStartedAt?: boolean } = {}): Promise<ClaimResult> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { jobId },
          UpdateExpression:
            `SET #status = :running, attempts = if_not_exists(attempts, :zero) + :one, leaseOwner = :owner, leaseExpiresAt = :lease, startedAt = ${options.keepStartedAt === true ? 'if_not_exists(startedAt, :now)' : ':now'} REMOVE errorCode, errorMessage, finishedAt`,
          ConditionExpression:
            'attribute_exists(jobId) AND tenantId = :tenant AND (#status = :queued OR (#status = :running AND (attribute_not_exists(leaseExpiresAt) OR leaseExpiresAt < :nowMs)))',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':running': 'RUNNING',
            ':queued': 'QUEUED',
            ':zero': 0,
            ':one': 1,
            ':owner': owner,
            ':lease': now.getTime() + leaseMs,
            ':now': now.toISOString(),
            ':nowMs': now.getTime(),
            ':tenant': tenantId,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { claimed: true, record: out.Attributes as JobRecord };
    } catch (error) {
      if (awsErrorName(error) === 'ConditionalCheckFailedException') return { claimed: false, record: await this.get(jobId) };
      throw toStorageError(error, 'DynamoDB UpdateItem (claim)');
    }
  }

  /** Extends the lease; false when this worker no longer owns the job (it was taken over or finished). */
  async renewLease(jobId: string, owner: string, leaseExpiresAt: number): Promise<boolean> {
    return await this.ownedUpdate(jobId, owner, 'SET leaseExpiresAt = :lease', { ':lease': leaseExpiresAt }, 'renew lease');
  }

  /** Gives the job up (shutdown, transient failure): the lease expires now, so the next delivery takes it over at once. */
  async releaseLease(jobId: string, owner: string): Promise<boolean> {
    return await this.ownedUpdate(jobId, owner, 'SET leaseExpiresAt = :zero REMOVE leaseOwner', { ':zero': 0 }, 'release lease');
  }

  /** RUNNING → SUCCEEDED, only by the lease owner. */
  async succeed(jobId: string, owner: string, result: JobSuccess): Promise<boolean> {
    const size = result.resultWidth !== undefined && result.resultHeight !== undefined;
    // A parent leaves the outbox index (the parent sweeper's watch) when it ends; for a photo the mark is long gone.
    return await this.ownedUpdate(
      jobId,
      owner,
      `SET #status = :succeeded, resultKey = :key, ${size ? 'resultWidth = :w, resultHeight = :h, ' : ''}facesFound = :faces, facesDetected = :detected, facesRestored = :restored, faces = :facesList, timingsMs = :timings, finishedAt = :finished, expiresAt = :expires REMOVE leaseOwner, leaseExpiresAt, errorCode, errorMessage, ${PENDING_MARK}`,
      {
        ':succeeded': 'SUCCEEDED',
        ':key': result.resultKey,
        ...(size && { ':w': result.resultWidth, ':h': result.resultHeight }),
        ':faces': result.facesFound,
        ':detected': result.facesDetected,
        ':restored': result.facesRestored,
        ':facesList': result.faces,
        ':timings': result.timingsMs,
        ':finished': result.finishedAt.toISOString(),
        ':expires': result.expiresAt,
      },
      'succeed',
    );
  }

  /** RUNNING → FAILED, only by the lease owner. */
  async fail(jobId: string, owner: string, failure: JobFailure): Promise<boolean> {
    return await this.ownedUpdate(
      jobId,
      owner,
      `SET #status = :failed, errorCode = :code, errorMessage = :message, finishedAt = :finished, expiresAt = :expires${failure.resultKey === undefined ? '' : ', resultKey = :key'} REMOVE leaseOwner, leaseExpiresAt, ${PENDING_MARK}`,
      {
        ...(failure.resultKey !== undefined && { ':key': failure.resultKey }),
        ':failed': 'FAILED',
        ':code': failure.code,
        ':message': failure.message.slice(0, MAX_ERROR_MESSAGE_CHARS),
        ':finished': failure.finishedAt.toISOString(),
        ':expires': failure.expiresAt,
      },
      'fail',
    );
  }

  /**
   * QUEUED (or RUNNING with an expired lease) → FAILED without a claim: for a message that can't be run at all
   * (its body is invalid) but still names its job. Never touches another tenant's record or a live lease.
   */
  async failUnclaimed(jobId: string, tenantId: string, now: Date, failure: JobFailure): Promise<boolean> {
    return (await this.failUnheld(jobId, tenantId, now, failure, 'fail unclaimed')) !== undefined;
  }

  /**
   * Writes where the job's webhook stands; a record that is gone (TTL) is left alone. With `expectedAttempts`, only while
   * the record says DELIVERING after exactly that many attempts: a durable retry's step, which a duplicate or late
   * message must not repeat or overwrite. False when the condition did not hold.
   */
  async recordWebhookDelivery(jobId: string, delivery: WebhookDelivery, expectedAttempts?: number): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { jobId },
          UpdateExpression: 'SET webhookDelivery = :delivery',
          ConditionExpression:
            expectedAttempts === undefined ? 'attribute_exists(jobId)' : 'attribute_exists(jobId) AND webhookDelivery.#ds = :delivering AND webhookDelivery.attempts = :expected',
          ExpressionAttributeValues: { ':delivery': delivery, ...(expectedAttempts !== undefined && { ':delivering': 'DELIVERING', ':expected': expectedAttempts }) },
          ...(expectedAttempts !== undefined && { ExpressionAttributeNames: { '#ds': 'status' } }),
        }),
      );
      return true;
    } catch (error) {
      if (awsErrorName(error) === 'ConditionalCheckFailedException') return false;
      throw toStorageError(error, 'DynamoDB UpdateItem (webhook delivery)');
    }
  }

  /**
   * Notes that the retry message for `attempt` was sent, while the record is still DELIVERING after attempt − 1 POSTs.
   * False when the record moved on (nothing written).
   */
  async markWebhookRetryScheduled(jobId: string, attempt: number): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { jobId },
          UpdateExpression: 'SET webhookDelivery.retryScheduledFor = :attempt',
          ConditionExpression: 'attribute_exists(jobId) AND webhookDelivery.#ds = :delivering AND webhookDelivery.attempts = :made',
          ExpressionAttributeNames: { '#ds': 'status' },
          ExpressionAttributeValues: { ':attempt': attempt, ':delivering': 'DELIVERING', ':made': attempt - 1 },
        }),
      );
      return true;
    } catch (error) {
      if (awsErrorName(error) === 'ConditionalCheckFailedException') return false;
      throw toStorageError(error, 'DynamoDB UpdateItem (webhook retry scheduled)');
    }
  }

  /**
   * A dead-lettered message's job → FAILED DEAD_LETTERED, unless it already ended or a live lease holds it (a worker
   * still running it will write its own outcome). Returns the FAILED record, or undefined when nothing was changed.
   */
  async failDeadLettered(jobId: string, tenantId: string, now: Date, failure: JobFailure): Promise<JobRecord | undefined> {
    return await this.failUnheld(jobId, tenantId, now, failure, 'dead-lettered');
  }

  /**
   * The tenant's job → FAILED, only while it is QUEUED or RUNNING without a live lease. Returns the FAILED record, or
   * undefined when the condition did not hold.
   */
  private async failUnheld(jobId: string, tenantId: string, now: Date, failure: JobFailure, what: string): Promise<JobRecord | undefined> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { jobId },
          UpdateExpression: 'SET #status = :failed, errorCode = :code, errorMessage = :message, finishedAt = :finished, expiresAt = :expires REMOVE leaseOwner, leaseExpiresAt',
          ConditionExpression:
            'attribute_exists(jobId) AND tenantId = :tenant AND (#status = :queued OR (#status = :running AND (attribute_not_exists(leaseExpiresAt) OR leaseExpiresAt < :nowMs)))',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':failed': 'FAILED',
            ':queued': 'QUEUED',
            ':running': 'RUNNING',
            ':code': failure.code,
            ':message': failure.message.slice(0, MAX_ERROR_MESSAGE_CHARS),
            ':finished': failure.finishedAt.toISOString(),
            ':expires': failure.expiresAt,
            ':tenant': tenantId,
            ':nowMs': now.getTime(),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return out.Attributes as JobRecord;
    } catch (error) {
      if (awsErrorName(error) === 'ConditionalCheckFailedException') return undefined;
      throw toStorageError(error, `DynamoDB UpdateItem (${what})`);
    }
  }

  /**
   * RUNNING → CANCELED by the lease owner: a child claimed after its parent ended (canceled, or failed by another
   * child), skipped without running.
   */
  async cancelClaimed(jobId: string, owner: string, finishedAt: Date, expiresAt: number): Promise<boolean> {
    return await this.ownedUpdate(jobId, owner, `SET #status = :canceled, finishedAt = :finished, expiresAt = :expires REMOVE leaseOwner, leaseExpiresAt, ${PENDING_MARK}`, { ':canceled': 'CANCELED', ':finished': finishedAt.toISOString(), ':expires': expiresAt }, 'cancel claimed');
  }

  /** A parent's first child started: QUEUED → RUNNING (a no-op once it is RUNNING or ended). */
  async markParentRunning(parentJobId: string, now: Date): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { jobId: parentJobId },
          UpdateExpression: 'SET #status = :running, startedAt = :now',
          ConditionExpression: '#status = :queued',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':running': 'RUNNING', ':queued': 'QUEUED', ':now': now.toISOString() },
        }),
      );
    } catch (error) {
      if (awsErrorName(error) === 'ConditionalCheckFailedException') return;
      throw toStorageError(error, 'DynamoDB UpdateItem (parent running)');
    }
  }

  /**
   * Counts a child's end on its parent, exactly once: one transaction marks the child counted (only while it has that
   * end and was not counted yet) and adds it to the parent's counter (and its frames to the parent's), and moves the
   * parent's mark in the outbox index, so the parent sweeper only looks at parents whose children stopped ending.
   * False when it was counted before (a redelivery, the sweeper's recount) or the parent is gone.
   */
  async countChildEnd(child: { readonly jobId: string; readonly parentJobId: string }, end: ChildEnd, frames: number, now: Date): Promise<boolean> {
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.tableName,
                Key: { jobId: child.jobId },
                UpdateExpression: 'SET countedOnParent = :true',
                ConditionExpression: '#status = :end AND parentJobId = :parent AND attribute_not_exists(countedOnParent)',
                ExpressionAttributeNames: { '#status': 'status' },
                ExpressionAttributeValues: { ':true': true, ':end': end, ':parent': child.parentJobId },
              },
            },
            {
              Update: {
                TableName: this.tableName,
                Key: { jobId: child.parentJobId },
                UpdateExpression: `ADD ${CHILD_COUNTERS[end]} :one, framesDone :frames SET #since = :now`,
                ConditionExpression: 'attribute_exists(jobId)',
                ExpressionAttributeNames: { '#since': TABLE_SCHEMA.pendingIndex.sortKey },
                ExpressionAttributeValues: { ':one': 1, ':frames': frames, ':now': now.getTime() },
              },
            },
          ],
        }),
      );
      return true;
    } catch (error) {
      if (awsErrorName(error) === 'TransactionCanceledException') {
        const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
        // A condition that failed is an answer (counted already, or no parent); a conflict with another transaction is not.
        if (reasons.some((r) => r.Code === 'ConditionalCheckFailed') && !reasons.some((r) => r.Code === 'TransactionConflict')) return false;
      }
      throw toStorageError(error, 'DynamoDB TransactWriteItems (count child)');
    }
  }

  /** Strongly consistent reads of many records (missing ones are left out), in BatchGetItem's pages. */
  async getMany(jobIds: readonly string[]): Promise<Map<string, JobRecord>> {
    const found = new Map<string, JobRecord>();
    for (let start = 0; start < jobIds.length; start += BATCH_GET_KEYS) {
      let keys: Record<string, unknown>[] | undefined = jobIds.slice(start, start + BATCH_GET_KEYS).map((jobId) => ({ jobId }));
      for (let round = 0; keys !== undefined && keys.length > 0; round++) {
        if (round > 0) await new Promise((r) => setTimeout(r, Math.min(1_000, 50 * 2 ** round)));
        try {
          const out: BatchGetCommandOutput = await this.doc.send(new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } } }));
          for (const item of out.Responses?.[this.tableName] ?? []) found.set((item as JobRecord).jobId, item as JobRecord);
          keys = out.UnprocessedKeys?.[this.tableName]?.Keys;
        } catch (error) {
          throw toStorageError(error, 'DynamoDB BatchGetItem');
        }
      }
    }
    return found;
  }

  /** Writes a child record unless it exists (a retried fan-out writes the same children); false when it did. */
  async putChild(record: JobRecord): Promise<boolean> {
    try {
      await this.doc.send(new PutCommand({ TableName: this.tableName, Item: record, ConditionExpression: 'attribute_not_exists(jobId)' }));
      return true;
    } catch (error) {
      if (awsErrorName(error) === 'ConditionalCheckFailedException') return false;
      throw toStorageError(error, 'DynamoDB PutItem (child)');
    }
  }

  /** A video's plan, by the lease owner: its segments and frames, once they are written and sent. */
  async setPlan(jobId: string, owner: string, plan: { readonly childrenTotal: number; readonly framesTotal: number }, now: Date): Promise<boolean> {
    // Back in the outbox index, as the parent sweeper's watch, until the video ends.
    return await this.ownedUpdate(
      jobId,
      owner,
      'SET childrenTotal = :total, framesTotal = :frames, childrenSucceeded = if_not_exists(childrenSucceeded, :zero), childrenFailed = if_not_exists(childrenFailed, :zero), childrenCanceled = if_not_exists(childrenCanceled, :zero), framesDone = if_not_exists(framesDone, :zero), #p = :shard, #since = :now',
      { ':total': plan.childrenTotal, ':frames': plan.framesTotal, ':zero': 0, ':shard': pendingShardKey(jobId), ':now': now.getTime() },
      'set plan',
      { '#p': TABLE_SCHEMA.pendingIndex.partitionKey, '#since': TABLE_SCHEMA.pendingIndex.sortKey },
    );
  }

  /** Takes a child out of the outbox once its message is sent (it was put there in case the sender died first). */
  async clearPending(jobId: string): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { jobId },
          UpdateExpression: `REMOVE ${PENDING_MARK}`,
          ConditionExpression: 'attribute_exists(jobId)',
        }),
      );
    } catch (error) {
      if (awsErrorName(error) === 'ConditionalCheckFailedException') return;
      throw toStorageError(error, 'DynamoDB UpdateItem (clear pending)');
    }
  }

  private async ownedUpdate(jobId: string, owner: string, update: string, values: Record<string, unknown>, what: string, names: Record<string, string> = {}): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { jobId },
          UpdateExpression: update,
          ConditionExpression: '#status = :runningState AND leaseOwner = :owner',
          ExpressionAttributeNames: { '#status': 'status', ...names },
          ExpressionAttributeValues: { ...values, ':runningState': 'RUNNING', ':owner': owner },
        }),
      );
      return true;
    } catch (error) {
      if (awsErrorName(error) === 'ConditionalCheckFailedException') return false;
      throw toStorageError(error, `DynamoDB UpdateItem (${what})`);
    }
  }
}
