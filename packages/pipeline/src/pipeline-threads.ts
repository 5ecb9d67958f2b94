// The restoration pipeline on worker threads, so the caller's event loop stays free while images compute:
// onnxruntime-node's session.run and the TypeScript stages (align, paste, Lanczos) are synchronous CPU work that
// would otherwise stall every timer, heartbeat and poll of the process for the length of a job.
//
// One module holds both sides. The main side is `PipelineThreadPool`; a thread is this same module (under tsx)
// or the chunk of the bundle that holds it (dist/, whose cli.ts checks `isPipelineThread()` before running the CLI)
// started again with `workerData` marking it as a pipeline thread (thread-start.ts). Errors cross between the two as
// thread-errors.ts writes them; a thread collects its garbage as gc-policy.ts says.
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, workerData, type MessagePort, type Transferable, type Worker } from 'node:worker_threads';
import { PermanentError, RetryableError, messageOf } from './errors.js';
import { createGcPolicy } from './gc-policy.js';
import {
  DEFAULT_DETECTOR,
  DEFAULT_RESTORER,
  RestorationPipeline,
  type DetectionSummary,
  type FrameOptions,
  type FrameResult,
  type PipelineConfig,
  type ProcessOptions,
  type ProcessResult,
} from './pipeline.js';
import type { DetectedFace, RgbImage } from './types.js';
import { defaultModelsDir, resolveModel } from './models.js';
import { DEFAULT_DEVICE } from './defaults.js';
import { deserializeError, serializeError, type SerializedError } from './thread-errors.js';
import { awaitThreadReady, startThread } from './thread-start.js';
import { DEFAULT_RESTORE_BATCH_DELAY_MS, DEFAULT_RESTORE_BATCH_FACES } from './restore-batch.js';
import { RemoteRestorer, RestorerThread, runRestorerThread, type RestorerInfo, type RestorerThreadConfig } from './restorer-thread.js';

export { DEFAULT_RELEASE_AFTER_OUTPUT_PIXELS } from './gc-policy.js';

/** What the service needs of a pipeline; `RestorationPipeline` (in-process) and `PipelineThreadPool` both fit. */
export interface RestorationService {
  /** Ids or paths of the loaded models. */
  readonly models: RestorationPipeline['models'];
  /**
   * decode → … → encode. Fails with the same WorkerError classes and codes as `RestorationPipeline.process`, or with
   * `run.signal`'s reason once it aborts (the pool then stops the job's thread and starts a new one).
   */
  process(input: Uint8Array, options?: ProcessOptions, run?: ProcessRun): Promise<ProcessResult>;
  /** The detect stage alone on a raw frame (`RestorationPipeline.detectFrame`); the frame is not moved. */
  detectFrame(frame: RgbImage, options?: Pick<ProcessOptions, 'scoreThreshold'>, run?: ProcessRun): Promise<DetectedFace[]>;
  /**
   * The raw-frame entry (`RestorationPipeline.processFrame`). The pool moves the frame's buffer to its thread when the
   * view covers all of it, leaving `frame.data` empty here.
   */
  processFrame(frame: RgbImage, options?: FrameOptions, run?: ProcessRun): Promise<FrameResult>;
  /** Releases the models (and, for the pool, its threads). */
  dispose(): Promise<void>;
}

/** Per-job controls that are not pipeline options. */
export interface ProcessRun {
  /** Aborting fails the job at once with the signal's reason; its thread exits at its next JavaScript turn and is replaced. */
  readonly signal?: AbortSignal;
  /** Called when a thread takes the job (not while it waits for one): where a job's own time starts. */
  readonly onStarted?: () => void;
  /** Called once the job's faces are found, before any is restored (`ProcessEvents.onDetected`). */
  readonly onDetected?: (detection: DetectionSummary) => void;
}

/** @default 1 */
export const DEFAULT_THREAD_COUNT = 1;
/** Time an idle thread gets to release its onnxruntime sessions at `dispose()` before it is told to exit without. @default 5_000 */
export const DEFAULT_THREAD_DISPOSE_TIMEOUT_MS = 5_000;
/**
 * How long `dispose()` waits for a busy thread to finish its native run and exit. A run that never returns (a hung
 * kernel) must not hold the shutdown forever; past this the pool resolves and leaves the thread (the process may
 * then abort on exit, which a stuck task would meet anyway when ECS kills it). @default 120_000
 */
