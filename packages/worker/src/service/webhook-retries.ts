// Durable webhook retries. The process that ends a job (the worker, or the DLQ consumer) makes a few quick attempts;
// if they leave the webhook undelivered and retrying may help, the job record says DELIVERING (with the next attempt's
// time) and a message goes to the webhook-retry queue, delayed. Each retry is one POST by whoever consumes that queue
// (a Lambda in AWS, an in-process consumer under `pnpm start`), which records the outcome and, if needed, schedules the
// next one, until the schedule (DEFAULT_WEBHOOK_RETRY_DELAYS_SECONDS, about a day) runs out. Nothing of it lives in
// the worker's memory, so retries survive the worker scaling to zero, a restart or a deploy.
//
// SQS delays a message at most 15 minutes: a longer wait is done in hops, each message carrying its `notBefore` and
// re-sent, delayed again, until it is due. Every step is conditional on the record (status DELIVERING and the number of
// attempts so far), so a duplicate or late message never posts after a final state, nor records twice. Delivery is
// at least once, as with every webhook sender: a receiver dedupes on the webhook-id header, which every attempt of a
// job's delivery shares (webhookMessageId: from the job id and the event, so no process needs to remember it).
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { deliversOutput, jobIdSchema, jobResponseFromRecord, tenantIdSchema, webhookEvent, webhookMessageId, webhookSecretSchema, type JobRecord, type WebhookDelivery, urlDenyEndpointsSchema } from '@revive/contract';
import { z } from 'zod';
import { describeThrown } from '@revive/pipeline/errors';
import { toStorageError } from './aws-errors.js';
import { JobStore } from './job-store.js';
import { ObjectStore } from './object-store.js';
import { SafeHttpClient } from './source-fetch.js';
import { Telemetry } from './telemetry.js';
import { DEFAULT_WEBHOOK_RETRY_DELAYS_SECONDS, webhookRetryDelaySeconds, WebhookSender, type WebhookMessage, type WebhookOutcome } from './webhook.js';

/** SQS's longest DelaySeconds; longer waits are re-sent until due. @default 900 */
export const MAX_SQS_DELAY_SECONDS = 900;
/** Lifetime of the presigned result URL in a webhook. @default 3_600 */
export const DEFAULT_WEBHOOK_RESULT_URL_TTL_SECONDS = 3_600;
/** Longest error text kept on the record. */
const MAX_DELIVERY_ERROR_CHARS = 500;

/** One scheduled retry: the body of a webhook-retry queue message. */
export const webhookRetryMessageSchema = z.strictObject({
  version: z.literal(1),
  jobId: jobIdSchema,
  tenantId: tenantIdSchema,
  /** The attempt this message is for, counting every POST (quick ones included) from 1. */
  attempt: z.number().int().min(1),
  /** Index of this retry in the durable schedule (retryDelaysSeconds), from 0. */
  retry: z.number().int().min(0),
  /** Not to be attempted before this time (a wait longer than SQS's 15-minute delay is made in hops). */
  notBefore: z.iso.datetime(),
});
export type WebhookRetryMessage = z.infer<typeof webhookRetryMessageSchema>;

/** The webhook-retry queue (SQS adapter). */
export class WebhookRetryQueue {
  /**
   * @param maxDelaySeconds the longest delay one message is given; a longer wait is made in hops (the message's
   * `notBefore` says when it is due). @default MAX_SQS_DELAY_SECONDS
   */
  constructor(
    readonly queueUrl: string,
    private readonly sqs: SQSClient,
    private readonly maxDelaySeconds: number = MAX_SQS_DELAY_SECONDS,
  ) {}

  /** Sends `message`, hidden for `delaySeconds`, or for maxDelaySeconds when that is shorter. */
  async send(message: WebhookRetryMessage, delaySeconds: number): Promise<void> {
    const delay = Math.max(0, Math.min(this.maxDelaySeconds, MAX_SQS_DELAY_SECONDS, Math.ceil(delaySeconds)));
    try {
      await this.sqs.send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify(message), DelaySeconds: delay }));
    } catch (error) {
      throw toStorageError(error, 'SQS SendMessage (webhook retry)');
    }
  }
}

/** The schedule, injectable so tests run it in seconds. */
export interface WebhookScheduleOptions {
  /** Delays of the durable retries, each from the attempt before. @default DEFAULT_WEBHOOK_RETRY_DELAYS_SECONDS */
  readonly retryDelaysSeconds?: readonly number[];
  /** Longest delay one queue message is given (WebhookRetryQueue); past it the message is re-sent. @default MAX_SQS_DELAY_SECONDS */
  readonly maxQueueDelaySeconds?: number;
  /** Jitter source. @default Math.random */
  readonly random?: () => number;
}

