// The webhook-retry consumer under `pnpm start`: the code of the webhook-retries Lambda (the worker package's
// webhook-retries.ts, through webhook-retry-consumer.ts), polling the local retry queue in-process, as sweeper.ts runs the sweep Lambda's on a timer.
import { S3Client } from '@aws-sdk/client-s3';
import { clientConfig, localClients, type LocalAwsTarget } from '@revive/local-aws';

/** A running consumer; `stop()` waits for a message being handled, then closes its clients. */
export interface LocalWebhookRetries {
  stop(): Promise<void>;
}

/**
 * Starts the consumer on the stack's environment (`env`: REVIVE_TABLE_NAME, REVIVE_BUCKET_NAME,
 * REVIVE_WEBHOOK_RETRY_QUEUE_URL, REVIVE_WEBHOOK_SECRET, REVIVE_URL_ALLOW_CIDRS, REVIVE_S3_PUBLIC_ENDPOINT), with its
 * own clients on the emulators. Imported lazily, like the DLQ consumer, so the API's own bundle never pulls it in.
 */
export async function startLocalWebhookRetries(target: LocalAwsTarget, env: NodeJS.ProcessEnv): Promise<LocalWebhookRetries> {
  const { startLocalWebhookRetryConsumer } = await import('./webhook-retry-consumer.js');
  const clients = localClients(target);
  // Result URLs in retried webhooks point where GET /jobs/{id}'s do (the API's /s3 proxy), signed with the emulators' keys.
  const presignS3 = new S3Client({ ...clientConfig(target, 's3'), ...(env.REVIVE_S3_PUBLIC_ENDPOINT !== undefined && { endpoint: env.REVIVE_S3_PUBLIC_ENDPOINT }) });
  const consumer = startLocalWebhookRetryConsumer({ env, clients: { sqs: clients.sqs, dynamodb: clients.dynamodb, presignS3 } });
  return {
    async stop() {
      await consumer.stop();
      for (const client of [...Object.values(clients), presignS3]) client.destroy();
    },
  };
}
