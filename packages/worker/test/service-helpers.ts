// Shared by the service integration tests and the service benchmark: a worker as a real child process, jobs
// enqueued the way the API does it (conditional put, then send), and small test models and images.
import type {} from '@revive/local-aws/vitest-setup';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import {
  DEFAULT_JOB_TTL_DAYS,
  jobOptionsSchema,
  TERMINAL_STATUSES,
  uploadKey,
  type JobMessage,
  type JobOptionsInput,
  type JobRecord,
  type JobSource,
} from '@revive/contract';
import { createReviveResources, localAwsEnv, localClients, type LocalAwsTarget, type ReviveResources } from '@revive/local-aws';
import { photo, sharedDir, writeIdentityRestorer, writeSlowRestorer } from '@revive/pipeline/testing';
const WORKER_DIR = path.resolve(import.meta.dirname, '..');

/** Resources and clients of one test file. */
export interface Stack {
  readonly target: LocalAwsTarget;
  readonly resources: ReviveResources;
  readonly clients: ReturnType<typeof localClients>;
  readonly doc: DynamoDBDocumentClient;
  destroy(): void;
}

export async function createStack(target: LocalAwsTarget, options: { visibilityTimeoutSeconds: number; maxReceiveCount?: number }): Promise<Stack> {
  const resources = await createReviveResources(target, { prefix: `svc-${randomUUID().slice(0, 8)}`, ...options });
  const clients = localClients(target);
  const doc = DynamoDBDocumentClient.from(clients.dynamodb, { marshallOptions: { removeUndefinedValues: true } });
  return {
    target,
    resources,
    clients,
    doc,
    destroy: () => {
      for (const c of Object.values(clients)) c.destroy();
    },
  };
}

/** Puts bytes under a tenant's upload prefix, as a presigned POST would. */
export async function upload(stack: Stack, tenantId: string, bytes: Uint8Array, contentType = 'image/jpeg'): Promise<string> {
  const key = uploadKey(tenantId, randomUUID());
  await stack.clients.s3.send(new PutObjectCommand({ Bucket: stack.resources.bucketName, Key: key, Body: bytes, ContentType: contentType }));
  return key;
}

export interface EnqueueOptions {
  readonly tenantId?: string;
  readonly options?: JobOptionsInput;
  readonly webhookUrl?: string;
  /** Write the record with this status instead of QUEUED (e.g. CANCELED). */
  readonly status?: JobRecord['status'];
}

/** What the API does for POST /jobs: a conditional put of the QUEUED record, then the message. */
export async function enqueue(stack: Stack, source: JobSource, options: EnqueueOptions = {}): Promise<JobMessage> {
  const jobId = randomUUID();
  const tenantId = options.tenantId ?? 'tenant-a';
  const jobOptions = jobOptionsSchema.parse(options.options ?? {});
  const now = new Date();
  const record: JobRecord = {
    jobId,
    tenantId,
    status: options.status ?? 'QUEUED',
    source,
    options: jobOptions,
    attempts: 0,
    createdAt: now.toISOString(),
    expiresAt: Math.floor(now.getTime() / 1000) + DEFAULT_JOB_TTL_DAYS * 86_400,
    ...(options.webhookUrl !== undefined && { webhookUrl: options.webhookUrl }),
  };
  await stack.doc.send(new PutCommand({ TableName: stack.resources.tableName, Item: record, ConditionExpression: 'attribute_not_exists(jobId)' }));
  const message: JobMessage = {
    version: 1,
    jobId,
    tenantId,
    source,
    options: jobOptions,
    enqueuedAt: now.toISOString(),
    ...(options.webhookUrl !== undefined && { webhookUrl: options.webhookUrl }),
  };
  await sendRaw(stack, JSON.stringify(message));
  return message;
}

export async function sendRaw(stack: Stack, body: string): Promise<void> {
  await stack.clients.sqs.send(new SendMessageCommand({ QueueUrl: stack.resources.queueUrl, MessageBody: body }));
}

export async function getRecord(stack: Stack, jobId: string): Promise<JobRecord | undefined> {
  const out = await stack.doc.send(new GetCommand({ TableName: stack.resources.tableName, Key: { jobId }, ConsistentRead: true }));
  return out.Item as JobRecord | undefined;
}

/**
 * Ceiling for a job to reach the state a test waits for, and for a worker's log line about it: a loaded machine (CI
 * runs three test files at once beside a busy loop; a developer may run more) makes a seconds-long job take minutes.
 * Only a failing test ever waits this long. @default 240_000
 */
export const JOB_END_CEILING_MS = 240_000;