export const DEFAULT_BUSY_THREAD_DISPOSE_TIMEOUT_MS = 120_000;
/** First wait before a failed replacement thread is started again; doubles per failure. @default 1_000 */
export const DEFAULT_REPLACE_RETRY_MS = 1_000;
/** Longest wait between replacement attempts. @default 60_000 */
export const DEFAULT_REPLACE_RETRY_MAX_MS = 60_000;

/** Pool options: the in-process pipeline's, less the download progress callback (functions can't cross threads). */
export interface PipelineThreadPoolConfig extends Omit<PipelineConfig, 'onDownloadProgress'> {
  /**
   * Worker threads, each with its own copy of every model: memory grows by the models' size per thread (GFPGAN
   * v1.4 alone is ≈ 325 MB of weights, plus onnxruntime's arenas). @default DEFAULT_THREAD_COUNT
   */
  readonly threadCount?: number;
  /**
   * onnxruntime intra-op threads per worker thread. 0 lets each session use every core, which with several
   * worker threads oversubscribes the CPU, so 0 means `availableParallelism() / threadCount` (at least 1) when
   * there is more than one thread. @default 0
   */
  readonly threads?: number;
  /**
   * Most faces, from any of the pool's jobs, in one run of the restorer (restore-batch.ts). Above 1 and with a
   * restorer whose batch dimension is symbolic, one restorer thread holds the only restorer session and the pipeline
   * threads send it their aligned faces; with 1, or a batch-1 model, each thread restores its own faces.
   * @default DEFAULT_RESTORE_BATCH_FACES
   */
  readonly maxBatchFaces?: number;
  /** Longest a face waits for others to share its batch. @default DEFAULT_RESTORE_BATCH_DELAY_MS */
  readonly maxBatchDelayMs?: number;
}

/** How the restorer's batches went since the pool started (`PipelineThreadPool.batching`). */
export interface BatchingStats {
  readonly maxBatchFaces: number;
  readonly maxBatchDelayMs: number;
  /** Restorer runs. */
  readonly batches: number;
  /** Faces restored over those runs. */
  readonly faces: number;
  readonly largestBatch: number;
  /** Time the restorer's model ran, summed over the batches: against the wall time, how busy it was kept. */
  readonly runMs: number;
  /** Batch outputs written into a buffer a pipeline thread handed back, instead of a new one. */
  readonly outputsReused: number;
}

const THREAD_MARKER = 'revive-pipeline-thread';
const RESTORER_MARKER = 'revive-restorer-thread';

interface ThreadData {
  readonly marker: typeof THREAD_MARKER;
  readonly config: PipelineConfig;
  /** The shared restorer, when faces are batched across jobs: the thread loads no restorer of its own. */
  readonly restorer?: { readonly port: MessagePort; readonly info: RestorerInfo };
}

interface RestorerThreadData {
  readonly marker: typeof RESTORER_MARKER;
  readonly config: RestorerThreadConfig;
}

type ToThread =
  | { readonly type: 'process'; readonly id: number; readonly input: Uint8Array; readonly options: ProcessOptions }
  | { readonly type: 'detect-frame'; readonly id: number; readonly frame: RgbImage; readonly options: Pick<ProcessOptions, 'scoreThreshold'> }
  | { readonly type: 'process-frame'; readonly id: number; readonly frame: RgbImage; readonly options: FrameOptions }
  | { readonly type: 'dispose' }
  // Ends the thread at its next turn of the event loop, between two native runs: see `stopThread`.
  | { readonly type: 'exit' };

type FromThread =
  | { readonly type: 'ready'; readonly models: RestorationPipeline['models'] }
  | { readonly type: 'load-failed'; readonly error: SerializedError }
  | { readonly type: 'detected'; readonly id: number; readonly detection: DetectionSummary }
  | { readonly type: 'result'; readonly id: number; readonly result: ProcessResult | FrameResult | DetectedFace[] }
  | { readonly type: 'failed'; readonly id: number; readonly error: SerializedError };

