import { z } from 'zod';
import { modelIdSchema } from './job.js';
import { DEFAULT_MAX_OUTPUT_PIXELS } from './limits.js';
import { DEFAULT_MAX_FACES, MAX_FACES_LIMIT } from './job.js';
import { DEFAULT_DETECTOR, DEFAULT_DEVICE, DEFAULT_RESTORE_BATCH_DELAY_MS, DEFAULT_RESTORE_BATCH_FACES, DEFAULT_RESTORER, DEFAULT_THREADS, EXECUTION_DEVICES, MODEL_OPTIONS, servedModelIds, type ModelOption } from './models.js';
import { webhookSecretSchema } from './webhook.js';
import { parseEndpoint } from './url-policy.js';
import { DEFAULT_VIDEO_MAX_BYTES, DEFAULT_VIDEO_MAX_DURATION_SECONDS, DEFAULT_VIDEO_MAX_PIXELS_PER_FRAME } from './video.js';

const intFrom = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const cidrList = z
  .string()
  .default('')
  .transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s.length > 0))
  .pipe(z.array(z.union([z.cidrv4(), z.cidrv6()])));
/**
 * REVIVE_URL_DENY_ENDPOINTS: comma-separated `host:port` endpoints (IP literals), as AddressPolicy's denyEndpoints
 * takes them. Shared by every process that fetches or posts to user-supplied URLs (worker, DLQ and retry consumers).
 */
export const urlDenyEndpointsSchema = z
  .string()
  .default('')
  .transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s.length > 0))
  .pipe(
    z.array(
      z.string().refine((text) => {
        try {
          parseEndpoint(text);
          return true;
        } catch {
          return false;
        }
      }, 'an endpoint: an IP literal and a port (127.0.0.1:4566 or [::1]:4566)'),
    ),
  );
/**
 * An http(s) URL. Not z.url() or WHATWG parsing: both refuse host names whose last label is numeric, such as fauxqs's
 * queue URLs (http://sqs.us-east-1.127.0.0.1:4566/000000000000/jobs); the SDK only passes the queue URL along.
 */
