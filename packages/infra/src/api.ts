import { join } from 'node:path';
import { Duration } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, type ICommandHooks } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { API_ROUTES, apiServiceName, formatAvailableModels, OPENAPI_DOCUMENT_FILE } from '@revive/contract';
import { Construct } from 'constructs';
import { LAMBDA_BUNDLING, putLocalEsbuildOnPath } from './esbuild.js';
import { REPO_ROOT } from './paths.js';

/** The API's handlers, one Lambda each; the names are the entry files in packages/api/src/lambda. */
export const API_HANDLERS = [
  'create-upload',
  'create-multipart-upload',
  'complete-multipart-upload',
  'abort-multipart-upload',
  'sign-multipart-upload-parts',
  'create-job',
  'create-video',
  'create-album',
  'get-job',
  'list-jobs',
  'list-children',
  'cancel-job',
  'openapi',
  'sweep-enqueue',
] as const;
export type ApiHandlerName = (typeof API_HANDLERS)[number];

interface Route {
  readonly path: string;
  readonly method: apigw.HttpMethod;
  readonly handler: ApiHandlerName;
  /** Served without the JWT authorizer. */
  readonly public?: boolean;
}
/** The contract's route table (the local server routes with it too), as HTTP API routes. Only the OpenAPI document is public. */
export const HTTP_API_ROUTES: readonly Route[] = API_ROUTES.map((route) => ({
  path: route.path,
  method: apigw.HttpMethod[route.method],
  handler: route.handler,
  ...(route.public === undefined ? {} : { public: route.public }),
}));

/** The script that builds the OpenAPI document from the contract's route table, from the repository root. */
export const OPENAPI_SCRIPT = 'packages/api/scripts/build-openapi.ts';

/**
 * Builds the OpenAPI document into the openapi Lambda's asset, beside its bundle, from the sources being bundled: the
 * deployed document can't be stale, there is no generated file to commit, and the function carries no zod. The hook
 * runs with the project root as its working directory, under the node that runs the CDK app (tsx for the TypeScript).
 */
export const OPENAPI_DOCUMENT_HOOKS: ICommandHooks = {
  beforeBundling: () => [],
  beforeInstall: () => [],
  afterBundling: (inputDir, outputDir) => [
    `"${process.execPath}" --import tsx "${join(inputDir, OPENAPI_SCRIPT)}" "${join(outputDir, OPENAPI_DOCUMENT_FILE)}"`,
  ],
};

interface Schedule {
  readonly handler: ApiHandlerName;
  /** Minutes between runs (an EventBridge rate expression). */
  readonly rateMinutes: number;
  readonly description: string;
}
/** Handlers EventBridge runs on a schedule instead of a route. */
export const API_SCHEDULES: readonly Schedule[] = [
  {
    handler: 'sweep-enqueue',
    rateMinutes: 1,
    description: 'Revive: send the message of jobs whose create Lambda died between the put and the send (the outbox), and recount albums and videos whose children stopped ending',
  },
];

/**
 * Each route's throttle as a share of the stage's rate and burst. Every route gets its own bucket, so clients polling
 * GET /jobs/{id} or listing jobs are throttled on their own and never starve POST /jobs (front ends should prefer
 * webhooks to polling). A job takes one POST /uploads and one POST /jobs, so those two get the full rate each.
 */
export const ROUTE_THROTTLE_SHARES: Readonly<Record<string, number>> = {
  'POST /jobs': 1,
  'POST /uploads': 1,
  // A video upload takes these once each (its parts go to S3, not the API); a slow one re-signs its parts about once
  // per REVIVE_PRESIGN_TTL_SECONDS (four times an hour at the default 15 minutes).
  'POST /uploads/multipart': 0.2,
  'POST /uploads/multipart/parts': 0.2,
  'POST /uploads/multipart/complete': 0.2,
  'POST /uploads/multipart/abort': 0.2,
  'POST /videos': 0.2,
  'POST /albums': 0.2,
  'GET /jobs/{id}/children': 0.2,
  'GET /jobs/{id}': 1,
  'GET /jobs': 0.2,
  'DELETE /jobs/{id}': 0.2,
  'GET /openapi.json': 0.1,
};