function countBatch(stats: BatchingState['stats'], faces: number, runMs: number, outputsReused: number): void {
  stats.batches++;
  stats.outputsReused += outputsReused;
  stats.runMs += runMs;
  stats.faces += faces;
  stats.largestBatch = Math.max(stats.largestBatch, faces);
}

/** True inside a thread started by `PipelineThreadPool`: the bundled CLI must not run its command there. */
export function isPipelineThread(): boolean {
  return !isMainThread && (isThreadData(workerData) || isRestorerThreadData(workerData));
}

function isRestorerThreadData(data: unknown): data is RestorerThreadData {
  return typeof data === 'object' && data !== null && (data as { marker?: unknown }).marker === RESTORER_MARKER;
}

function isThreadData(data: unknown): data is ThreadData {
  return typeof data === 'object' && data !== null && (data as { marker?: unknown }).marker === THREAD_MARKER;
}

/** A view's buffer can move only when the view covers all of it (Buffer's shared 8 KiB pool never can). */
function ownsBuffer(view: Uint8Array): boolean {
  return view.buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === view.buffer.byteLength;
}

function resultTransferList(result: ProcessResult | FrameResult | DetectedFace[]): Transferable[] {
  if (Array.isArray(result)) return [];
  const image = 'data' in result.image ? result.image.data : result.image;
  const views = [image, ...result.faces.flatMap((f) => [f.cropped?.data, f.restored?.data])];
  const buffers = new Set<ArrayBuffer>();
  for (const view of views) if (view && ownsBuffer(view)) buffers.add(view.buffer as ArrayBuffer);
  return [...buffers];
}

/** Pixels of a result's output image (none for a detection), for the thread's collection policy. */
function outputPixels(result: ProcessResult | FrameResult | DetectedFace[]): number {
  if (Array.isArray(result)) return 0;
  return 'data' in result.image ? result.image.width * result.image.height : (result as ProcessResult).width * (result as ProcessResult).height;
}

/**
 * postMessage with a transfer list, falling back to a copy: Node refuses buffers it marked untransferable
 * (native allocations some addons hand out), and a copy is still correct, only slower.
 */
function postTransferring(port: MessagePort | Worker, message: unknown, transfer: Transferable[]): void {
  try {
    port.postMessage(message, transfer);
  } catch (error) {
    if (transfer.length === 0 || !(error instanceof Error) || error.name !== 'DataCloneError') throw error;
    port.postMessage(message);
  }
}

// ---- thread side -------------------------------------------------------------------------------------------

let threadStarted = false;

function startPipelineThread(port: MessagePort, data: ThreadData): void {
  if (threadStarted) return;
  threadStarted = true;
  const post = (message: FromThread, transfer: Transferable[] = []) => postTransferring(port, message, transfer);
  const gc = createGcPolicy();
  void (async () => {
    let pipeline: RestorationPipeline;
    try {
      pipeline = await RestorationPipeline.create(data.config, data.restorer ? { restorer: new RemoteRestorer(data.restorer.port, data.restorer.info) } : {});
    } catch (error) {
      post({ type: 'load-failed', error: serializeError(error) });
      port.close();
      return;
    }
    let running: Promise<void> | undefined;
    port.on('message', (message: ToThread) => {
      if (message.type === 'exit') {
        // A message is handled in the poll phase, and onnxruntime-node runs a session inside a setImmediate callback
        // (the check phase), so this never runs inside a native run. Leaving here, the job's next stage never starts;
        // the thread's environment, sessions included, is torn down while no native code of ours is on its stack.
        process.exit(0);
      }
      if (message.type === 'dispose') {
        // Releasing the sessions under a running job would make its next session.run abort the process, and
        // terminating a thread inside one does too: the job's stages run out first (its result is ignored).
        void (async () => {
          await running;
          await pipeline.dispose();
          process.exit(0);
        })();
        return;
      }
      const { id } = message;
      const events = { onDetected: (detection: DetectionSummary) => post({ type: 'detected', id, detection }) };
      const work: Promise<ProcessResult | FrameResult | DetectedFace[]> =
        message.type === 'process'
          ? pipeline.process(message.input, message.options, events)
          : message.type === 'detect-frame'
            ? pipeline.detectFrame(message.frame, message.options)
            : pipeline.processFrame(message.frame, message.options);
      running = work.then(
        (result) => {
          const pixels = outputPixels(result);
          post({ type: 'result', id: message.id, result }, resultTransferList(result));
          // Once the result is on its way: the job's buffers go back to the OS now, not at the next job.
          gc.afterResult(pixels);
        },
        (error: unknown) => {
          post({ type: 'failed', id: message.id, error: serializeError(error) });
          gc.afterFailure();
        },
      );
    });
    post({ type: 'ready', models: pipeline.models });
  })();
}

