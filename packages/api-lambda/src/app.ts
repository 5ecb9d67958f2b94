import { AddressPolicy } from '@revive/contract';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { loadConfig, type ApiConfig } from './config.js';
import { JobQueue } from './aws/job-queue.js';
import { JobTable } from './aws/job-table.js';
import { MediaBucket } from './aws/media-bucket.js';
import { ApiError } from './errors.js';
import type { ApiEvent, ApiResult } from './http/event.js';
import { problemFromError, problemResult } from './http/problem.js';

/** Powertools namespace and service of the API's metrics and logs. */
export const METRICS_NAMESPACE = 'Revive';
export const SERVICE_NAME = 'api';

/** What handlers use; built once per Lambda container (or once per local server). */
export interface ApiDeps {
  readonly config: ApiConfig;
  readonly table: JobTable;
  readonly queue: JobQueue;
  readonly bucket: MediaBucket;
  readonly urlAllowList: AddressPolicy;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Injectable clock for tests. @default Date.now */
  readonly now: () => number;
}

/** A route's logic: an event in, a structured result out; errors are thrown as ApiError. */
export type RouteLogic = (event: ApiEvent, deps: ApiDeps) => Promise<ApiResult>;
/** A Lambda handler as API Gateway calls it. */
export type ApiHandler = (event: ApiEvent, context?: Context) => Promise<ApiResult>;

/**
 * SDK client options read from `env` rather than implicitly from process.env, so one process can run handlers for
 * several environments (tests); in Lambda `env` is process.env and this is what the SDK would read itself.
 */
function sdkOptions(env: NodeJS.ProcessEnv, endpoint: string | undefined) {
  const checksum = (v: string | undefined): 'WHEN_REQUIRED' | 'WHEN_SUPPORTED' | undefined =>
    v === 'WHEN_REQUIRED' || v === 'WHEN_SUPPORTED' ? v : undefined;
  const request = checksum(env.AWS_REQUEST_CHECKSUM_CALCULATION);
  const response = checksum(env.AWS_RESPONSE_CHECKSUM_VALIDATION);
  return {
    ...(env.AWS_REGION === undefined ? {} : { region: env.AWS_REGION }),
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(env.AWS_ACCESS_KEY_ID === undefined || env.AWS_SECRET_ACCESS_KEY === undefined
      ? {}
      : {
          credentials: {
            accessKeyId: env.AWS_ACCESS_KEY_ID,
            secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
            ...(env.AWS_SESSION_TOKEN === undefined ? {} : { sessionToken: env.AWS_SESSION_TOKEN }),
          },
        }),
    ...(request === undefined ? {} : { requestChecksumCalculation: request }),
    ...(response === undefined ? {} : { responseChecksumValidation: response }),
  };
}

/** Builds the dependencies from an environment (contract's apiEnvSchema). */
export function createDeps(env: NodeJS.ProcessEnv = process.env): ApiDeps {
  const config = loadConfig(env);
  const s3Endpoint = config.REVIVE_S3_PUBLIC_ENDPOINT ?? env.AWS_ENDPOINT_URL_S3;
  const presignClient = new S3Client({
    ...sdkOptions(env, undefined),
    forcePathStyle: config.REVIVE_S3_FORCE_PATH_STYLE,
    ...(s3Endpoint === undefined ? {} : { endpoint: s3Endpoint }),
  });
  return {
    config,
    table: new JobTable(config.REVIVE_TABLE_NAME, new DynamoDBClient(sdkOptions(env, env.AWS_ENDPOINT_URL_DYNAMODB))),
    queue: new JobQueue(config.REVIVE_QUEUE_URL, new SQSClient(sdkOptions(env, env.AWS_ENDPOINT_URL_SQS))),
    bucket: new MediaBucket(
      config.REVIVE_BUCKET_NAME,
      presignClient,
      config.REVIVE_S3_PUBLIC_ENDPOINT === undefined
        ? presignClient
        : new S3Client({ ...sdkOptions(env, env.AWS_ENDPOINT_URL_S3), forcePathStyle: config.REVIVE_S3_FORCE_PATH_STYLE }),
    ),
    urlAllowList: new AddressPolicy(config.REVIVE_URL_ALLOW_CIDRS),
    logger: new Logger({ serviceName: SERVICE_NAME }),
    metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME }),
    now: Date.now,
  };
}

/** Releases the SDK clients' sockets (local server shutdown, tests). */
export function destroyDeps(deps: ApiDeps): void {
  deps.table.destroy();
  deps.queue.destroy();
  deps.bucket.destroy();
}

/**
 * Turns route logic into a handler: problem+json for ApiErrors, a logged 500 for anything else, one log line and
 * latency/error metrics per request.
 */
export function toHandler(route: string, logic: RouteLogic, getDeps: () => ApiDeps): ApiHandler {
  return async (event, context) => {
    const deps = getDeps();
    const { logger, metrics } = deps;
    const started = performance.now();
    if (context) logger.addContext(context);
    let result: ApiResult;
    try {
      result = await logic(event, deps);
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
    single.addDimension('route', route);
    single.addMetric('LatencyMs', MetricUnit.Milliseconds, performance.now() - started);
    if (status >= 400) metrics.addMetric(status >= 500 ? 'Errors5xx' : 'Errors4xx', MetricUnit.Count, 1);
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    logger.debug('request done', { route, status });
    return result;
  };
}

let defaults: ApiDeps | undefined;
/** The deps a Lambda container uses, created at the first request from process.env. */
export function defaultDeps(): ApiDeps {
  defaults ??= createDeps(process.env);
  return defaults;
}
