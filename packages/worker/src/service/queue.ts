import type { SQSClient} from '@aws-sdk/client-sqs';
import { ChangeMessageVisibilityCommand, DeleteMessageCommand, GetQueueAttributesCommand, SendMessageBatchCommand, SendMessageCommand, type Message } from '@aws-sdk/client-sqs';
import type { JobMessage } from '@revive/contract';
import { Consumer } from 'sqs-consumer';
import { toStorageError } from './aws-errors.js';

/** Cap on the wait between failed ReceiveMessage calls. @default 10_000 */
export const DEFAULT_POLL_ERROR_MAX_BACKOFF_MS = 10_000;

/** The queue's counts that say whether any job waits (visible, or sent with a delay) or is held by a task. */
const IDLE_COUNTS = ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'] as const;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Longest visibility SQS allows (12 h). */
export const MAX_VISIBILITY_TIMEOUT_SECONDS = 43_200;

export interface SlotConsumerOptions {
  readonly slot: number;
  readonly waitTimeSeconds: number;
  readonly visibilityTimeoutSeconds: number;
  /** Called for each message; it deletes or defers the message itself and must not throw. */
  readonly handle: (message: Message, slot: number) => Promise<void>;
  /** Called when a ReceiveMessage starts or ends, for the health file. */
  readonly onPoll: (slot: number) => void;
  readonly onError: (error: Error, slot: number) => void;
}

/**
 * The job queue. Polling uses sqs-consumer, one Consumer per job slot with `batchSize` 1: a consumer only calls
 * ReceiveMessage again after its handler returns, so a message is never received unless a slot is free, and a
 * slow job never holds back the other slots (one consumer with `batchSize` N would wait for the slowest of its
 * batch before polling again). sqs-consumer's own deletes and heartbeat are off: the job runner deletes only
 * after the record is final, and its heartbeat extends the message and the DynamoDB lease in one tick (and stops
 * the job if the lease was lost). Its own client lets shutdown abort the long polls without aborting those calls.
 */
export class JobQueueConsumer {
  constructor(
    readonly queueUrl: string,
    private readonly sqs: SQSClient,
  ) {}

  createSlotConsumer(options: SlotConsumerOptions, pollClient: SQSClient): Consumer {
    // sqs-consumer re-polls at once after most receive errors; back off instead (1 s doubling to 10 s) so an
    // unreachable SQS is not hammered. The slot still reports each attempt: it is alive, just failing.
    let consecutiveErrors = 0;
    const consumer = Consumer.create({
      queueUrl: this.queueUrl,
      sqs: pollClient,
      batchSize: 1,
      waitTimeSeconds: options.waitTimeSeconds,
      visibilityTimeout: options.visibilityTimeoutSeconds,
      messageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
      shouldDeleteMessages: false,
      // A failed ReceiveMessage (network, throttle) waits this long before the next; the default 10 s only
      // applies to credential errors.
      pollingWaitTimeMs: 0,
      preReceiveMessageCallback: async () => {
        options.onPoll(options.slot);
        if (consecutiveErrors > 0) await sleep(Math.min(DEFAULT_POLL_ERROR_MAX_BACKOFF_MS, 1_000 * 2 ** (consecutiveErrors - 1)));
      },
      postReceiveMessageCallback: async () => {
        consecutiveErrors = 0;
        options.onPoll(options.slot);
      },
      handleMessage: async (message) => {
        await options.handle(message, options.slot);
        return undefined;
      },
    });
    consumer.on('error', (error, message) => {
      if (message === undefined) consecutiveErrors += 1;
      options.onError(error, options.slot);
    });
    consumer.on('processing_error', (error) => options.onError(error, options.slot));
    consumer.on('empty', () => options.onPoll(options.slot));
    return consumer;
  }

  async delete(receiptHandle: string): Promise<void> {
    try {
      await this.sqs.send(new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: receiptHandle }));
    } catch (error) {
      throw toStorageError(error, 'SQS DeleteMessage');
    }
  }

  /** Sends a job message: a parent's fan-in, a video's segments, a child waiting for its parent (hidden `delaySeconds`). */
  async send(message: JobMessage, delaySeconds?: number): Promise<void> {
    try {
      await this.sqs.send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify(message), ...(delaySeconds !== undefined && { DelaySeconds: delaySeconds }) }));
    } catch (error) {
      throw toStorageError(error, 'SQS SendMessage');
    }
  }

  /** Sends up to 10 job messages in one call; throws unless SQS took every one. */
  async sendBatch(messages: readonly JobMessage[]): Promise<void> {
    let out;
    try {
      out = await this.sqs.send(
        new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: messages.map((m, i) => ({ Id: String(i), MessageBody: JSON.stringify(m) })) }),
      );
    } catch (error) {
      throw toStorageError(error, 'SQS SendMessageBatch');
    }
    if ((out.Failed ?? []).length > 0) throw toStorageError(new Error(`SQS refused ${out.Failed!.length} of ${messages.length} messages: ${out.Failed![0]!.Message ?? out.Failed![0]!.Code}`), 'SQS SendMessageBatch');
  }

  /**
   * True when no job waits (visible, or sent with a delay: the missing-parent recheck re-sends children so) and none
   * is held by any task, by the queue's approximate counts (what the scaling signal reads too). `abortSignal` bounds
   * the read: the SQS client sets no request timeout.
   */
  async isIdle(abortSignal?: AbortSignal): Promise<boolean> {
    let out;
    try {
      out = await this.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: this.queueUrl, AttributeNames: [...IDLE_COUNTS] }),
        abortSignal === undefined ? {} : { abortSignal },
      );
    } catch (error) {
      throw toStorageError(error, 'SQS GetQueueAttributes');
    }
    const counts = IDLE_COUNTS.map((name) => Number(out.Attributes?.[name] ?? Number.NaN));
    if (!counts.every(Number.isFinite)) throw toStorageError(new Error(`SQS GetQueueAttributes gave no counts: ${JSON.stringify(out.Attributes ?? {})}`), 'SQS GetQueueAttributes');
    return counts.every((count) => count === 0);
  }

  /** Hides the message for `seconds` from now (0 makes it visible at once). */
  async changeVisibility(receiptHandle: string, seconds: number): Promise<void> {
    const clamped = Math.max(0, Math.min(MAX_VISIBILITY_TIMEOUT_SECONDS, Math.round(seconds)));
    try {
      await this.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: this.queueUrl, ReceiptHandle: receiptHandle, VisibilityTimeout: clamped }));
    } catch (error) {
      throw toStorageError(error, 'SQS ChangeMessageVisibility');
    }
  }
}