/** API Gateway's own integration limit is 30 s; every handler is a few DynamoDB/S3/SQS calls. */
export const DEFAULT_HANDLER_TIMEOUT_SECONDS = 10;
/** @default 512 */
export const DEFAULT_HANDLER_MEMORY_MIB = 512;
const CORS_MAX_AGE_SECONDS = 600;
/**
 * Response headers a browser script on an allowed origin may read beyond the CORS-safelisted ones: the client backs
 * off by Retry-After where an answer has one (the API's 503s), and POST /jobs answers Location and
 * Idempotent-Replayed. API Gateway adds the CORS headers itself and ignores any a handler returns.
 */
export const CORS_EXPOSE_HEADERS = ['retry-after', 'location', 'idempotent-replayed'] as const;

export interface JobApiProps {
  /** JWT issuer URL (e.g. a Cognito user pool). */
  readonly jwtIssuer: string;
  /** Accepted audiences; at least one. */
  readonly jwtAudience: readonly string[];
  /** Environment every handler gets (apiEnvSchema). */
  readonly environment: Readonly<Record<string, string>>;
  /**
   * The models the worker image bakes and loads (WorkerService's `models`): the handlers get REVIVE_AVAILABLE_MODELS
   * from them, so POST /jobs refuses any other restorer or background upsampler with 422 UNSUPPORTED_MODEL instead of
   * queueing a job that can only fail. @default none (the worker alone checks)
   */
  readonly workerModels?: { readonly restorer: string; readonly bgUpsampler?: string | undefined };
  /** @default [] (no CORS) */
  readonly corsAllowedOrigins?: readonly string[];
  /** Steady-state requests per second on the default stage. */
  readonly throttleRatePerSecond: number;
  /** Burst on the default stage. */
  readonly throttleBurst: number;
  /** Retention of the access log and the functions' logs. */
  readonly logRetention: logs.RetentionDays;
  /** Folder of the Lambda entry modules, one per handler, each importing only what its route uses. @default packages/api/src/lambda */
  readonly handlersDir?: string;
  /** @default DEFAULT_HANDLER_TIMEOUT_SECONDS (10) */
  readonly handlerTimeoutSeconds?: number;
  /** @default DEFAULT_HANDLER_MEMORY_MIB (512) */
  readonly handlerMemoryMiB?: number;
}

/** The HTTP API: a JWT authorizer, CORS, stage throttling and access logs, one NodejsFunction per handler. */
export class JobApi extends Construct {
  public readonly httpApi: apigw.HttpApi;
  public readonly stage: apigw.HttpStage;
  public readonly authorizer: HttpJwtAuthorizer;
  public readonly accessLogGroup: logs.LogGroup;
  public readonly functions: Readonly<Record<ApiHandlerName, NodejsFunction>>;
  /** Each function's log group; grants.ts lets only that function write to it. */
  public readonly functionLogGroups: Readonly<Record<ApiHandlerName, logs.LogGroup>>;
  /** The EventBridge rules of the scheduled handlers (API_SCHEDULES), by handler. */
  public readonly schedules: Readonly<Partial<Record<ApiHandlerName, events.Rule>>>;

