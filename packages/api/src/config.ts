import { apiEnvSchema, type ApiEnv } from '@revive/contract';
import { z } from 'zod';

/** The API's configuration: the validated environment (contract's apiEnvSchema). */
export type ApiConfig = ApiEnv;

/** Largest JSON body a handler parses; API Gateway allows 10 MB, a job request is a few hundred bytes. */
export const DEFAULT_MAX_JSON_BODY_BYTES = 64 * 1024;

/** Validates the environment once, at cold start; a bad deployment fails loudly instead of per request. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const parsed = apiEnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new Error(`Invalid API environment:\n${z.prettifyError(parsed.error)}`, { cause: parsed.error });
  }
  return parsed.data;
}
