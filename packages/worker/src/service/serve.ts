import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Consumer } from 'sqs-consumer';
import { defaultJobMemoryMiB } from '@revive/contract';
import { PipelineThreadPool, messageOf } from '@revive/pipeline';
import { heartbeatIntervalMs, type WorkerConfig } from './config.js';
import { DEFAULT_JOB_WEDGE_MARGIN_MS, HealthReporter } from './health.js';
import { jobBudget } from './job-budget.js';
import { JobRunner } from './job-runner.js';
import { JobStore } from './job-store.js';
import { ObjectStore } from './object-store.js';
import { JobQueueConsumer } from './queue.js';
import { DEFAULT_MAX_SOURCE_BYTES, SafeHttpClient } from './source-fetch.js';
import { TaskProtection } from './task-protection.js';
import { Telemetry } from './telemetry.js';
import { WebhookSender } from './webhook.js';
import { taskTmpDirPrefix } from './task-tmp-dir.js';
import { WebhookDispatcher, WebhookRetryQueue } from './webhook-retries.js';

/** Time kept back from the shutdown budget to release unfinished jobs and flush logs. @default 3_000 */
export const DEFAULT_SHUTDOWN_RESERVE_MS = 3_000;
export { DEFAULT_JOB_WEDGE_MARGIN_MS };
/** Slack on top of the long poll before an SDK call to SQS counts as hung. @default 10_000 */
export const DEFAULT_POLL_REQUEST_SLACK_MS = 10_000;

/** What a shutdown did. */
export interface ShutdownSummary {
  /** Jobs that finished after SIGTERM. */
  readonly drained: number;
  /** Jobs handed back to the queue unfinished (visibility 0, lease cleared). */
  readonly released: number;
}

/** A running worker. */
export interface RunningWorker {
  readonly workerId: string;
  readonly modelLoadMs: number;
  /** Stop polling, let running jobs finish within REVIVE_SHUTDOWN_TIMEOUT_SECONDS, release the rest. Idempotent. */
  shutdown(reason: string): Promise<ShutdownSummary>;
}

/**
 * Starts the queue worker: heartbeat file first (so the health check can tell "loading" from "dead"), then the
 * models (once, for every job), then one sqs-consumer per slot. Throws the model error when models fail to
 * load, after recording it in the heartbeat file.
 */
