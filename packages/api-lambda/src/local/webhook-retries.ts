// The webhook-retry consumer under `pnpm start`: the code of the webhook-retries Lambda (the worker package's
// webhook-retries.ts), polling the local retry queue in-process, as sweeper.ts runs the sweep Lambda's on a timer.
import { localClients, type LocalAwsTarget } from '@revive/local-aws';

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
  const { startLocalWebhookRetryConsumer } = await import('@revive/worker/webhook-retries');
  const clients = localClients(target);
  const consumer = startLocalWebhookRetryConsumer({ env, clients });
  return {
    async stop() {
      await consumer.stop();
      for (const client of Object.values(clients)) client.destroy();
    },
  };
}
