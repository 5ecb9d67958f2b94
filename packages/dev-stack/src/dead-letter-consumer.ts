// The dead-letter queue's consumer under `pnpm start` (and the worker's DLQ tests): sqs-consumer polling the local DLQ
// in-process, running the code of the DeadLetters Lambda (`@revive/worker/dead-letters`), as the Lambda's SQS event
// source does in AWS. Only the local stack runs it, so it lives here, not in the worker.
import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import { createDeadLetterHandler, deadLetterEnvSchema, type DeadLetterHandler } from '@revive/worker/dead-letters';
import { Telemetry } from '@revive/worker/telemetry';
import { Consumer } from 'sqs-consumer';
import { stopConsumer } from './stop-consumer.js';

/** Options of the in-process consumer that `pnpm start` runs in place of the Lambda. */
export interface DeadLetterConsumerOptions {
  readonly dlqUrl: string;
  readonly sqs: SQSClient;
  readonly handler: DeadLetterHandler;
  /** Long poll. @default 1 (so a stack stops quickly) */
  readonly waitTimeSeconds?: number;
  /**
   * How long a message whose job is still leased stays hidden before it is looked at again; keep it at most the job
   * queue's visibility timeout, so that no job waits more than one visibility timeout once its lease has run out.
   * @default 5
   */
  readonly retryAfterSeconds?: number;
  /**
   * Where failures go: a message whose handling threw (it stays in the DLQ and comes back after `retryAfterSeconds`)
   * and a failed SQS call, each logged once with its error. @default a Powertools Logger (JSON on stdout)
   */
  readonly logger?: Pick<Logger, 'error'>;
}

/** First wait before polling again after a failed receive; it doubles per failure in a row. @default 1_000 */
export const DEAD_LETTER_RECEIVE_RETRY_MS = 1_000;
/** Longest wait between receives that fail in a row (short: stop() waits for it). @default 5_000 */
export const MAX_DEAD_LETTER_RECEIVE_RETRY_MS = 5_000;

/** Thrown for a job a worker still holds: the message comes back later; not a failure, so not logged as one. */
class JobStillLeased extends Error {}

/** A running in-process consumer. */
export interface RunningDeadLetterConsumer {
  stop(): Promise<void>;
}

/**
 * The DLQ consumer for the local stack: sqs-consumer polling the DLQ, as the Lambda's SQS event source does in AWS.
 * A message is deleted once its job is final; a leased job's message comes back after `retryAfterSeconds`.
 */
export function startDeadLetterConsumer(options: DeadLetterConsumerOptions): RunningDeadLetterConsumer {
  const retryAfterSeconds = options.retryAfterSeconds ?? 5;
  const log = options.logger ?? new Telemetry().logger;
  // sqs-consumer polls again at once after a failed receive (pollingWaitTimeMs 0); an emulator that is gone would
  // otherwise make a tight loop of error lines.
  let receiveFailures = 0;
  const consumer = Consumer.create({
    queueUrl: options.dlqUrl,
    sqs: options.sqs,
    batchSize: 10,
    waitTimeSeconds: options.waitTimeSeconds ?? 1,
    visibilityTimeout: retryAfterSeconds,
    messageSystemAttributeNames: ['ApproximateReceiveCount'],
    pollingWaitTimeMs: 0,
    // stop() then waits for a message being handled, so the local stack never stops it halfway through a write.
    pollingCompleteWaitTimeMs: 10_000,
    preReceiveMessageCallback: async () => {
      if (receiveFailures === 0) return;
      const delayMs = Math.min(DEAD_LETTER_RECEIVE_RETRY_MS * 2 ** (receiveFailures - 1), MAX_DEAD_LETTER_RECEIVE_RETRY_MS);
      await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
    },
    postReceiveMessageCallback: async () => {
      receiveFailures = 0;
    },
    handleMessage: async (message: Message) => {
      const outcome = await options.handler.handle(message.Body, { ...(message.MessageId !== undefined && { messageId: message.MessageId }) });
      // A thrown error leaves the message for another look after its visibility; the consumer deletes otherwise.
      if (outcome === 'leased') throw new JobStillLeased('job still leased');
      return message;
    },
  });
  const context = (message: Message | Message[] | undefined) => {
    const one = Array.isArray(message) ? undefined : message;
    return {
      dlqUrl: options.dlqUrl,
      ...(one?.MessageId !== undefined && { messageId: one.MessageId }),
      ...(one?.Attributes?.ApproximateReceiveCount !== undefined && { receiveCount: Number(one.Attributes.ApproximateReceiveCount) }),
      ...(Array.isArray(message) && { messageIds: message.map((m) => m.MessageId) }),
    };
  };
  consumer.on('error', (error, message) => {
    if (message === undefined) receiveFailures += 1;
    log.error('dead-letter consumer: an SQS call failed; it is tried again', { ...context(message), error });
  });
  consumer.on('processing_error', (error, message) => {
    // sqs-consumer wraps what the handler threw; the cause is the handler's own error.
    const cause = error.cause ?? error;
    if (cause instanceof JobStillLeased) return;
    log.error('dead-letter consumer: handling a message failed; it stays in the DLQ and is tried again', {
      ...context(message),
      retryAfterSeconds,
      error: cause instanceof Error ? cause : error,
    });
  });
  consumer.on('timeout_error', (error, message) => log.error('dead-letter consumer: handling a message timed out', { ...context(message), error }));
  consumer.start();
  return { stop: () => stopConsumer(consumer) };
}

/**
 * The local stack's DLQ consumer in one call: `env` is the stack's environment (table name, TTL, webhook key, allowed
 * CIDRs); `clients` point at the emulators. Stopping it does not destroy the clients.
 */
export function startLocalDeadLetterConsumer(options: {
  readonly dlqUrl: string;
  readonly env: NodeJS.ProcessEnv;
  readonly sqs: SQSClient;
  readonly dynamodb: DynamoDBClient;
  /** @default the handler's Powertools Logger */
  readonly logger?: Pick<Logger, 'error'>;
  /** @default 5 */
  readonly retryAfterSeconds?: number;
}): RunningDeadLetterConsumer {
  const env = deadLetterEnvSchema.parse(options.env);
  const telemetry = new Telemetry();
  return startDeadLetterConsumer({
    dlqUrl: options.dlqUrl,
    sqs: options.sqs,
    handler: createDeadLetterHandler(env, options.dynamodb, env.REVIVE_WEBHOOK_SECRET, telemetry, options.sqs),
    logger: options.logger ?? telemetry.logger,
    ...(options.retryAfterSeconds !== undefined && { retryAfterSeconds: options.retryAfterSeconds }),
  });
}