export interface WebhookDispatcherDeps {
  readonly sender: WebhookSender;
  readonly store: JobStore;
  /** Without it (no REVIVE_WEBHOOK_RETRY_QUEUE_URL) the quick attempts are all: then FAILED. */
  readonly retries: WebhookRetryQueue | undefined;
  readonly telemetry: Telemetry;
}

/** The job as its webhook carries it: GET /jobs/{id}'s JSON, with a fresh presigned result URL when it SUCCEEDED. */
export async function webhookPayload(record: JobRecord, objects: Pick<ObjectStore, 'presignResult'> | undefined, ttlSeconds = DEFAULT_WEBHOOK_RESULT_URL_TTL_SECONDS): Promise<unknown> {
  const resultUrl =
    deliversOutput(record) && record.resultKey && objects ? await objects.presignResult(record.resultKey, ttlSeconds).catch(() => undefined) : undefined;
  return jobResponseFromRecord(record, { ...(resultUrl !== undefined && { resultUrl, resultUrlExpiresAt: new Date(Date.now() + ttlSeconds * 1000) }) });
}

/** A finished job's delivery; the same id whichever process makes the attempt. */
function webhookMessage(record: JobRecord, payload: unknown): WebhookMessage {
  const event = webhookEvent(record.status);
  return { id: webhookMessageId(record.jobId, event), event, payload };
}

/**
 * Delivers a finished job's webhook: the quick attempts, then the durable schedule. Records every step on the job
 * (webhookDelivery), so GET /jobs/{id} shows where it stands. Never throws: a webhook never fails a job.
 */
export class WebhookDispatcher {
  private readonly delays: readonly number[];
  private readonly random: () => number;

  constructor(
    private readonly deps: WebhookDispatcherDeps,
    options: WebhookScheduleOptions = {},
  ) {
    this.delays = options.retryDelaysSeconds ?? DEFAULT_WEBHOOK_RETRY_DELAYS_SECONDS;
    this.random = options.random ?? Math.random;
  }

  private get log() {
    return this.deps.telemetry.logger;
  }

  /** The quick attempts for a job that just ended, then the first durable retry if they did not settle it. */
  async deliver(record: JobRecord, payload: unknown): Promise<void> {
    if (!record.webhookUrl) return;
    try {
      const outcome = await this.deps.sender.send(record.webhookUrl, webhookMessage(record, payload));
      await this.settle(record, outcome, outcome.attempts, 0, undefined);
    } catch (error) {
      this.log.warn('could not record the webhook outcome', { jobId: record.jobId, error: describeThrown(error) });
    }
  }

  /**
   * One durable retry (`message` is due and the record is DELIVERING with attempt − 1 attempts). False when the record
   * moved on meanwhile (a duplicate message won): nothing was recorded. Throws when the record could not be written.
   */
  async retry(record: JobRecord, message: WebhookRetryMessage, payload: unknown): Promise<boolean> {
    const outcome = await this.deps.sender.attemptOnce(record.webhookUrl!, webhookMessage(record, payload));
    return await this.settle(record, outcome, message.attempt, message.retry + 1, message.attempt - 1);
  }

  /**
   * Schedules the retry the record says is next (its DELIVERING state is written, the message may not be): for a
   * message handled again after the send that follows the write failed.
   */
  async reschedule(record: JobRecord, delivery: WebhookDelivery, nextRetry: number): Promise<void> {
    const notBefore = delivery.nextAttemptAt ?? new Date().toISOString();
    await this.deps.retries!.send(
      { version: 1, jobId: record.jobId, tenantId: record.tenantId, attempt: delivery.attempts + 1, retry: nextRetry, notBefore },
      Math.max(0, (Date.parse(notBefore) - Date.now()) / 1000),
    );
    await this.markScheduled(record.jobId, delivery.attempts + 1);
  }