// Under tsx the thread's entry is this very file; in the bundle it is the bundle, which evaluates this module too.
if (!isMainThread && parentPort && isThreadData(workerData)) startPipelineThread(parentPort, workerData);
if (!isMainThread && parentPort && isRestorerThreadData(workerData)) runRestorerThread(parentPort, workerData.config);

// ---- main side ---------------------------------------------------------------------------------------------

/** What a job asks of a thread, less its id. */
type Request =
  | { readonly type: 'process'; readonly input: Uint8Array; readonly options: ProcessOptions }
  | { readonly type: 'detect-frame'; readonly frame: RgbImage; readonly options: Pick<ProcessOptions, 'scoreThreshold'> }
  | { readonly type: 'process-frame'; readonly frame: RgbImage; readonly options: FrameOptions };

interface Job {
  readonly onStarted?: (() => void) | undefined;
  readonly onDetected?: ((detection: DetectionSummary) => void) | undefined;
  readonly id: number;
  readonly request: Request;
  readonly resolve: (result: never) => void;
  readonly reject: (error: unknown) => void;
}

interface Slot {
  readonly worker: Worker;
  job: Job | undefined;
  /** Told to exit (an aborted job): takes no new job; the pool replaces it once it has exited. */
  stopping: boolean;
}

/**
 * Asks a thread to end between two native runs. Neither `worker.terminate()` nor `process.exit()` on the main thread
 * may stop a thread that is inside onnxruntime's `session.run`: when that run returns into a terminating JavaScript
 * environment, onnxruntime-node throws a C++ `Napi::Error` nothing catches, and the whole process aborts (SIGABRT).
 * The thread exits itself instead, at its next turn of the event loop: at most one native run later.
 */
function stopThread(slot: Slot): Promise<void> {
  const exited = new Promise<void>((resolve) => slot.worker.once('exit', () => resolve()));
  if (!slot.stopping) {
    slot.stopping = true;
    slot.worker.postMessage({ type: 'exit' } satisfies ToThread);
  }
  return exited;
}

/** Where a thread starts: this module's own file (its chunk, in the bundle), marked as a thread by `workerData`. */
function newThread(data: ThreadData | RestorerThreadData): Worker {
  const transferList = 'restorer' in data && data.restorer ? [data.restorer.port] : [];
  return startThread(new URL(import.meta.url), { workerData: data, transferList });
}

/**
 * Starts one thread and resolves once its models are loaded; rejects with the thread's load error rebuilt as
 * its WorkerError class, or a RetryableError when the thread dies while loading.
 */
async function spawnThread(
  config: PipelineConfig,
  onWorker: (worker: Worker) => void,
  restorer?: RestorerThread,
): Promise<{ worker: Worker; models: RestorationPipeline['models'] }> {
  const worker = newThread({ marker: THREAD_MARKER, config, ...(restorer && { restorer: { port: restorer.connect(), info: restorer.info } }) });
  onWorker(worker);
  const ready = await awaitThreadReady<Extract<FromThread, { type: 'ready' }>>(
    worker,
    (code) => `a pipeline thread exited (code ${code}) while loading its models`,
  );
  return { worker, models: ready.models };
}

/** Starts the restorer thread and waits for its model. */
function startRestorer(config: RestorerThreadConfig, onBatch: (faces: number, runMs: number, outputsReused: number) => void): Promise<RestorerThread> {
  return RestorerThread.start(newThread({ marker: RESTORER_MARKER, config }), onBatch);
}