/** Polls the record until `done` holds; fails with the last record seen. */
export async function waitForRecord(stack: Stack, jobId: string, done: (r: JobRecord) => boolean, timeoutMs = JOB_END_CEILING_MS): Promise<JobRecord> {
  const deadline = Date.now() + timeoutMs;
  let last: JobRecord | undefined;
  while (Date.now() < deadline) {
    last = await getRecord(stack, jobId);
    if (last && done(last)) return last;
    await sleep(100);
  }
  throw new Error(`job ${jobId} did not reach the expected state in ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

export const isTerminal = (r: JobRecord) => TERMINAL_STATUSES.includes(r.status);

export async function getObjectBytes(stack: Stack, key: string): Promise<{ bytes: Uint8Array; contentType: string | undefined }> {
  const out = await stack.clients.s3.send(new GetObjectCommand({ Bucket: stack.resources.bucketName, Key: key }));
  return { bytes: await out.Body!.transformToByteArray(), contentType: out.ContentType };
}

/** Visible + in-flight messages of a queue (approximate, as SQS reports them). */
export async function queueDepth(stack: Stack, queueUrl: string): Promise<number> {
  const out = await stack.clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
}

/** Receives what reached the dead-letter queue (bodies only). */
export async function drainDlq(stack: Stack, waitTimeSeconds = 1): Promise<string[]> {
  const out = await stack.clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: stack.resources.dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: waitTimeSeconds }));
  return (out.Messages ?? []).map((m) => m.Body ?? '');
}

export { photo, writeIdentityRestorer, writeSlowRestorer };


/** A `revive serve` child process with its JSON log lines. */
export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly logs: Record<string, unknown>[];
  readonly healthFile: string;
  /** Resolves with the first log line that matches. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  readonly exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL if the worker has not exited within `graceMs` (a kill reads as a crash in the exit code). */
  stop(graceMs?: number): Promise<void>;
}

/**
 * How long `stop()` waits for a clean drain before SIGKILL: generous, because on a loaded machine (CI runs three test
 * files at once beside a busy loop) a clean drain can take a while. @default 60_000
 */
export const DEFAULT_STOP_GRACE_MS = 60_000;

export interface WorkerOptions {
  readonly restorer: string;
  readonly healthFile: string;
  readonly env?: Record<string, string>;
}

/** The CLI as the container runs it (`revive serve`), through tsx so the test runs the sources. */
export function reviveCommand(args: readonly string[]): { command: string; args: string[] } {
  return { command: process.execPath, args: ['--import', 'tsx', path.join(WORKER_DIR, 'src', 'cli.ts'), ...args] };
}

/** The webhook signing secret the tests' workers and consumers use (Standard Webhooks' `whsec_` form, 32 bytes). */
export const TEST_WEBHOOK_SECRET = `whsec_${Buffer.from('revive test webhook key, 32 byte').toString('base64')}`;

/** The job budget of test workers (see workerEnv). @default 1_800 */
export const TEST_JOB_TIMEOUT_SECONDS = 1_800;

export function workerEnv(stack: Stack, options: WorkerOptions): Record<string, string> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => v !== undefined && !k.startsWith('REVIVE_') && !k.startsWith('AWS_'))) as Record<string, string>;
  return {
    ...inherited,
    ...localAwsEnv(stack.target, stack.resources),
    REVIVE_MODELS_DIR: path.join(sharedDir(), 'models'),
    REVIVE_RESTORER: options.restorer,
    REVIVE_HEALTH_FILE: options.healthFile,
    REVIVE_THREADS: '1',
    REVIVE_WAIT_TIME_SECONDS: '1',
    REVIVE_HEARTBEAT_INTERVAL_SECONDS: '1',
    REVIVE_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    REVIVE_URL_ALLOW_CIDRS: '127.0.0.2/32',
    POWERTOOLS_METRICS_DISABLED: 'false',
    // The production budget (120 s + 10 s a face) is sized for a task's own vCPUs; three test files and a busy loop on
    // two cores can stretch a slow-restorer job past it, and a JOB_TIMEOUT would fail a test about something else.
    // The budget's own tests set theirs.
    REVIVE_JOB_TIMEOUT_SECONDS: String(TEST_JOB_TIMEOUT_SECONDS),
    ...options.env,
  };
}

/** Starts `revive serve` and resolves once it logged "worker ready". */
export async function startWorkerProcess(stack: Stack, options: WorkerOptions): Promise<WorkerProcess> {
  const { command, args } = reviveCommand(['serve']);
  const child = spawn(command, args, { cwd: WORKER_DIR, env: workerEnv(stack, options), stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  // Powertools writes info to stdout and warn/error to stderr: JSON lines from both become `logs`.
  const lineReader = (onText?: (text: string) => void) => {
    let buffered = '';
    return (chunk: Buffer) => {
      const text = chunk.toString();
      onText?.(text);
      buffered += text;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        try {
          logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          logs.push({ raw: line });
        }
      }
      for (const w of waiters) w();
    };
  };
  child.stdout!.on('data', lineReader());
  child.stderr!.on(
    'data',
    lineReader((text) => {
      stderr += text;
      if (process.env.REVIVE_TEST_VERBOSE) process.stderr.write(text);
    }),
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waitForLog = (match: (line: Record<string, unknown>) => boolean, timeoutMs = 60_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const check = () => {
        const hit = logs.find(match);
        if (hit) {
          cleanup();
          resolve(hit);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no matching log line in ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}; last logs: ${JSON.stringify(logs.slice(-5))}`));
      }, timeoutMs);
      const onExit = () => {
        setTimeout(() => {
          check();
          cleanup();
          reject(new Error(`worker exited before the log line; stderr: ${stderr.slice(-2000)}`));
        }, 50);
      };
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
        child.off('exit', onExit);
      };
      waiters.add(check);
      child.once('exit', onExit);
      check();
    });
  const worker: WorkerProcess = {
    child,
    logs,
    healthFile: options.healthFile,
    waitForLog,
    exited,
    async stop(graceMs = DEFAULT_STOP_GRACE_MS) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
    },
  };
  // Model load under tsx on a loaded machine (several workers starting at once) can take minutes.
  await waitForLog((l) => l.message === 'worker ready', 240_000);
  return worker;
}

/** Runs `revive healthcheck` against a heartbeat file; resolves with its exit code. */
export async function runHealthcheck(healthFile: string): Promise<{ code: number | null; output: string }> {
  const { command, args } = reviveCommand(['healthcheck']);
  const child = spawn(command, args, { cwd: WORKER_DIR, env: { ...process.env, REVIVE_HEALTH_FILE: healthFile }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, output };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
