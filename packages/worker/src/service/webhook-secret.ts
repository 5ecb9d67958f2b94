// The webhook signing secret of the Lambdas that send webhooks (the DLQ consumer, the webhook-retry consumer): the
// worker task gets it injected by ECS, a Lambda reads it from Secrets Manager once per cold start.
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { webhookSecretSchema } from '@revive/contract';

/**
 * `REVIVE_WEBHOOK_SECRET` when set (the local stack), else the value of the secret `REVIVE_WEBHOOK_SECRET_ARN` names,
 * else undefined (webhooks then go unsigned, and the sender logs so). The secret's value is validated as the
 * environment's is (webhookSecretSchema): a value that is not `whsec_<base64>` fails the cold start, with the reason.
 */
export async function resolveWebhookSecret(env: { readonly REVIVE_WEBHOOK_SECRET?: string | undefined; readonly REVIVE_WEBHOOK_SECRET_ARN?: string | undefined }): Promise<string | undefined> {
  if (env.REVIVE_WEBHOOK_SECRET !== undefined || env.REVIVE_WEBHOOK_SECRET_ARN === undefined) return env.REVIVE_WEBHOOK_SECRET;
  const client = new SecretsManagerClient({});
  try {
    const value = (await client.send(new GetSecretValueCommand({ SecretId: env.REVIVE_WEBHOOK_SECRET_ARN }))).SecretString;
    return value === undefined ? undefined : webhookSecretSchema.parse(value);
  } finally {
    client.destroy();
  }
}