interface BatchingState {
  readonly config: RestorerThreadConfig;
  readonly stats: { batches: number; faces: number; largestBatch: number; runMs: number; outputsReused: number };
  /** The restorer running or starting; a rejected one is started again by the next thread that needs it. */
  current: Promise<RestorerThread>;
  failed: boolean;
}

/**
 * N worker threads, each with its own `RestorationPipeline`. Jobs go to an idle thread, first come first served;
 * input bytes move to the thread and result bytes back without copies (transfer lists). Errors keep their
 * WorkerError class and code. A thread that dies fails its job with a RetryableError (INTERNAL) and is replaced.
 *
 * Memory: every thread loads every model, so the models' footprint is paid `threadCount` times (GFPGAN ≈ 325 MB
 * of weights per thread); pick the thread count for the CPU cores and the memory the task has.
 *
 * Batching (`maxBatchFaces` above 1, a restorer with a symbolic batch dimension): one more thread holds the only
 * restorer session and runs the faces of every job in batches (restorer-thread.ts); the pipeline threads load the
 * detector and upsampler only. When that thread dies, the jobs running fail with a RetryableError, and the pool
 * starts a new restorer and new pipeline threads connected to it.
 */
export class PipelineThreadPool implements RestorationService {
  private readonly slots = new Set<Slot>();
  private readonly queue: Job[] = [];
  private nextId = 0;
  private replacements = 0;
  private disposed = false;
  private lastReplacementError: unknown;
  /** Consecutive failed replacements: the backoff before the next attempt grows with them. */
  private replaceFailures = 0;
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  /** Threads the pool was created with: below that (a replacement failed to load), it keeps trying. */
  private readonly targetThreads: number;

  private constructor(
    readonly models: RestorationPipeline['models'],
    private readonly config: PipelineConfig,
    workers: readonly Worker[],
    private readonly batchingState: BatchingState | undefined,
  ) {
    this.targetThreads = workers.length;
    for (const worker of workers) this.adopt(worker);
    if (batchingState) void batchingState.current.then((restorer) => this.watchRestorer(restorer));
  }

  /** Batch sizes so far when faces are batched across jobs; undefined when each thread restores its own faces. */
  get batching(): BatchingStats | undefined {
    const state = this.batchingState;
    if (!state) return undefined;
    return { maxBatchFaces: state.config.maxBatchFaces, maxBatchDelayMs: state.config.maxBatchDelayMs, ...state.stats };
  }

  /** The restorer threads connect to, started again when the last start failed. */
  private currentRestorer(state: BatchingState): Promise<RestorerThread> {
    if (state.failed) {
      state.failed = false;
      state.current = startRestorer(state.config, (faces, runMs, reused) => countBatch(state.stats, faces, runMs, reused));
      state.current.then(
        (restorer) => {
          if (this.disposed) void restorer.dispose(DEFAULT_THREAD_DISPOSE_TIMEOUT_MS);
          else this.watchRestorer(restorer);
        },
        () => (state.failed = true),
      );
    }
    return state.current;
  }

  /** A restorer that dies strands every pipeline thread's port: they are all replaced, on a new restorer. */
  private watchRestorer(restorer: RestorerThread): void {
    restorer.onExit(() => {
      const state = this.batchingState;
      if (this.disposed || !state) return;
      state.failed = true;
      for (const slot of this.slots) {
        if (slot.stopping) continue;
        const job = slot.job;
        slot.job = undefined;
        job?.reject(new RetryableError('INTERNAL', 'the restorer thread died during the job'));
        void stopThread(slot);
        this.replace();
      }
    });
  }

  /** Threads the pool runs or is starting, short of the configured count (a replacement failed to load). */
  get missingThreads(): number {
    return Math.max(0, this.targetThreads - this.threadCount - this.replacements);
  }

