// The webhook-retry consumer as a Lambda (SQS event source on the webhook-retry queue, partial batch responses): see
// webhook-retries.ts.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { describeThrown } from '@revive/pipeline/errors';
import { Telemetry } from '../service/telemetry.js';
import { resolveWebhookSecret } from '../service/webhook-secret.js';
import { createWebhookRetryHandler, webhookRetryEnvSchema, type WebhookRetryHandler } from '../service/webhook-retries.js';

let ready: Promise<{ handler: WebhookRetryHandler; telemetry: Telemetry }> | undefined;

/** Once per cold start: the environment, the webhook secret (from Secrets Manager when an ARN is given), the clients. */
async function init(): Promise<{ handler: WebhookRetryHandler; telemetry: Telemetry }> {
  const env = webhookRetryEnvSchema.parse(process.env);
  const secret = await resolveWebhookSecret(env);
  const telemetry = new Telemetry();
  const { handler } = createWebhookRetryHandler(env, { sqs: new SQSClient({}), dynamodb: new DynamoDBClient({}) }, secret, telemetry);
  return { handler, telemetry };
}

/**
 * One webhook attempt per due message (messages of a batch at once), its outcome recorded and the next retry scheduled
 * when one is left. A message whose write failed is reported as a batch item failure: SQS shows it again after the
 * queue's visibility timeout, and after the redrive policy's receives it goes to the queue's DLQ (alarmed).
 */
export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  // A failed init (Secrets Manager throttled, a bad deploy fixed since) must not stay cached for the container's life.
  ready ??= init().catch((error: unknown) => {
    ready = undefined;
    throw error;
  });
  const { handler: retries, telemetry } = await ready;
  const results = await Promise.all(
    event.Records.map(async (record) => {
      try {
        await retries.handle(record.body, { messageId: record.messageId });
        return undefined;
      } catch (error) {
        telemetry.logger.error('could not handle a webhook retry; it will be retried', { messageId: record.messageId, error: describeThrown(error) });
        return { itemIdentifier: record.messageId };
      }
    }),
  );
  return { batchItemFailures: results.filter((r) => r !== undefined) };
}
