import { SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { JobMessage } from '@revive/contract';
import type { ApiConfig } from '../config.js';
import { callOptions, sdkOptions } from './sdk-options.js';

/** The jobs queue. The message body is contract's jobMessageSchema, version 1. */
export class JobQueueSender {
  constructor(
    private readonly queueUrl: string,
    private readonly client: SQSClient = new SQSClient({}),
  ) {}

  /**
   * Sends one job; throws the SDK's error (the caller decides what a failed send means for the record: see
   * sdk-options' serviceAnswered). `signal` is the request's deadline.
   */
  async send(message: JobMessage, signal?: AbortSignal): Promise<string | undefined> {
    const out = await this.client.send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify(message) }), callOptions(signal));
    return out.MessageId;
  }

  /**
   * Sends up to 10 jobs in one call; resolves with the ids of the jobs SQS took (the others failed, and stay in the
   * outbox for the sweeper). Throws the SDK's error when the call itself failed.
   */
  async sendBatch(messages: readonly JobMessage[], signal?: AbortSignal): Promise<Set<string>> {
    const out = await this.client.send(
      new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: messages.map((m, i) => ({ Id: String(i), MessageBody: JSON.stringify(m) })) }),
      callOptions(signal),
    );
    return new Set((out.Successful ?? []).map((entry) => messages[Number(entry.Id)]!.jobId));
  }

  destroy(): void {
    this.client.destroy();
  }
}

/** The queue from the API's environment (a Lambda entry's or the local server's). */
export function jobQueueFromEnv(env: NodeJS.ProcessEnv, config: ApiConfig): JobQueueSender {
  return new JobQueueSender(config.REVIVE_QUEUE_URL, new SQSClient(sdkOptions(env, env.AWS_ENDPOINT_URL_SQS)));
}
