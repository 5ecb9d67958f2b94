// The dead-letter queue's consumer: a message lands there after maxReceiveCount deliveries without a final write
// (a kill on the last delivery, a hand-back at shutdown, a deferral), and its job would otherwise stay QUEUED or
// RUNNING forever. This marks it FAILED with DEAD_LETTERED and sends its webhook.
//
// It lives in the worker package because it is one more writer of the job lifecycle: it reuses the worker's
// conditional JobStore updates (the same "only QUEUED or an expired lease" rule as every other transition) and its
// SSRF-guarded, signed WebhookSender. It imports neither onnxruntime nor sharp, so the Lambda bundle stays small.
//
// The message is deleted from the DLQ once the record is final (the Lambda's event source does so on success), so
// the DLQ empties at once and the job's end is what is watched (JobsFailed{ErrorCode=DEAD_LETTERED}). FAILED
// DEAD_LETTERED is final, like every terminal status: a job ends once, with one webhook. A redrive of the body (it is
// logged whole) finds the job terminal, and the worker deletes the message without running it (JobStore.claim never
// takes a terminal job); the client submits a new job to try again. Keeping messages in the DLQ for
// `start-message-move-task` instead (to run them once the cause is fixed) means disabling the event source (AWS) for
// the while: their jobs then stay non-terminal until the move.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { TERMINAL_STATUSES, tenantIdSchema, jobIdSchema, webhookSecretSchema, type JobRecord, urlDenyEndpointsSchema } from '@revive/contract';
import { z } from 'zod';
import { JobStore } from './job-store.js';
import { SafeHttpClient } from './source-fetch.js';
import { Telemetry } from './telemetry.js';
import { WebhookSender, type WebhookOptions } from './webhook.js';
import { webhookPayload, WebhookDispatcher, WebhookRetryQueue } from './webhook-retries.js';

/** What one dead-lettered message came to. */
export type DeadLetterOutcome =
  /** The job was QUEUED or RUNNING with an expired lease: now FAILED DEAD_LETTERED (and its webhook sent). */
  | 'failed'
  /** The job had already ended (or is gone, or the body names no job): nothing to do. */
  | 'ended'
  /** A live lease holds the job: a worker is still on it and will write its outcome; look again later. */
  | 'leased';

/**
 * Quick webhook attempts of the DLQ consumer: shorter than the worker's, so that one message is handled well inside
 * the Lambda's timeout (3 × 5 s plus at most 2 × 2 s of backoff); the durable retries do the rest. @default see below
 */
export const DEAD_LETTER_WEBHOOK_OPTIONS = { maxAttempts: 3, timeoutMs: 5_000, baseDelayMs: 500, maxDelayMs: 2_000 } as const satisfies Omit<WebhookOptions, 'secret'>;

const idsSchema = z.object({ jobId: jobIdSchema, tenantId: tenantIdSchema });

export interface DeadLetterHandlerDeps {
  readonly store: JobStore;
  /** Quick attempts, then the durable retries (webhook-retries.ts). */
  readonly webhooks: WebhookDispatcher;
  readonly telemetry: Telemetry;
  /** Job records live this long after they end (REVIVE_JOB_TTL_DAYS). */
  readonly jobTtlDays: number;
}

/** Handles one dead-lettered message body; never loses a job it could not write (it throws instead). */
export class DeadLetterHandler {
  constructor(private readonly deps: DeadLetterHandlerDeps) {}

