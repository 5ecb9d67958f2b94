// The webhook-retry queue's consumer under `pnpm start` (and the worker's webhook-retry tests): sqs-consumer polling
// the local retry queue in-process, running the code of the WebhookRetries Lambda (`@revive/worker/webhook-retries`),
// as the Lambda's SQS event source does in AWS. Only the local stack runs it, so it lives here, not in the worker.
import type { Message } from '@aws-sdk/client-sqs';
import type { SQSClient } from '@aws-sdk/client-sqs';
import {
  createWebhookRetryHandler,
  webhookRetryEnvSchema,
  type WebhookRetryClients,
  type WebhookRetryHandler,
  type WebhookRetryOutcome,
  type WebhookScheduleOptions,
} from '@revive/worker/webhook-retries';
import { Telemetry } from '@revive/worker/telemetry';
import { Consumer } from 'sqs-consumer';
import { stopConsumer } from './stop-consumer.js';

/** Options of the in-process consumer that `pnpm start` (and the tests) run in place of the Lambda. */
export interface WebhookRetryConsumerOptions {
  readonly queueUrl: string;
  readonly sqs: SQSClient;
  readonly handler: WebhookRetryHandler;
  /** Long poll. @default 1 (so a stack stops quickly) */
  readonly waitTimeSeconds?: number;
  /** A message whose handling threw comes back after this long. @default 30 */
  readonly visibilityTimeoutSeconds?: number;
  /** Told each message's outcome (tests, logs). */
  readonly onOutcome?: (outcome: WebhookRetryOutcome, message: Message) => void;
  /** Where failed SQS calls and failed handling are logged (never silently dropped). */
  readonly logger: Pick<Telemetry['logger'], 'error'>;
}

/** Wait after a failed receive before polling again, so an emulator that is down is not polled in a tight loop. @default 2_000 */
export const WEBHOOK_RETRY_RECEIVE_RETRY_MS = 2_000;

/** A running in-process consumer. */
export interface WebhookRetryConsumer {
  stop(): Promise<void>;
}

/** The retry queue's consumer for the local stack: sqs-consumer, as the Lambda's SQS event source does in AWS. */
export function startWebhookRetryConsumer(options: WebhookRetryConsumerOptions): WebhookRetryConsumer {
  let receiveFailed = false;
  const consumer = Consumer.create({
    queueUrl: options.queueUrl,
    sqs: options.sqs,
    batchSize: 10,
    waitTimeSeconds: options.waitTimeSeconds ?? 1,
    visibilityTimeout: options.visibilityTimeoutSeconds ?? 30,
    pollingWaitTimeMs: 0,
    pollingCompleteWaitTimeMs: 15_000,
    preReceiveMessageCallback: async () => {
      if (receiveFailed) await new Promise((resolve) => setTimeout(resolve, WEBHOOK_RETRY_RECEIVE_RETRY_MS).unref());
    },
    postReceiveMessageCallback: async () => {
      receiveFailed = false;
    },
    handleMessage: async (message: Message) => {
      // A thrown error leaves the message for another look after its visibility; the consumer deletes otherwise.
      const outcome = await options.handler.handle(message.Body, { ...(message.MessageId !== undefined && { messageId: message.MessageId }) });
      options.onOutcome?.(outcome, message);
      return message;
    },
  });
  consumer.on('error', (error, message) => {
    if (message === undefined) receiveFailed = true;
    options.logger.error('webhook-retry consumer: an SQS call failed; it is tried again', { queueUrl: options.queueUrl, error });
  });
  consumer.on('processing_error', (error, message) => {
    const one = Array.isArray(message) ? undefined : message;
    options.logger.error('webhook-retry consumer: handling a message failed; it comes back after its visibility timeout', {
      queueUrl: options.queueUrl,
      ...(one?.MessageId !== undefined && { messageId: one.MessageId }),
      error: (error as { cause?: unknown }).cause ?? error,
    });
  });
  consumer.start();
  return { stop: () => stopConsumer(consumer) };
}

/**
 * The local stack's retry consumer in one call: `env` is the stack's environment (table, bucket, retry queue, webhook
 * key, allowed CIDRs, public S3 endpoint); `clients` point at the emulators and are not destroyed by `stop()`.
 */
export function startLocalWebhookRetryConsumer(options: {
  readonly env: NodeJS.ProcessEnv;
  readonly clients: WebhookRetryClients;
  readonly schedule?: WebhookScheduleOptions;
  readonly telemetry?: Telemetry;
  readonly onOutcome?: (outcome: WebhookRetryOutcome, message: Message) => void;
}): WebhookRetryConsumer {
  const env = webhookRetryEnvSchema.parse(options.env);
  const telemetry = options.telemetry ?? new Telemetry();
  const { handler, close } = createWebhookRetryHandler(env, options.clients, env.REVIVE_WEBHOOK_SECRET, telemetry, options.schedule);
  const consumer = startWebhookRetryConsumer({
    queueUrl: env.REVIVE_WEBHOOK_RETRY_QUEUE_URL,
    sqs: options.clients.sqs,
    handler,
    logger: telemetry.logger,
    ...(options.onOutcome && { onOutcome: options.onOutcome }),
  });
  return {
    stop: async () => {
      await consumer.stop();
      await close();
    },
  };
}