const endpointUrl = z.string().regex(/^https?:\/\/[^\s/?#]+(?:[/?#]\S*)?$/, 'an http(s) URL');
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** The models a worker serves, per job option (what REVIVE_AVAILABLE_MODELS says). */
export type AvailableModels = Readonly<Record<ModelOption, readonly string[]>>;

/**
 * REVIVE_AVAILABLE_MODELS for the API in front of a worker configured with these models (its REVIVE_RESTORER and
 * REVIVE_BG_UPSAMPLER): `restorer:<id>,…,bgUpsampler:<id>,…`, each id one a job may ask for (servedModelIds, less the
 * paths no job option can name). The CDK app sets it from the models the image bakes, the dev stack from its worker's.
 */
export function formatAvailableModels(models: { readonly restorer: string; readonly bgUpsampler?: string | undefined }): string {
  const entries = (option: ModelOption, configured: string | undefined) =>
    configured === undefined ? [] : servedModelIds(configured).filter((id) => modelIdSchema.safeParse(id).success).map((id) => `${option}:${id}`);
  return [...entries('restorer', models.restorer), ...entries('bgUpsampler', models.bgUpsampler)].join(',');
}

/**
 * `restorer:<id>,bgUpsampler:<id>,…` → the ids per option; every entry must name a known option and a model id. An
 * option with no entry serves no named model (an empty value: jobs may name none).
 */
const availableModelsSchema = z
  .string()
  .transform((value, ctx) => {
    const models: Record<ModelOption, string[]> = { restorer: [], bgUpsampler: [] };
    for (const entry of value.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) {
      const [option = '', id = ''] = entry.split(/:(.*)/s);
      if (!(MODEL_OPTIONS as readonly string[]).includes(option) || !modelIdSchema.safeParse(id).success) {
        ctx.addIssue({ code: 'custom', message: `"${entry}" is not <${MODEL_OPTIONS.join('|')}>:<model id>` });
        return z.NEVER;
      }
      models[option as ModelOption].push(id);
    }
    // No restorer listed is valid: a worker loading a file whose name is no model id serves it only to jobs that name none.
    return models as AvailableModels;
  });

/** Default visibility timeout the queue is created with; the worker's heartbeat keeps extending it. */
export const DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 120;
/** Deliveries before SQS moves a message to the dead-letter queue. */
export const DEFAULT_MAX_RECEIVE_COUNT = 4;
/** Fargate allows a task at most 120 s between SIGTERM and SIGKILL. */
export const DEFAULT_SHUTDOWN_TIMEOUT_SECONDS = 110;
/**
 * Seconds a worker keeps its task's scale-in protection after its last job when the queue is empty. 0: protection
 * goes a few seconds after the last job (the CDK stack sets the rent-or-buy window per mode instead). @default 0
 */
export const DEFAULT_WORKER_IDLE_PROTECTION_SECONDS = 0;
/**
 * How long a task stays protected after its last job ends. Back-to-back jobs (the next message arrives within a
 * long poll) then keep protection on instead of toggling it twice per job: UpdateTaskProtection is rate-limited per
 * account, and scale-in waits at most this long for an idle task. Here because the scaling bench
 * (packages/infra/bench) replays the worker's protection with it. @default 3_000
 */
export const DEFAULT_PROTECTION_RELEASE_DELAY_MS = 3_000;
/**
 * Reads of the queue's counts that must all say "not idle" before an idle task lets go instead of keeping its idle
 * window: the counts are approximate, and one read just after the last job may still count its deleted message. The
 * worker reads them the release delay apart; the scaling bench replays the same. @default 3
 */
export const QUEUE_IDLE_READS = 3;
/**
 * The fixed part of a job's budget: decode, detect, the upload and the model's start-up, whatever the photo. The
 * budget is this plus DEFAULT_JOB_TIMEOUT_PER_FACE_SECONDS per face to restore plus
 * DEFAULT_JOB_TIMEOUT_PER_MEGAPIXEL_SECONDS per megapixel of output, set once the faces are found; past it the job
 * fails with JOB_TIMEOUT (permanent) and its pipeline thread is replaced. @default 120
 */
export const DEFAULT_JOB_TIMEOUT_SECONDS = 120;
/**
 * A job's budget per face it restores (align, restorer run, paste): GFPGAN on one loaded vCPU, with room. @default 10
 */
export const DEFAULT_JOB_TIMEOUT_PER_FACE_SECONDS = 10;
/**
 * A job's budget per megapixel of output (background upscale, paste, encode, upload): the 256 MP limit gets 256 s,
 * about 30 times the 61 MP close-up's whole run at upscale 2 on two cores (`pnpm bench`). @default 1
 */
export const DEFAULT_JOB_TIMEOUT_PER_MEGAPIXEL_SECONDS = 1;
/**
 * Slowest URL source body the worker waits for, averaged over each DEFAULT_SOURCE_RATE_WINDOW_SECONDS: below it the
 * job fails SOURCE_TOO_SLOW on its first try (a source that drips or stalls would drip again on every retry).
 * 32 KiB/s is a slow mobile uplink; a photo server is hundreds of times faster. 0 turns the check off. @default 32_768
 */
export const DEFAULT_SOURCE_MIN_BYTES_PER_SECOND = 32 * 1024;
/**
 * Whole URL download, redirects included: past it the job fails SOURCE_TOO_SLOW. The largest source the worker takes
 * (32 MiB) at 5 Mbit/s fits. @default 60
 */
export const DEFAULT_SOURCE_DEADLINE_SECONDS = 60;
/** Job records live this long (DynamoDB TTL). Uploads and results expire with the bucket's lifecycle rules. */
export const DEFAULT_JOB_TTL_DAYS = 7;

/**
 * The worker's environment (`revive serve`, `revive healthcheck`). The infra sets these on the ECS task;
 * the local stack sets them on the child process.
 */
export const workerEnvSchema = z.object({
  REVIVE_QUEUE_URL: endpointUrl,
  REVIVE_TABLE_NAME: z.string().min(1),
  REVIVE_BUCKET_NAME: z.string().min(1),
  /** Folder of model files; @default per-user cache (~/.cache/revive/models) */
  REVIVE_MODELS_DIR: z.string().min(1).optional(),
  /** Catalogue id or path to an .onnx file. @default DEFAULT_RESTORER */
  REVIVE_RESTORER: z.string().min(1).default(DEFAULT_RESTORER),
  /** Detector catalogue id or path. @default DEFAULT_DETECTOR */
  REVIVE_DETECTOR: z.string().min(1).default(DEFAULT_DETECTOR),
  /** Optional background upsampler (catalogue id or path) loaded at start. */
  REVIVE_BG_UPSAMPLER: z.string().min(1).optional(),
  /** @default DEFAULT_DEVICE */
  REVIVE_DEVICE: z.enum(EXECUTION_DEVICES).default(DEFAULT_DEVICE),
  /** onnxruntime intra-op threads; 0 lets onnxruntime choose. @default DEFAULT_THREADS */
  REVIVE_THREADS: intFrom(0, 256).default(DEFAULT_THREADS),
  /** Jobs processed at once. @default 1 */
  REVIVE_CONCURRENCY: intFrom(1, 64).default(1),
  /**
   * Most faces, from any of the concurrent jobs, in one restorer run when the restorer's batch dimension is symbolic;
   * 1 keeps a restorer session per pipeline thread. @default DEFAULT_RESTORE_BATCH_FACES
   */
  REVIVE_RESTORE_BATCH_FACES: intFrom(1, 256).default(DEFAULT_RESTORE_BATCH_FACES),
  /** Longest a face waits for others to fill its restorer batch. @default DEFAULT_RESTORE_BATCH_DELAY_MS */
  REVIVE_RESTORE_BATCH_DELAY_MS: z.coerce.number().min(0).max(1_000).default(DEFAULT_RESTORE_BATCH_DELAY_MS),
  /**
   * Largest output of a job, input pixels × upscale²; bigger jobs end FAILED IMAGE_TOO_LARGE before any pixel is
   * decoded. @default 256_000_000 (a 64 MP photo at upscale 2)
   */
  REVIVE_MAX_OUTPUT_PIXELS: intFrom(1, 2 ** 40).default(DEFAULT_MAX_OUTPUT_PIXELS),
  /**
   * Working memory one job may need (decoded input, upscaled background, alpha, encoder output; see
   * JOB_MEMORY_BYTES_PER_PIXEL); bigger jobs end FAILED IMAGE_TOO_LARGE before any pixel is decoded.
   * @default defaultJobMemoryMiB(REVIVE_CONCURRENCY): (4096 − 2048) / REVIVE_CONCURRENCY, the default CPU task's share
   */
  REVIVE_JOB_MEMORY_MIB: intFrom(64, 1_048_576).optional(),
  /** @default 20 (SQS's maximum long poll) */
  REVIVE_WAIT_TIME_SECONDS: intFrom(0, 20).default(20),
  /** @default 120 */
  REVIVE_VISIBILITY_TIMEOUT_SECONDS: intFrom(2, 43_200).default(DEFAULT_VISIBILITY_TIMEOUT_SECONDS),
  /** How often a running job's visibility is extended. @default a third of the visibility timeout */
  REVIVE_HEARTBEAT_INTERVAL_SECONDS: intFrom(1, 3_600).optional(),
  /** Must equal the queue's redrive maxReceiveCount: on the last delivery a transient failure marks the job FAILED. @default 4 */
  REVIVE_MAX_RECEIVE_COUNT: intFrom(1, 1_000).default(DEFAULT_MAX_RECEIVE_COUNT),
  /**
   * The fixed part of a job's budget, from the moment a pipeline thread takes it (pipeline and result write); once the
   * faces are found the budget becomes this + REVIVE_JOB_TIMEOUT_PER_FACE_SECONDS × faces to restore +
   * REVIVE_JOB_TIMEOUT_PER_MEGAPIXEL_SECONDS × output megapixels. Past it the job FAILS with JOB_TIMEOUT. @default 120
   */
  REVIVE_JOB_TIMEOUT_SECONDS: intFrom(1, 43_200).default(DEFAULT_JOB_TIMEOUT_SECONDS),
  /** A job's budget per face it restores (see REVIVE_JOB_TIMEOUT_SECONDS). @default 10 */
  REVIVE_JOB_TIMEOUT_PER_FACE_SECONDS: z.coerce.number().min(0).max(3_600).default(DEFAULT_JOB_TIMEOUT_PER_FACE_SECONDS),
  /** A job's budget per megapixel of output (see REVIVE_JOB_TIMEOUT_SECONDS). @default 1 */
  REVIVE_JOB_TIMEOUT_PER_MEGAPIXEL_SECONDS: z.coerce.number().min(0).max(3_600).default(DEFAULT_JOB_TIMEOUT_PER_MEGAPIXEL_SECONDS),
  /**
   * Faces restored per photo, the largest first, when a job does not ask for fewer (its `maxFaces`); it also caps
   * what a job may ask for. The others are counted in the record (`facesDetected`, `facesRestored`). @default 50
   */
  REVIVE_MAX_FACES: intFrom(1, MAX_FACES_LIMIT).default(DEFAULT_MAX_FACES),
  /** Largest video a video job reads (upload or URL), in bytes; larger fails VIDEO_TOO_LARGE (the API's code for it). @default 4 GiB (DEFAULT_VIDEO_MAX_BYTES) */
  REVIVE_VIDEO_MAX_BYTES: intFrom(1, 2 ** 40).default(DEFAULT_VIDEO_MAX_BYTES),
  /** Longest video restored, in seconds; longer fails VIDEO_TOO_LONG before any segment runs. @default 600 */
  REVIVE_VIDEO_MAX_DURATION_SECONDS: intFrom(1, 86_400).default(DEFAULT_VIDEO_MAX_DURATION_SECONDS),
  /** Most pixels per video frame; more fails VIDEO_TOO_LARGE before any segment runs. @default 8_294_400 (3840 × 2160) */
  REVIVE_VIDEO_MAX_PIXELS_PER_FRAME: intFrom(1, 2 ** 32).default(DEFAULT_VIDEO_MAX_PIXELS_PER_FRAME),
  /** Frames per video segment (one unit of work on the queue). @default the pipeline's DEFAULT_FRAMES_PER_SEGMENT (300) */
  REVIVE_VIDEO_FRAMES_PER_SEGMENT: intFrom(1, 100_000).optional(),
  /**
   * Slowest URL source body the worker waits for, in bytes per second averaged over 10 s windows; slower (a drip, a
   * stall) fails the job SOURCE_TOO_SLOW on its first try. 0 turns the check off. @default 32_768
   */
  REVIVE_SOURCE_MIN_BYTES_PER_SECOND: intFrom(0, 2 ** 30).default(DEFAULT_SOURCE_MIN_BYTES_PER_SECOND),
  /** Whole URL source download, redirects included; past it the job fails SOURCE_TOO_SLOW. @default 60 */
  REVIVE_SOURCE_DEADLINE_SECONDS: intFrom(1, 3_600).default(DEFAULT_SOURCE_DEADLINE_SECONDS),
  /** Time in-flight jobs get to finish after SIGTERM. @default 110 */
  REVIVE_SHUTDOWN_TIMEOUT_SECONDS: intFrom(0, 3_600).default(DEFAULT_SHUTDOWN_TIMEOUT_SECONDS),
  /**
   * Under ECS: seconds the task keeps its scale-in protection after its last job when it then finds the queue empty
   * (no job waiting, delayed or held by any task): the fleet's last busy task stays for this rent-or-buy window,
   * serving a job sent meanwhile without a cold start, whatever the scaling decides; a task idle while others work lets
   * go after a few seconds, so a surplus can still be stopped. Any whole number here (tests use short windows);
   * production values come from the CDK context key idleProtectionSeconds (60; only 0 or ≥ 60 accepted, as the
   * scaling signal counts on a window of a minute). @default 0 (off)
   */
  REVIVE_IDLE_PROTECTION_SECONDS: intFrom(0, 3_600).default(DEFAULT_WORKER_IDLE_PROTECTION_SECONDS),
  /** Heartbeat file the health check reads. @default /tmp/revive-health.json */
  REVIVE_HEALTH_FILE: z.string().min(1).default('/tmp/revive-health.json'),
  /** @default 7 */
  REVIVE_JOB_TTL_DAYS: intFrom(1, 3_650).default(DEFAULT_JOB_TTL_DAYS),
  /**
   * Webhook signing secret, `whsec_<base64 of 24 to 64 bytes>` (Standard Webhooks; the prefix is optional). ECS
   * injects it from Secrets Manager. @default unset (webhooks go unsigned, and the worker logs so)
   */
  REVIVE_WEBHOOK_SECRET: webhookSecretSchema.optional(),
  /**
   * The webhook-retry queue: a webhook the worker could not deliver in its quick tries is retried from there (a Lambda
   * in AWS), over about a day. @default unset (no durable retries: the quick tries are all)
   */
  REVIVE_WEBHOOK_RETRY_QUEUE_URL: endpointUrl.optional(),
  /**
   * Comma-separated CIDRs that URL sources and webhooks may reach although they are private or loopback
   * (e.g. `127.0.0.2/32`). Only local tests set it; metadata addresses (169.254.169.254, fd00:ec2::254) stay refused.
   * @default '' (none)
   */
  REVIVE_URL_ALLOW_CIDRS: cidrList,
  /**
   * Comma-separated `host:port` endpoints that URL sources and webhooks never reach, whatever REVIVE_URL_ALLOW_CIDRS
   * allows: `pnpm start` lists its own emulators and API, so a loopback allow-list for a test receiver does not open
   * the S3 emulator (which has no authentication) to a job's source URL. One on a loopback address denies its port on
   * every loopback address. @default '' (none)
   */
  REVIVE_URL_DENY_ENDPOINTS: urlDenyEndpointsSchema,
  /** Path-style S3 addressing, for emulators without virtual-hosted buckets. @default false */
  REVIVE_S3_FORCE_PATH_STYLE: bool.default(false),
  /**
   * Endpoint the presigned result URLs in webhooks point at, as the API's REVIVE_S3_PUBLIC_ENDPOINT: the local stack
   * sets both to its /s3 proxy. Never set in AWS. @default the S3 client's endpoint
   */
  REVIVE_S3_PUBLIC_ENDPOINT: endpointUrl.optional(),
  /**
   * The ECS container agent's endpoint, set by ECS itself (Fargate and EC2), never by Revive. When present the
   * worker protects its task from scale-in while jobs run. @default unset (no task protection)
   */
  ECS_AGENT_URI: endpointUrl.optional(),
  /**
   * Treat end of stdin as SIGTERM. The local stack sets it and holds the worker's stdin open, so a worker whose parent
   * was killed outright (kill -9) drains and exits instead of polling dead emulators forever. @default false
   */
  REVIVE_EXIT_ON_STDIN_EOF: bool.default(false),
});
export type WorkerEnv = z.output<typeof workerEnvSchema>;

/** The shortest REVIVE_PRESIGN_TTL_SECONDS outside local mode: a URL must outlive the way to the browser and a part's start. @default 60 */
export const MIN_DEPLOYED_PRESIGN_TTL_SECONDS = 60;

/** The API Lambdas' environment. */
export const apiEnvSchema = z.object({
  REVIVE_QUEUE_URL: endpointUrl,
  REVIVE_TABLE_NAME: z.string().min(1),
  REVIVE_BUCKET_NAME: z.string().min(1),
  /** JWT claim that names the tenant. @default 'sub' */
  REVIVE_TENANT_CLAIM: z.string().min(1).default('sub'),
  /** Local mode: the x-revive-tenant header stands in for the authorizer. Never set in AWS. @default false */
  REVIVE_LOCAL_MODE: bool.default(false),
  /** Largest upload the presigned POST allows. @default 20 MiB */
  REVIVE_UPLOAD_MAX_BYTES: intFrom(1, 5 * 1024 ** 3).default(20 * 1024 * 1024),
  /**
   * The worker's REVIVE_VIDEO_MAX_BYTES: POST /videos refuses a larger upload, and POST /uploads/multipart a larger
   * declared size (or completed object), with 422 VIDEO_TOO_LARGE. @default 4 GiB
   */
  REVIVE_VIDEO_MAX_BYTES: intFrom(1, 2 ** 40).default(DEFAULT_VIDEO_MAX_BYTES),
  /**
   * The worker's REVIVE_MAX_OUTPUT_PIXELS: POST /jobs refuses an upload whose header says its output (pixels ×
   * upscale²) is larger, with 422 IMAGE_TOO_LARGE. Set both to the same value. @default 256_000_000
   */
  REVIVE_MAX_OUTPUT_PIXELS: intFrom(1, 2 ** 40).default(DEFAULT_MAX_OUTPUT_PIXELS),
  /**
   * Lifetime of presigned upload and result URLs, 60 s to 7 days (SigV4's most). Under 60 s (down to 1 s, S3's least)
   * only with REVIVE_LOCAL_MODE, for tests that let URLs expire: a deployed API would hand out URLs that die on the
   * way. @default 900
   */
  REVIVE_PRESIGN_TTL_SECONDS: intFrom(1, 604_800).default(900),
  /** @default 7 */
  REVIVE_JOB_TTL_DAYS: intFrom(1, 3_650).default(DEFAULT_JOB_TTL_DAYS),
  /** Path-style S3 addressing, for emulators without virtual-hosted buckets. @default false */
  REVIVE_S3_FORCE_PATH_STYLE: bool.default(false),
  /** See the worker's REVIVE_URL_ALLOW_CIDRS; the API checks webhook URLs with the same rule. @default '' */
  REVIVE_URL_ALLOW_CIDRS: cidrList,
  /** See the worker's REVIVE_URL_DENY_ENDPOINTS: the API refuses a literal address on one of them with 400 early. @default '' (none) */
  REVIVE_URL_DENY_ENDPOINTS: urlDenyEndpointsSchema,
  /**
   * Endpoint that presigned upload and result URLs point at, when browsers must not reach S3's own endpoint. The
   * local stack sets it to its same-origin S3 proxy (fauxqs has no CORS and no POST uploads). Never set in AWS.
   * @default the S3 client's endpoint
   */
  REVIVE_S3_PUBLIC_ENDPOINT: endpointUrl.optional(),
  /**
   * The models the deployed worker serves (formatAvailableModels: `restorer:gfpgan-1.4,bgUpsampler:efrlfn-x2`): POST /jobs
   * refuses `options.restorer` or `options.bgUpsampler` outside it with 422 UNSUPPORTED_MODEL instead of queueing a
   * job that can only fail. The CDK app and the dev stack set it. @default unset (the worker alone checks)
   */
  REVIVE_AVAILABLE_MODELS: availableModelsSchema.optional(),
}).refine((env) => env.REVIVE_LOCAL_MODE || env.REVIVE_PRESIGN_TTL_SECONDS >= MIN_DEPLOYED_PRESIGN_TTL_SECONDS, {
  path: ['REVIVE_PRESIGN_TTL_SECONDS'],
  message: `must be at least ${MIN_DEPLOYED_PRESIGN_TTL_SECONDS} s unless REVIVE_LOCAL_MODE is set (shorter URLs are for local tests that let them expire)`,
});
export type ApiEnv = z.output<typeof apiEnvSchema>;