  /**
   * Starts the threads and loads the models in all of them at once; resolves when every thread is ready.
   * Missing catalogue models are downloaded once, here, before any thread starts. Fails with the error the
   * in-process pipeline gives (MODEL_UNAVAILABLE, MODEL_INVALID, CONFIG…) after terminating every thread.
   */
  static async create(config: PipelineThreadPoolConfig = {}): Promise<PipelineThreadPool> {
    const { threadCount: requested, maxBatchFaces: batchFacesOption, maxBatchDelayMs: batchDelayOption, ...pipelineConfig } = config;
    const threadCount = requested ?? DEFAULT_THREAD_COUNT;
    if (!Number.isInteger(threadCount) || threadCount < 1) throw new PermanentError('CONFIG', `threadCount must be a positive integer, not ${threadCount}`);
    const maxBatchFaces = batchFacesOption ?? DEFAULT_RESTORE_BATCH_FACES;
    const maxBatchDelayMs = batchDelayOption ?? DEFAULT_RESTORE_BATCH_DELAY_MS;
    if (!Number.isInteger(maxBatchFaces) || maxBatchFaces < 1) throw new PermanentError('CONFIG', `maxBatchFaces must be a positive integer, not ${maxBatchFaces}`);
    if (!Number.isFinite(maxBatchDelayMs) || maxBatchDelayMs < 0) throw new PermanentError('CONFIG', `maxBatchDelayMs must be 0 or more, not ${maxBatchDelayMs}`);
    const intraOpThreads = (config.threads ?? 0) === 0 && threadCount > 1 ? Math.max(1, Math.floor(availableParallelism() / threadCount)) : (config.threads ?? 0);
    if (config.download ?? true) await PipelineThreadPool.downloadOnce(pipelineConfig);
    // The kernels' helper threads likewise: each pipeline thread gets its share of the cores.
    const kernelThreads = config.kernelThreads ?? Math.max(1, Math.floor(availableParallelism() / threadCount));
    const threadConfig: PipelineConfig = { ...pipelineConfig, threads: intraOpThreads, kernelThreads, download: false };
    const batching = maxBatchFaces > 1 ? await PipelineThreadPool.startBatching(pipelineConfig, maxBatchFaces, maxBatchDelayMs) : undefined;
    const restorer = batching && (await batching.current);
    const workers: Worker[] = [];
    const started = await Promise.allSettled(Array.from({ length: threadCount }, () => spawnThread(threadConfig, (w) => workers.push(w), restorer)));
    const failure = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    const first = started.find((s) => s.status === 'fulfilled');
    if (failure || !first) {
      await Promise.all(workers.map((w) => w.terminate()));
      await restorer?.dispose(DEFAULT_THREAD_DISPOSE_TIMEOUT_MS);
      throw failure?.reason ?? new RetryableError('INTERNAL', 'no pipeline thread started');
    }
    return new PipelineThreadPool(first.value.models, threadConfig, workers, batching);
  }

  /**
   * Starts the shared restorer. Its session gets every core (`threads` 0 lets onnxruntime choose): it runs while the
   * pipeline threads wait on it. Undefined, the thread ended, when the model takes a batch of 1 only.
   */
  private static async startBatching(config: PipelineConfig, maxBatchFaces: number, maxBatchDelayMs: number): Promise<BatchingState | undefined> {
    const restorerConfig: RestorerThreadConfig = {
      restorer: config.restorer ?? DEFAULT_RESTORER,
      modelsDir: config.modelsDir ?? defaultModelsDir(),
      session: { threads: config.threads ?? 0, device: config.device ?? DEFAULT_DEVICE },
      maxBatchFaces,
      maxBatchDelayMs,
    };
    const stats = { batches: 0, faces: 0, largestBatch: 0, runMs: 0, outputsReused: 0 };
    const restorer = await startRestorer(restorerConfig, (faces, runMs, reused) => countBatch(stats, faces, runMs, reused));
    if (!restorer.batchable) {
      await restorer.dispose(DEFAULT_THREAD_DISPOSE_TIMEOUT_MS);
      return undefined;
    }
    return { config: restorerConfig, stats, current: Promise.resolve(restorer), failed: false };
  }

  /** Threads resolving a missing model at the same moment would each download it into the same file. */
  private static async downloadOnce(config: PipelineConfig): Promise<void> {
    const options = { modelsDir: config.modelsDir ?? defaultModelsDir(), download: true };
    await resolveModel(config.detector ?? DEFAULT_DETECTOR, 'detector', options);
    await resolveModel(config.restorer ?? DEFAULT_RESTORER, 'restorer', options);
    if (config.bgUpsampler !== undefined) await resolveModel(config.bgUpsampler, 'upsampler', options);
  }

