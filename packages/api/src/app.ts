import type { AddressPolicy } from '@revive/contract';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { jobQueueFromEnv, type JobQueueSender } from './aws/job-queue.js';
import { jobTableFromEnv, type JobTable } from './aws/job-table.js';
import { mediaBucketFromEnv, type MediaBucket } from './aws/media-bucket.js';
import { loadConfig, type ApiConfig } from './config.js';
import { createBaseDeps } from './handler.js';
import type { ApiEvent, ApiResult } from './http/event.js';

export { DEFAULT_REQUEST_DEADLINE_MS, toHandler, type HandlerOptions } from './handler.js';

/** Logging and metrics: all that a route reading no configuration needs (the OpenAPI document). */
export interface Observability {
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** What every route has: config, the URL policy, logging and metrics, a clock. */
export interface BaseDeps extends Observability {
  readonly config: ApiConfig;
  readonly urlAllowList: AddressPolicy;
  /** Injectable clock for tests. @default Date.now */
  readonly now: () => number;
  /**
   * The request's deadline: toHandler sets it per request, and every AWS call of the route passes it on, so a stalled
   * service turns into a 503 before API Gateway's 30 s (and the Lambda's own timeout). @default none (the sweeper)
   */
  readonly signal?: AbortSignal;
}

/** The AWS adapters, each built only where a route uses it. */
export interface Adapters {
  readonly table: JobTable;
  readonly queue: JobQueueSender;
  readonly bucket: MediaBucket;
}
export type AdapterName = keyof Adapters;

/** What handlers use; built once per Lambda container (or once per local server). */
export interface ApiDeps extends BaseDeps, Adapters {}

/** The deps of a route that uses the adapters `K`. */
export type DepsWith<K extends AdapterName> = BaseDeps & Pick<Adapters, K>;

/** A route's logic: an event in, a structured result out; errors are thrown as ApiError. */
export type RouteLogic<D extends Observability = ApiDeps> = (event: ApiEvent, deps: D) => Promise<ApiResult>;
/** A Lambda handler as API Gateway calls it. */
export type ApiHandler = (event: ApiEvent, context?: Context) => Promise<ApiResult>;

/** Builds every dependency from an environment (contract's apiEnvSchema): the local server and the tests. */
export function createDeps(env: NodeJS.ProcessEnv = process.env): ApiDeps {
  const config = loadConfig(env);
  return {
    ...createBaseDeps(env, config),
    table: jobTableFromEnv(env, config),
    queue: jobQueueFromEnv(env, config),
    bucket: mediaBucketFromEnv(env, config),
  };
}

/** Releases the SDK clients' sockets (local server shutdown, tests). */
export function destroyDeps(deps: ApiDeps): void {
  deps.table.destroy();
  deps.queue.destroy();
  deps.bucket.destroy();
}
