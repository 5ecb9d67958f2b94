// The DLQ consumer as a Lambda (SQS event source on the dead-letter queue, partial batch responses): see dead-letters.ts.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { describeThrown } from '@revive/pipeline/errors';
import { createDeadLetterHandler, deadLetterEnvSchema, type DeadLetterHandler } from '../service/dead-letters.js';
import { Telemetry } from '../service/telemetry.js';
import { resolveWebhookSecret } from '../service/webhook-secret.js';

let ready: Promise<{ handler: DeadLetterHandler; telemetry: Telemetry }> | undefined;

/** Once per cold start: the environment, the webhook secret (from Secrets Manager when an ARN is given), the clients. */
async function init(): Promise<{ handler: DeadLetterHandler; telemetry: Telemetry }> {
  const env = deadLetterEnvSchema.parse(process.env);
  const secret = await resolveWebhookSecret(env);
  const telemetry = new Telemetry();
  return { handler: createDeadLetterHandler(env, new DynamoDBClient({}), secret, telemetry, new SQSClient({})), telemetry };
}

/**
 * Marks each dead-lettered message's job FAILED (DEAD_LETTERED) unless it already ended. A message whose job is still
 * leased, or whose write failed, is reported as a batch item failure: SQS shows it again after the DLQ's visibility
 * timeout, and it stays in the DLQ (with its body) until it is handled.
 */
export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  // A failed init (Secrets Manager throttled, a bad deploy fixed since) must not stay cached for the container's life.
  ready ??= init().catch((error: unknown) => {
    ready = undefined;
    throw error;
  });
  const { handler: deadLetters, telemetry } = await ready;
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  for (const record of event.Records) {
    try {
      const outcome = await deadLetters.handle(record.body, { messageId: record.messageId });
      if (outcome === 'leased') batchItemFailures.push({ itemIdentifier: record.messageId });
    } catch (error) {
      telemetry.logger.error('could not handle a dead-lettered message; it will be retried', { messageId: record.messageId, error: describeThrown(error) });
      batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  }
  return { batchItemFailures };
}