  /** Records the outcome of `attempts` POSTs and schedules the next retry (index `nextRetry`) when one is due. */
  private async settle(record: JobRecord, outcome: WebhookOutcome, attempts: number, nextRetry: number, expectedAttempts: number | undefined): Promise<boolean> {
    const now = new Date();
    const at = now.toISOString();
    const base = {
      attempts,
      ...(outcome.status !== undefined && { httpStatus: outcome.status }),
      ...(outcome.error !== undefined && { error: outcome.error.slice(0, MAX_DELIVERY_ERROR_CHARS) }),
      at,
    };
    const keys = { jobId: record.jobId, attempts, status: outcome.status, error: outcome.error };
    const store = this.deps.store;
    if (outcome.delivered || outcome.final) {
      const status = outcome.delivered ? 'DELIVERED' : 'REFUSED';
      if (outcome.delivered) this.log.info('webhook delivered', keys);
      else this.log.warn('webhook refused: the answer or the address is final, no retry', keys);
      return await store.recordWebhookDelivery(record.jobId, { status, ...base, completedAt: at }, expectedAttempts);
    }
    const delaySeconds = this.deps.retries ? webhookRetryDelaySeconds(nextRetry, this.delays, this.random) : undefined;
    if (delaySeconds === undefined) {
      const why = this.deps.retries ? `gave up after ${attempts} attempts` : `gave up after ${attempts} attempts (no webhook-retry queue configured)`;
      this.log.warn('webhook not delivered; no retry left', { ...keys, why });
      return await store.recordWebhookDelivery(record.jobId, { status: 'FAILED', ...base, error: `${why}; last: ${outcome.error ?? 'no answer'}`.slice(0, MAX_DELIVERY_ERROR_CHARS), completedAt: at }, expectedAttempts);
    }
    const nextAttemptAt = new Date(now.getTime() + delaySeconds * 1000).toISOString();
    if (!(await store.recordWebhookDelivery(record.jobId, { status: 'DELIVERING', ...base, nextAttemptAt }, expectedAttempts))) return false;
    try {
      await this.deps.retries!.send({ version: 1, jobId: record.jobId, tenantId: record.tenantId, attempt: attempts + 1, retry: nextRetry, notBefore: nextAttemptAt }, delaySeconds);
      this.log.info('webhook not delivered yet; retry scheduled', { ...keys, nextAttemptAt });
    } catch (error) {
      // A durable retry's message comes back when this throws, and finds the step recorded but not scheduled
      // (WebhookRetryHandler's 'rescheduled'): one SQS hiccup must not end a schedule that still has retries left.
      if (expectedAttempts !== undefined) throw error;
      // The record must not promise a retry that will never come.
      this.log.error('could not schedule the webhook retry', { ...keys, error: describeThrown(error) });
      await store.recordWebhookDelivery(
        record.jobId,
        { status: 'FAILED', ...base, error: `could not schedule a retry (${describeThrown(error)}); last: ${outcome.error ?? 'no answer'}`.slice(0, MAX_DELIVERY_ERROR_CHARS), completedAt: at },
        attempts,
      );
    }
    await this.markScheduled(record.jobId, attempts + 1);
    return true;
  }

  /** Best effort: without the mark, a redelivered message sends the same retry again (at least once, as before). */
  private async markScheduled(jobId: string, attempt: number): Promise<void> {
    await this.deps.store.markWebhookRetryScheduled(jobId, attempt).catch((error: unknown) => {
      this.log.warn('could not note the scheduled webhook retry', { jobId, attempt, error: describeThrown(error) });
    });
  }
}

/** What one webhook-retry message came to. */
export type WebhookRetryOutcome =
  /** One POST was made and its outcome recorded (and the next retry scheduled if one is left). */
  | 'attempted'
  /** Not due yet: sent again, delayed, as the next hop of a long wait. */
  | 'deferred'
  /** The record's step was written but its message may not have been sent: sent now. */
  | 'rescheduled'
  /** Nothing to do: the job or its webhook is gone or final, or another message made this attempt. */
  | 'stale';

export interface WebhookRetryHandlerDeps {
  readonly dispatcher: WebhookDispatcher;
  readonly store: JobStore;
  readonly queue: WebhookRetryQueue;
  /** Presigns result URLs for SUCCEEDED jobs' bodies. */
  readonly objects: Pick<ObjectStore, 'presignResult'> | undefined;
  readonly telemetry: Telemetry;
}

/** Handles one webhook-retry message. Throws only when a write failed: the message then comes back. */
export class WebhookRetryHandler {
  constructor(private readonly deps: WebhookRetryHandlerDeps) {}

  async handle(body: string | undefined, context: { readonly messageId?: string } = {}): Promise<WebhookRetryOutcome> {
    const log = this.deps.telemetry.logger;
    const parsed = webhookRetryMessageSchema.safeParse(safeJson(body));
    if (!parsed.success) {
      log.error('webhook-retry message does not match its schema; dropped', { messageId: context.messageId, body: body?.slice(0, 2_000) });
      return 'stale';
    }
    const message = parsed.data;
    const waitSeconds = (Date.parse(message.notBefore) - Date.now()) / 1000;
    // A second early is no harm (SQS delays are whole seconds); more is the next hop of a long wait.
    if (waitSeconds > 1) {
      await this.deps.queue.send(message, waitSeconds);
      return 'deferred';
    }
    const record = await this.deps.store.get(message.jobId);
    const delivery = record?.webhookDelivery;
    if (!record || record.tenantId !== message.tenantId || !record.webhookUrl || delivery?.status !== 'DELIVERING') {
      log.info('webhook retry no longer needed', { jobId: message.jobId, attempt: message.attempt, webhookStatus: delivery?.status });
      return 'stale';
    }
    if (delivery.attempts === message.attempt && delivery.retryScheduledFor === message.attempt + 1) {
      log.info('webhook retry already made and its successor sent; duplicate dropped', { jobId: message.jobId, attempt: message.attempt });
      return 'stale';
    }
    if (delivery.attempts === message.attempt) {
      // This message's attempt was made and recorded, but the handler stopped before the next one was sent.
      await this.deps.dispatcher.reschedule(record, delivery, message.retry + 1);
      return 'rescheduled';
    }
    if (delivery.attempts !== message.attempt - 1) {
      log.info('webhook retry is out of date; dropped', { jobId: message.jobId, attempt: message.attempt, recordedAttempts: delivery.attempts });
      return 'stale';
    }
    const payload = await webhookPayload(record, this.deps.objects);
    return (await this.deps.dispatcher.retry(record, message, payload)) ? 'attempted' : 'stale';
  }
}