  async handle(body: string | undefined, context: { readonly messageId?: string; readonly receiveCount?: number } = {}): Promise<DeadLetterOutcome> {
    const log = this.deps.telemetry.logger;
    let json: unknown;
    try {
      json = body === undefined ? undefined : JSON.parse(body);
    } catch {
      json = undefined;
    }
    const ids = idsSchema.safeParse(json);
    if (!ids.success) {
      // Nothing to mark: the body names no job. Logged with its body so that an operator can see what it was.
      log.error('dead-lettered message names no job', { messageId: context.messageId, body: body?.slice(0, 2_000) });
      return 'ended';
    }
    const { jobId, tenantId } = ids.data;
    const now = new Date();
    const deliveries = context.receiveCount === undefined ? '' : ` after ${context.receiveCount} deliveries`;
    const failed = await this.deps.store.failDeadLettered(jobId, tenantId, now, {
      code: 'DEAD_LETTERED',
      message: `the job's queue message reached the dead-letter queue${deliveries} without any worker recording an outcome (each delivery was interrupted or handed back); submit a new job to try again`,
      finishedAt: now,
      expiresAt: Math.floor(now.getTime() / 1000) + this.deps.jobTtlDays * 86_400,
    });
    if (!failed) {
      const record = await this.deps.store.get(jobId);
      if (record && record.tenantId === tenantId && !TERMINAL_STATUSES.includes(record.status)) {
        log.info('dead-lettered job is still leased by a worker; looking again later', { jobId, leaseExpiresAt: record.leaseExpiresAt });
        return 'leased';
      }
      if (!record || record.tenantId !== tenantId) {
        // Nothing of ours to mark: the body is all an operator gets to find out what it was.
        log.warn('dead-lettered message names a job that is missing or another tenant\'s', { jobId, tenantId, messageId: context.messageId, body });
        return 'ended';
      }
      log.info('dead-lettered job had already ended', { jobId, status: record.status, errorCode: record.errorCode });
      // An earlier delivery marked it but stopped before its webhook (a Lambda timeout between the two): send it now.
      if (record.status === 'FAILED' && record.errorCode === 'DEAD_LETTERED' && record.webhookDelivery === undefined) await this.notify(record);
      return 'ended';
    }
    // The body is logged whole, so an operator can see what the job was once the message is gone from the DLQ.
    log.warn('job marked FAILED: its message was dead-lettered', { jobId, tenantId, messageId: context.messageId, body });
    // JobsFailed{ErrorCode=DEAD_LETTERED}: what pages now that the DLQ itself is drained at once.
    this.deps.telemetry.jobFailed('DEAD_LETTERED', undefined);
    await this.notify(failed);
    return 'failed';
  }

  private async notify(record: JobRecord): Promise<void> {
    // A FAILED job's body has no result URL to presign.
    await this.deps.webhooks.deliver(record, await webhookPayload(record, undefined));
  }
}

/** The consumer's environment, validated once (the Lambda's, or the local stack's). */
export const deadLetterEnvSchema = z.object({
  REVIVE_TABLE_NAME: z.string().min(1),
  /** @default 7 */
  REVIVE_JOB_TTL_DAYS: z.coerce.number().int().min(1).max(3_650).default(7),
  /** The webhook signing secret itself, `whsec_<base64>` (local stack). */
  REVIVE_WEBHOOK_SECRET: webhookSecretSchema.optional(),
  /** Or the ARN of the Secrets Manager secret holding it (AWS), read once per cold start. */
  REVIVE_WEBHOOK_SECRET_ARN: z.string().min(1).optional(),
  /** Where webhooks the quick attempts leave undelivered are retried from; without it they end FAILED. */
  REVIVE_WEBHOOK_RETRY_QUEUE_URL: z.string().min(1).optional(),
  REVIVE_URL_ALLOW_CIDRS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s.length > 0))
    .pipe(z.array(z.union([z.cidrv4(), z.cidrv6()]))),
  /** See the worker's REVIVE_URL_DENY_ENDPOINTS: `pnpm start` lists its own emulators and API. @default '' */
  REVIVE_URL_DENY_ENDPOINTS: urlDenyEndpointsSchema,
});
export type DeadLetterEnv = z.infer<typeof deadLetterEnvSchema>;

/** Builds a handler from its environment and clients (`sqs` sends the webhook retries, when a queue is configured). */
export function createDeadLetterHandler(env: DeadLetterEnv, dynamodb: DynamoDBClient, secret: string | undefined, telemetry = new Telemetry(), sqs?: SQSClient): DeadLetterHandler {
  const http = new SafeHttpClient({ allowCidrs: env.REVIVE_URL_ALLOW_CIDRS, denyEndpoints: env.REVIVE_URL_DENY_ENDPOINTS });
  const store = new JobStore(env.REVIVE_TABLE_NAME, dynamodb);
  const retries = env.REVIVE_WEBHOOK_RETRY_QUEUE_URL !== undefined && sqs !== undefined ? new WebhookRetryQueue(env.REVIVE_WEBHOOK_RETRY_QUEUE_URL, sqs) : undefined;
  return new DeadLetterHandler({
    store,
    webhooks: new WebhookDispatcher({ sender: new WebhookSender(http, { secret, ...DEAD_LETTER_WEBHOOK_OPTIONS }), store, retries, telemetry }),
    telemetry,
    jobTtlDays: env.REVIVE_JOB_TTL_DAYS,
  });
}
