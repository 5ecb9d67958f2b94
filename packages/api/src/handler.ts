// What turns route logic into a Lambda handler, without any AWS client: each Lambda entry (src/lambda/*.ts) adds
// only the adapters its route uses, so its bundle carries only those SDK clients (openapi carries none).
import { AddressPolicy, API_METRIC_DIMENSIONS, API_METRICS, API_SERVICE_NAME, METRICS_NAMESPACE } from '@revive/contract';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { ApiDeps, BaseDeps, DepsWith, AdapterName, RouteLogic, ApiHandler, Observability } from './app.js';
import { loadConfig, type ApiConfig } from './config.js';
import { ApiError } from './errors.js';
import type { ApiResult } from './http/event.js';
import { problemFromError, problemResult } from './http/problem.js';

/** Logger and metrics, named for the function (POWERTOOLS_SERVICE_NAME) or API_SERVICE_NAME; reads no other config. */
export function createObservability(env: NodeJS.ProcessEnv): Observability {
  // An explicit serviceName would win over POWERTOOLS_SERVICE_NAME, so it is passed only as the fallback.
  const serviceName = env.POWERTOOLS_SERVICE_NAME ?? API_SERVICE_NAME;
  return { logger: new Logger({ serviceName }), metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName }) };
}

/** Logger, metrics, config and the address policy: what every route has, built from the environment. */
export function createBaseDeps(env: NodeJS.ProcessEnv, config: ApiConfig = loadConfig(env)): BaseDeps {
  return {
    config,
    urlAllowList: new AddressPolicy(config.REVIVE_URL_ALLOW_CIDRS, { denyEndpoints: config.REVIVE_URL_DENY_ENDPOINTS }),
    ...createObservability(env),
    now: Date.now,
  };
}

/** Builds an adapter from the environment (`jobTableFromEnv`, `jobQueueFromEnv`, `mediaBucketFromEnv`). */
export type AdapterFactory<K extends AdapterName> = (env: NodeJS.ProcessEnv, config: ApiConfig) => ApiDeps[K];

/**
 * A Lambda container's deps: the base plus the given adapters, created at the first request from `env` and then
 * reused. The type only offers the route the adapters it was given.
 */
export function lambdaDeps<K extends AdapterName = never>(
  factories: { readonly [P in K]: AdapterFactory<P> },
  env: NodeJS.ProcessEnv = process.env,
): () => DepsWith<K> {
  let deps: DepsWith<K> | undefined;
  return () => {
    if (deps !== undefined) return deps;
    const base = createBaseDeps(env);
    const adapters = Object.fromEntries(
      (Object.entries(factories) as [K, AdapterFactory<K>][]).map(([name, factory]) => [name, factory(env, base.config)]),
    );
    deps = { ...base, ...adapters } as DepsWith<K>;
    return deps;
  };
}

/**
 * How long one request may spend before it answers: its AWS calls are aborted past it and the route answers 503
 * (SERVICE_UNAVAILABLE, or JOB_STATE_UNKNOWN when a write may have happened). Under the Lambda's timeout (the infra's
 * 10 s), so the caller gets a problem with a code instead of the Lambda being killed, and far under API Gateway's
 * 30 s. A healthy request takes tens of milliseconds. @default 8_000
 */
export const DEFAULT_REQUEST_DEADLINE_MS = 8_000;
/** What a Lambda keeps of its remaining time to answer after the deadline. @default 1_000 */
export const LAMBDA_ANSWER_MARGIN_MS = 1_000;

/** Options of `toHandler`. */
export interface HandlerOptions {
  /** @default DEFAULT_REQUEST_DEADLINE_MS, or less when the Lambda has less time left */
  readonly requestDeadlineMs?: number;
}

/**
 * Turns route logic into a handler: a deadline per request (deps.signal), problem+json for ApiErrors, a logged 500
 * for anything else, one log line and latency/error metrics per request.
 */
export function toHandler<D extends Observability>(route: string, logic: RouteLogic<D>, getDeps: () => D, options: HandlerOptions = {}): ApiHandler {
  return async (event, context) => {
    const deps = getDeps();
    const { logger, metrics } = deps;
    const started = performance.now();
    if (context) logger.addContext(context);
    const left = context ? context.getRemainingTimeInMillis() - LAMBDA_ANSWER_MARGIN_MS : Number.POSITIVE_INFINITY;
    const deadlineMs = Math.max(0, Math.min(options.requestDeadlineMs ?? DEFAULT_REQUEST_DEADLINE_MS, left));
    let result: ApiResult;
    try {
      result = await logic(event, { ...deps, signal: AbortSignal.timeout(deadlineMs) });
    } catch (error) {
      if (error instanceof ApiError) {
        result = problemFromError(error);
        if (error.status >= 500) logger.error('request failed', { route, code: error.code, error: error as Error });
        else logger.info('request refused', { route, code: error.code, detail: error.message });
      } else {
        logger.error('unhandled error', { route, error: error as Error });
        result = problemResult(500, 'INTERNAL', `Unexpected error: ${(error as Error).message ?? String(error)}`);
      }
    }
    const status = result.statusCode ?? 200;
    const single = metrics.singleMetric();
    single.addDimension(API_METRIC_DIMENSIONS.route, route);
    single.addMetric(API_METRICS.latencyMs, MetricUnit.Milliseconds, performance.now() - started);
    if (status >= 400) metrics.addMetric(status >= 500 ? API_METRICS.errors5xx : API_METRICS.errors4xx, MetricUnit.Count, 1);
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    logger.debug('request done', { route, status });
    return result;
  };
}