function safeJson(body: string | undefined): unknown {
  try {
    return body === undefined ? undefined : (JSON.parse(body) as unknown);
  } catch {
    return undefined;
  }
}

/** The retry consumer's environment, validated once (the Lambda's, or the local stack's). */
export const webhookRetryEnvSchema = z.object({
  REVIVE_TABLE_NAME: z.string().min(1),
  REVIVE_BUCKET_NAME: z.string().min(1),
  REVIVE_WEBHOOK_RETRY_QUEUE_URL: z.string().min(1),
  /** The webhook signing secret itself, `whsec_<base64>` (local stack). */
  REVIVE_WEBHOOK_SECRET: webhookSecretSchema.optional(),
  /** Or the ARN of the Secrets Manager secret holding it (AWS), read once per cold start. */
  REVIVE_WEBHOOK_SECRET_ARN: z.string().min(1).optional(),
  REVIVE_URL_ALLOW_CIDRS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s.length > 0))
    .pipe(z.array(z.union([z.cidrv4(), z.cidrv6()]))),
  /** See the worker's REVIVE_URL_DENY_ENDPOINTS: `pnpm start` lists its own emulators and API. @default '' */
  REVIVE_URL_DENY_ENDPOINTS: urlDenyEndpointsSchema,
  REVIVE_S3_FORCE_PATH_STYLE: z.enum(['true', 'false', '1', '0']).default('false').transform((v) => v === 'true' || v === '1'),
  /** See the worker's: where presigned result URLs point locally. Never set in AWS. */
  REVIVE_S3_PUBLIC_ENDPOINT: z.string().min(1).optional(),
});
export type WebhookRetryEnv = z.infer<typeof webhookRetryEnvSchema>;

/** Clients a retry handler uses; `destroy` them when done. */
export interface WebhookRetryClients {
  readonly sqs: SQSClient;
  readonly dynamodb: DynamoDBClient;
  /** Signs result URLs; not destroyed by `close()`. @default one from the environment (the function's credentials, REVIVE_S3_PUBLIC_ENDPOINT) */
  readonly presignS3?: S3Client;
}

/** Builds a handler from its environment and clients (the S3 clients for presigning are its own). */
export function createWebhookRetryHandler(
  env: WebhookRetryEnv,
  clients: WebhookRetryClients,
  secret: string | undefined,
  telemetry = new Telemetry(),
  schedule: WebhookScheduleOptions = {},
): { handler: WebhookRetryHandler; close: () => Promise<void> } {
  const http = new SafeHttpClient({ allowCidrs: env.REVIVE_URL_ALLOW_CIDRS, denyEndpoints: env.REVIVE_URL_DENY_ENDPOINTS });
  const store = new JobStore(env.REVIVE_TABLE_NAME, clients.dynamodb);
  const queue = new WebhookRetryQueue(env.REVIVE_WEBHOOK_RETRY_QUEUE_URL, clients.sqs, schedule.maxQueueDelaySeconds);
  const ownS3 = clients.presignS3 === undefined;
  const s3 = clients.presignS3 ?? new S3Client({ forcePathStyle: env.REVIVE_S3_FORCE_PATH_STYLE, ...(env.REVIVE_S3_PUBLIC_ENDPOINT !== undefined && { endpoint: env.REVIVE_S3_PUBLIC_ENDPOINT }) });
  // One quick attempt per message: the schedule is the retry.
  const dispatcher = new WebhookDispatcher({ sender: new WebhookSender(http, { secret, maxAttempts: 1 }), store, retries: queue, telemetry }, schedule);
  const handler = new WebhookRetryHandler({ dispatcher, store, queue, objects: new ObjectStore(env.REVIVE_BUCKET_NAME, s3), telemetry });
  return {
    handler,
    close: async () => {
      await http.close().catch(() => undefined);
      if (ownS3) s3.destroy();
    },
  };
}