  /** Threads that take jobs (not those told to exit, which are on their way out). */
  get threadCount(): number {
    return [...this.slots].filter((s) => !s.stopping).length;
  }

  /**
   * Runs one image on an idle thread (queued in order while all are busy). The input's ArrayBuffer moves to the
   * thread when the view covers all of it, leaving `input` empty here; pass a copy to keep using the bytes.
   */
  process(input: Uint8Array, options: ProcessOptions = {}, run: ProcessRun = {}): Promise<ProcessResult> {
    return this.submit<ProcessResult>({ type: 'process', input, options }, run);
  }

  /** Detects on a copy of the frame: the caller still needs it (it tracks the faces, then restores the frame). */
  detectFrame(frame: RgbImage, options: Pick<ProcessOptions, 'scoreThreshold'> = {}, run: ProcessRun = {}): Promise<DetectedFace[]> {
    return this.submit<DetectedFace[]>({ type: 'detect-frame', frame: { width: frame.width, height: frame.height, data: frame.data.slice() }, options }, run);
  }

  processFrame(frame: RgbImage, options: FrameOptions = {}, run: ProcessRun = {}): Promise<FrameResult> {
    return this.submit<FrameResult>({ type: 'process-frame', frame, options }, run);
  }

  private submit<T>(request: Request, run: ProcessRun): Promise<T> {
    if (this.disposed) return Promise.reject(new RetryableError('INTERNAL', 'the pipeline thread pool is disposed'));
    const { signal } = run;
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        const queued = this.queue.indexOf(job);
        if (queued >= 0) this.queue.splice(queued, 1);
        for (const slot of this.slots) {
          if (slot.job !== job) continue;
          slot.job = undefined;
          // The old thread finishes the native run it is in and exits; its replacement loads meanwhile, so the next
          // job waits for a model load at most (memory holds one more set of models for that while).
          void stopThread(slot);
          if (!this.disposed) this.replace();
        }
        reject(signal!.reason as Error);
      };
      const settle = <T>(f: (value: T) => void) => (value: T) => {
        signal?.removeEventListener('abort', onAbort);
        f(value);
      };
      const job: Job = { id: this.nextId++, request, resolve: settle(resolve) as (result: never) => void, reject: settle(reject), onStarted: run.onStarted, onDetected: run.onDetected };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(job);
      this.pump();
    });
  }

  /** Threads told to exit (aborted jobs) that have not exited yet. */
  get stoppingCount(): number {
    return [...this.slots].filter((s) => s.stopping).length;
  }

  /**
   * Every thread exits. An idle thread releases its sessions first (told to exit without if that takes longer than
   * DEFAULT_THREAD_DISPOSE_TIMEOUT_MS). A running job fails here at once (RetryableError) and its thread exits at
   * its next turn, after the native run it is inside (see `stopThread`): resolves only once every thread has
   * exited, so the process can then exit with its own code instead of aborting inside onnxruntime.
   */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    for (const job of this.queue.splice(0)) job.reject(new RetryableError('INTERNAL', 'the pipeline thread pool was disposed before the job started'));
    await Promise.all(
      [...this.slots].map(async (slot) => {
        const { worker, job } = slot;
        slot.job = undefined;
        job?.reject(new RetryableError('INTERNAL', 'the pipeline thread pool was disposed during the job'));
        if (job || slot.stopping) {
          let timer: NodeJS.Timeout | undefined;
          const gaveUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, DEFAULT_BUSY_THREAD_DISPOSE_TIMEOUT_MS)));
          await Promise.race([stopThread(slot), gaveUp]);
          clearTimeout(timer);
          return;
        }
        // Idle: it releases its sessions and exits. Releasing is native code too, so a slow release (a loaded machine) is
        // not terminated under it: after the timeout the thread is told to exit at its next turn instead.
        const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
        const timer = setTimeout(() => void stopThread(slot), DEFAULT_THREAD_DISPOSE_TIMEOUT_MS);
        worker.postMessage({ type: 'dispose' } satisfies ToThread);
        await exited;
        clearTimeout(timer);
      }),
    );
    // Last: the pipeline threads are gone, so no face waits on the restorer but those of a batch it may be running.
    const restorer = await this.batchingState?.current.catch(() => undefined);
    await restorer?.dispose(DEFAULT_BUSY_THREAD_DISPOSE_TIMEOUT_MS);
  }

  private adopt(worker: Worker): void {
    const slot: Slot = { worker, job: undefined, stopping: false };
    this.slots.add(slot);
    let lastError: unknown;
    worker.on('message', (message: FromThread) => {
      const job = slot.job;
      if (!job || (message.type !== 'result' && message.type !== 'failed' && message.type !== 'detected') || message.id !== job.id) return;
      if (message.type === 'detected') {
        job.onDetected?.(message.detection);
        return;
      }
      slot.job = undefined;
      if (message.type === 'result') job.resolve(message.result as never);
      else job.reject(deserializeError(message.error));
      this.pump();
    });
    worker.on('error', (error) => (lastError = error));
    worker.on('exit', (code) => {
      this.slots.delete(slot);
      const job = slot.job;
      slot.job = undefined;
      const why = lastError instanceof Error ? `: ${lastError.message}` : '';
      if (job) {
        job.reject(
          new RetryableError('INTERNAL', this.disposed ? 'the pipeline thread pool was disposed during the job' : `the pipeline thread running the job died (exit code ${code})${why}`, {
            cause: lastError,
          }),
        );
      }
      // A thread told to exit (aborted job) was replaced when it was told.
      if (!this.disposed && !slot.stopping) this.replace();
      // Always: when this was the last thread and its replacement already failed, queued jobs must fail now, not hang.
      this.pump();
    });
  }

  private async spawn(): Promise<{ worker: Worker; models: RestorationPipeline['models'] }> {
    const state = this.batchingState;
    return spawnThread(this.config, () => undefined, state && (await this.currentRestorer(state)));
  }

  private replace(): void {
    this.replacements++;
    this.spawn().then(
      ({ worker }) => {
        this.replacements--;
        if (this.disposed) {
          void worker.terminate();
          return;
        }
        this.replaceFailures = 0;
        this.adopt(worker);
        this.pump();
      },
      (error: unknown) => {
        this.replacements--;
        this.lastReplacementError = error;
        this.replaceFailures++;
        this.pump();
        // Below the configured count the pool keeps trying (memory may free up, a file may come back), with backoff.
        if (this.disposed || this.missingThreads === 0) return;
        const waitMs = Math.min(DEFAULT_REPLACE_RETRY_MAX_MS, DEFAULT_REPLACE_RETRY_MS * 2 ** (this.replaceFailures - 1));
        const timer = setTimeout(() => {
          this.retryTimers.delete(timer);
          if (!this.disposed && this.missingThreads > 0) this.replace();
        }, waitMs);
        timer.unref();
        this.retryTimers.add(timer);
      },
    );
  }

  private pump(): void {
    if (this.slots.size === 0 && this.replacements === 0) {
      // Every thread died and could not be replaced: fail what waits rather than hang it.
      const cause = this.lastReplacementError;
      for (const job of this.queue.splice(0)) job.reject(new RetryableError('INTERNAL', 'no pipeline thread is running', { cause }));
      return;
    }
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.job || slot.stopping) continue;
      const job = this.queue.shift()!;
      slot.job = job;
      const { request } = job;
      const bytes = request.type === 'process' ? request.input : request.frame.data;
      const owned = ownsBuffer(bytes) ? bytes : bytes.slice();
      const message: ToThread =
        request.type === 'process'
          ? { ...request, id: job.id, input: owned }
          : { ...request, id: job.id, frame: { width: request.frame.width, height: request.frame.height, data: owned } };
      try {
        postTransferring(slot.worker, message, [owned.buffer as ArrayBuffer]);
        job.onStarted?.();
      } catch (error) {
        // Options that can't be cloned are the caller's bug, not the thread's.
        slot.job = undefined;
        job.reject(new PermanentError('INTERNAL', `the job could not be sent to a pipeline thread: ${messageOf(error)}`, { cause: error }));
      }
    }
  }
}