export async function startWorker(config: WorkerConfig, telemetry: Telemetry = new Telemetry()): Promise<RunningWorker> {
  const log = telemetry.logger;
  const workerId = `${os.hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
  log.appendKeys({ workerId });
  const budgetSettings = {
    baseSeconds: config.REVIVE_JOB_TIMEOUT_SECONDS,
    perFaceSeconds: config.REVIVE_JOB_TIMEOUT_PER_FACE_SECONDS,
    perMegapixelSeconds: config.REVIVE_JOB_TIMEOUT_PER_MEGAPIXEL_SECONDS,
  };
  const largestBudget = jobBudget(budgetSettings, { faces: config.REVIVE_MAX_FACES, outputPixels: config.REVIVE_MAX_OUTPUT_PIXELS });
  const health = new HealthReporter({
    file: config.REVIVE_HEALTH_FILE,
    concurrency: config.REVIVE_CONCURRENCY,
    waitTimeSeconds: config.REVIVE_WAIT_TIME_SECONDS,
    // A job ends at its budget, so a slot busy for longer than the largest budget plus a margin is truly stuck.
    // A parent's step, whose budget grows with its bytes and frames, raises its own slot's limit (jobBudgetSet).
    jobWedgedAfterMs: largestBudget.seconds * 1000 + DEFAULT_JOB_WEDGE_MARGIN_MS,
    jobWedgeMarginMs: DEFAULT_JOB_WEDGE_MARGIN_MS,
  });
  health.start();
  // onnxruntime's bundled telemetry SDK writes mat-debug-<pid>.log (and .ses) into $TMPDIR, /tmp when unset. Native
  // getenv reads the process environment, which this assignment changes before any pipeline thread loads onnxruntime.
  const taskTmpDir = await mkdtemp(path.join(os.tmpdir(), taskTmpDirPrefix(process.pid)));
  process.env.TMPDIR = taskTmpDir;

  const loadStarted = performance.now();
  let pipeline: PipelineThreadPool;
  try {
    // One pipeline thread per slot, so jobs compute in parallel and this thread stays free for the heartbeats,
    // the health file and the polls. Each thread holds its own models: memory ≈ REVIVE_CONCURRENCY × the models
    // (GFPGAN ≈ 325 MB of weights each). REVIVE_THREADS is onnxruntime's intra-op threads per pipeline thread.
    // Resolves only once every thread has loaded its models, so the health file says "loaded" only then.
    pipeline = await PipelineThreadPool.create({
      threadCount: config.REVIVE_CONCURRENCY,
      ...(config.REVIVE_MODELS_DIR !== undefined && { modelsDir: config.REVIVE_MODELS_DIR }),
      detector: config.REVIVE_DETECTOR,
      restorer: config.REVIVE_RESTORER,
      ...(config.REVIVE_BG_UPSAMPLER !== undefined && { bgUpsampler: config.REVIVE_BG_UPSAMPLER }),
      device: config.REVIVE_DEVICE,
      threads: config.REVIVE_THREADS,
      // With a restorer whose batch dimension is symbolic and a batch above 1, one restorer thread runs the faces of
      // every slot's job in batches, and the pipeline threads hold no restorer of their own.
      maxBatchFaces: config.REVIVE_RESTORE_BATCH_FACES,
      maxBatchDelayMs: config.REVIVE_RESTORE_BATCH_DELAY_MS,
      // Jobs over these fail IMAGE_TOO_LARGE from the header alone: the memory is the task's share per running job.
      maxOutputPixels: config.REVIVE_MAX_OUTPUT_PIXELS,
      jobMemoryMiB: config.REVIVE_JOB_MEMORY_MIB ?? defaultJobMemoryMiB(config.REVIVE_CONCURRENCY),
      // Models are baked into the image; a task that downloads 325 MB at every start is a slow, flaky start.
      download: false,
    });
  } catch (error) {
    const message = messageOf(error);
    await rm(taskTmpDir, { recursive: true, force: true }).catch(() => undefined);
    await health.modelLoadFailed(message);
    health.stop();
    log.error('models failed to load', { error: message, restorer: config.REVIVE_RESTORER, detector: config.REVIVE_DETECTOR, modelsDir: config.REVIVE_MODELS_DIR });
    throw error;
  }
  const modelLoadMs = Math.round(performance.now() - loadStarted);
  health.modelsLoaded(modelLoadMs);
  telemetry.modelsLoaded(modelLoadMs);
  const batching = pipeline.batching;
  log.info('models loaded', {
    modelLoadMs,
    models: pipeline.models,
    device: config.REVIVE_DEVICE,
    concurrency: config.REVIVE_CONCURRENCY,
    restoreBatching: batching === undefined ? 'off' : { maxBatchFaces: batching.maxBatchFaces, maxBatchDelayMs: batching.maxBatchDelayMs },
  });
  // Asked for, but the model's batch dimension is fixed at 1: say so, or the setting would look like it had no effect.
  if (batching === undefined && config.REVIVE_RESTORE_BATCH_FACES > 1) {
    log.warn('restore batching is off: the restorer takes a batch of 1 only', { restorer: config.REVIVE_RESTORER, REVIVE_RESTORE_BATCH_FACES: config.REVIVE_RESTORE_BATCH_FACES });
  }

  // With an endpoint override (AWS_ENDPOINT_URL_SQS: emulators, VPC endpoints) that endpoint must win over the
  // queue URL's host, which an emulator may name as an unresolvable *.localhost; in AWS the queue URL is used.
  const useQueueUrlAsEndpoint = !(process.env.AWS_ENDPOINT_URL_SQS ?? process.env.AWS_ENDPOINT_URL);
  const sqs = new SQSClient({ useQueueUrlAsEndpoint });
  // Long polls get their own client: shutdown aborts them without aborting deletes and visibility changes.
  const pollSqs = new SQSClient({ useQueueUrlAsEndpoint, requestHandler: { requestTimeout: config.REVIVE_WAIT_TIME_SECONDS * 1000 + DEFAULT_POLL_REQUEST_SLACK_MS } });
  const dynamodb = new DynamoDBClient({});
  const s3 = new S3Client({ forcePathStyle: config.REVIVE_S3_FORCE_PATH_STYLE });
  // Webhook result URLs must open where GET /jobs/{id}'s do (locally the API's /s3 proxy, not the emulator).
  const presignS3 = config.REVIVE_S3_PUBLIC_ENDPOINT === undefined ? s3 : new S3Client({ forcePathStyle: config.REVIVE_S3_FORCE_PATH_STYLE, endpoint: config.REVIVE_S3_PUBLIC_ENDPOINT });
  const http = new SafeHttpClient({
    allowCidrs: config.REVIVE_URL_ALLOW_CIDRS,
    denyEndpoints: config.REVIVE_URL_DENY_ENDPOINTS,
    maxBytes: DEFAULT_MAX_SOURCE_BYTES,
    minBytesPerSecond: config.REVIVE_SOURCE_MIN_BYTES_PER_SECOND,
    deadlineMs: config.REVIVE_SOURCE_DEADLINE_SECONDS * 1000,
  });
  if (!config.REVIVE_WEBHOOK_SECRET) log.warn('REVIVE_WEBHOOK_SECRET is not set: webhooks are sent unsigned');
  const queue = new JobQueueConsumer(config.REVIVE_QUEUE_URL, sqs);
  const store = new JobStore(config.REVIVE_TABLE_NAME, dynamodb);
  if (config.REVIVE_WEBHOOK_RETRY_QUEUE_URL === undefined) log.warn('REVIVE_WEBHOOK_RETRY_QUEUE_URL is not set: webhooks get only their quick attempts');
  const webhooks = new WebhookDispatcher({
    sender: new WebhookSender(http, { secret: config.REVIVE_WEBHOOK_SECRET }),
    store,
    retries: config.REVIVE_WEBHOOK_RETRY_QUEUE_URL === undefined ? undefined : new WebhookRetryQueue(config.REVIVE_WEBHOOK_RETRY_QUEUE_URL, sqs),
    telemetry,
  });
  // Scale-in then picks idle tasks instead of SIGTERMing one mid-job; a no-op outside ECS (no ECS_AGENT_URI). The
  // fleet's last busy task also holds the idle window (the rent-or-buy wait before the fleet reaches zero).
  const protection = new TaskProtection({
    agentUri: config.ECS_AGENT_URI,
    logger: log,
    idleProtectionMs: config.REVIVE_IDLE_PROTECTION_SECONDS * 1000,
    queueIdle: (signal) => queue.isIdle(signal),
  });
  const runner = new JobRunner(
    {
      pipeline,
      store,
      objects: new ObjectStore(config.REVIVE_BUCKET_NAME, s3, presignS3),
      queue,
      http,
      webhooks,
      telemetry,
      health,
      onActiveChange: (count) => protection.jobsRunning(count),
    },
    {
      workerId,
      visibilityTimeoutSeconds: config.REVIVE_VISIBILITY_TIMEOUT_SECONDS,
      heartbeatIntervalMs: heartbeatIntervalMs(config),
      maxReceiveCount: config.REVIVE_MAX_RECEIVE_COUNT,
      jobTtlDays: config.REVIVE_JOB_TTL_DAYS,
      maxSourceBytes: DEFAULT_MAX_SOURCE_BYTES,
      jobTimeoutSeconds: config.REVIVE_JOB_TIMEOUT_SECONDS,
      concurrency: config.REVIVE_CONCURRENCY,
      jobTimeoutPerFaceSeconds: config.REVIVE_JOB_TIMEOUT_PER_FACE_SECONDS,
      jobTimeoutPerMegapixelSeconds: config.REVIVE_JOB_TIMEOUT_PER_MEGAPIXEL_SECONDS,
      maxFaces: config.REVIVE_MAX_FACES,
      // Removed with the rest of the task's temporary folder at shutdown; each job removes its own file.
      spoolDir: taskTmpDir,
      restorer: config.REVIVE_RESTORER,
      bgUpsampler: config.REVIVE_BG_UPSAMPLER,
      video: {
        maxBytes: config.REVIVE_VIDEO_MAX_BYTES,
        maxDurationSeconds: config.REVIVE_VIDEO_MAX_DURATION_SECONDS,
        maxPixelsPerFrame: config.REVIVE_VIDEO_MAX_PIXELS_PER_FRAME,
        ...(config.REVIVE_VIDEO_FRAMES_PER_SEGMENT !== undefined && { framesPerSegment: config.REVIVE_VIDEO_FRAMES_PER_SEGMENT }),
        workDir: path.join(taskTmpDir, 'video'),
      },
    },
  );
  const consumers: Consumer[] = Array.from({ length: config.REVIVE_CONCURRENCY }, (_, slot) =>
    queue.createSlotConsumer(
      {
        slot,
        waitTimeSeconds: config.REVIVE_WAIT_TIME_SECONDS,
        visibilityTimeoutSeconds: config.REVIVE_VISIBILITY_TIMEOUT_SECONDS,
        handle: (message, s) => runner.handle(message, s),
        onPoll: (s) => health.polled(s),
        onError: (error, s) => {
          if (error.name !== 'AbortError' && !/aborted/i.test(error.message)) log.warn('poll error', { slot: s, error: error.message });
        },
      },
      pollSqs,
    ),
  );
  for (const consumer of consumers) consumer.start();
  log.info('worker ready', { queueUrl: config.REVIVE_QUEUE_URL, waitTimeSeconds: config.REVIVE_WAIT_TIME_SECONDS, visibilityTimeoutSeconds: config.REVIVE_VISIBILITY_TIMEOUT_SECONDS, taskProtection: protection.active });

  let stopping: Promise<ShutdownSummary> | undefined;
  const shutdown = async (reason: string): Promise<ShutdownSummary> => {
    const started = Date.now();
    const budgetMs = config.REVIVE_SHUTDOWN_TIMEOUT_SECONDS * 1000;
    log.info('shutting down: polling stopped, waiting for running jobs', { reason, running: runner.activeCount, budgetMs });
    runner.startDraining();
    health.draining();
    for (const consumer of consumers) consumer.stop({ abort: true });
    const running = runner.activeCount;
    const allDone = await runner.waitForActive(Math.max(0, budgetMs - DEFAULT_SHUTDOWN_RESERVE_MS));
    const released = allDone ? 0 : await runner.releaseActive();
    // After the drain: nothing of ours runs any more, whatever ECS decides next.
    await protection.close();
    await runner.waitForWebhooks(Math.max(0, budgetMs - DEFAULT_SHUTDOWN_RESERVE_MS - (Date.now() - started)));
    health.stop();
    await health.flush();
    await http.close().catch(() => undefined);
    for (const client of [sqs, pollSqs, dynamodb, s3]) client.destroy();
    // Released jobs may still be computing: their threads exit after the native run they are in (one stage at most),
    // and only then does this resolve, so the process exits with its own code rather than abort inside onnxruntime.
    await pipeline.dispose().catch(() => undefined);
    await rm(taskTmpDir, { recursive: true, force: true }).catch(() => undefined);
    const summary = { drained: running - released, released };
    log.info('shutdown complete', { ...summary, ms: Date.now() - started });
    return summary;
  };
  return {
    workerId,
    modelLoadMs,
    shutdown: (reason) => (stopping ??= shutdown(reason)),
  };
}