  constructor(scope: Construct, id: string, props: JobApiProps) {
    super(scope, id);
    if (props.jwtAudience.length === 0) throw new Error('JobApi: jwtAudience needs at least one audience');
    if (!props.jwtIssuer.startsWith('https://')) throw new Error(`JobApi: jwtIssuer must be an https URL (got ${props.jwtIssuer})`);
    if (props.throttleRatePerSecond <= 0 || props.throttleBurst < 1) {
      throw new Error('JobApi: throttleRatePerSecond must be > 0 and throttleBurst ≥ 1');
    }
    putLocalEsbuildOnPath();
    const handlersDir = props.handlersDir ?? join(REPO_ROOT, 'packages/api/src/lambda');
    const origins = props.corsAllowedOrigins ?? [];

    const functions = {} as Record<ApiHandlerName, NodejsFunction>;
    const logGroups = {} as Record<ApiHandlerName, logs.LogGroup>;
    for (const name of API_HANDLERS) {
      const logGroup = new logs.LogGroup(this, `${name}-logs`, { retention: props.logRetention });
      logGroups[name] = logGroup;
      // An own role instead of AWSLambdaBasicExecutionRole: that managed policy lets a function write any log group.
      const role = new iam.Role(this, `${name}-role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `Revive API handler ${name}`,
      });
      functions[name] = new NodejsFunction(this, name, {
        role,
        entry: join(handlersDir, `${name}.ts`),
        handler: 'handler',
        runtime: lambda.Runtime.NODEJS_22_X,
        architecture: lambda.Architecture.ARM_64,
        memorySize: props.handlerMemoryMiB ?? DEFAULT_HANDLER_MEMORY_MIB,
        timeout: Duration.seconds(props.handlerTimeoutSeconds ?? DEFAULT_HANDLER_TIMEOUT_SECONDS),
        logGroup,
        projectRoot: REPO_ROOT,
        depsLockFilePath: join(REPO_ROOT, 'pnpm-lock.yaml'),
        environment: {
          ...props.environment,
          ...(props.workerModels === undefined ? {} : { REVIVE_AVAILABLE_MODELS: formatAvailableModels(props.workerModels) }),
          // Read by Powertools (the handlers pass no serviceName of their own): logs and metrics split per function.
          POWERTOOLS_SERVICE_NAME: apiServiceName(name),
        },
        // The shared bundling (local esbuild, ESM, the SDK bundled, no source maps: measured on import of these
        // bundles, reading the maps cost +47%, median of 11, 50–85 ms per cold start, for stack traces that the
        // problem+json code and the log line's route and error already locate), without keepNames: the minified
        // bundle without it was the fastest cold start measured.
        bundling: { ...LAMBDA_BUNDLING, keepNames: false, ...(name === 'openapi' ? { commandHooks: OPENAPI_DOCUMENT_HOOKS } : {}) },
      });
    }
    this.functions = functions;
    this.functionLogGroups = logGroups;

    this.authorizer = new HttpJwtAuthorizer('JwtAuthorizer', props.jwtIssuer, {
      jwtAudience: [...props.jwtAudience],
      identitySource: ['$request.header.Authorization'],
    });

    this.httpApi = new apigw.HttpApi(this, 'HttpApi', {
      description: 'Revive job API',
      createDefaultStage: false,
      ...(origins.length > 0
        ? {
            corsPreflight: {
              allowOrigins: [...origins],
              allowMethods: [
                apigw.CorsHttpMethod.GET,
                apigw.CorsHttpMethod.POST,
                apigw.CorsHttpMethod.DELETE,
                apigw.CorsHttpMethod.OPTIONS,
              ],
              allowHeaders: ['authorization', 'content-type', 'idempotency-key'],
              exposeHeaders: [...CORS_EXPOSE_HEADERS],
              maxAge: Duration.seconds(CORS_MAX_AGE_SECONDS),
            },
          }
        : {}),
    });

    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogs', { retention: props.logRetention });
    this.stage = new apigw.HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.throttleRatePerSecond, burstLimit: props.throttleBurst },
      accessLogSettings: { destination: new apigw.LogGroupLogDestination(this.accessLogGroup) },
    });
    // Per-route throttles: HttpStage has no L2 property for route settings.
    (this.stage.node.defaultChild as apigw.CfnStage).routeSettings = Object.fromEntries(
      HTTP_API_ROUTES.map((route) => {
        const key = `${route.method} ${route.path}`;
        const share = ROUTE_THROTTLE_SHARES[key] ?? 1;
        return [key, { ThrottlingRateLimit: props.throttleRatePerSecond * share, ThrottlingBurstLimit: Math.max(1, Math.floor(props.throttleBurst * share)) }];
      }),
    );

    for (const route of HTTP_API_ROUTES) {
      // The stage's route settings name these routes: CloudFormation must create them first.
      this.stage.node.addDependency(...this.httpApi.addRoutes({
        path: route.path,
        methods: [route.method],
        integration: new HttpLambdaIntegration(`${route.handler}-${route.method}`, functions[route.handler]),
        authorizer: route.public ? new apigw.HttpNoneAuthorizer() : this.authorizer,
      }));
    }

    const schedules: Partial<Record<ApiHandlerName, events.Rule>> = {};
    for (const schedule of API_SCHEDULES) {
      // EventBridge invokes asynchronously, so Lambda itself would retry a failed run twice more on top of the
      // target's retryAttempts: 0; the next scheduled run is the retry.
      functions[schedule.handler].configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(schedule.rateMinutes) });
      schedules[schedule.handler] = new events.Rule(this, `${schedule.handler}-schedule`, {
        description: schedule.description,
        schedule: events.Schedule.rate(Duration.minutes(schedule.rateMinutes)),
        // A missed run is covered by the next one; retrying an old event only makes runs overlap.
        targets: [new targets.LambdaFunction(functions[schedule.handler], { retryAttempts: 0, maxEventAge: Duration.minutes(schedule.rateMinutes) })],
      });
    }
    this.schedules = schedules;
  }

  /** The API's base URL. */
  get url(): string {
    return this.stage.url;
  }
}
