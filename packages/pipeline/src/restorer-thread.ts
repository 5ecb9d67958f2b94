// The restorer shared by every pipeline thread when faces are batched across jobs (restore-batch.ts): one thread
// holds the only restorer session; each pipeline thread talks to it over a MessagePort of its own, with no hop through
// the main thread. A pipeline thread converts its crops to tensors and back itself (cropToTensor, tensorToCrop), so the
// restorer's thread does nothing but batch, run and split, and while it runs one batch the pipeline threads go on
// decoding, detecting, aligning and pasting the next jobs.
//
// Three parts: the thread itself (`runRestorerThread`, started by pipeline-threads.ts from its own module, so the bundle
// needs no entry of its own), its handle on the main thread (`RestorerThread`), and the pipeline threads' client
// (`RemoteRestorer`).
import { MessageChannel, type MessagePort, type Transferable, type Worker } from 'node:worker_threads';
import { PermanentError, RetryableError } from './errors.js';
import { FaceRestorer, POOLED_RESTORER_INPUTS, cropToTensor, restoreBlend, tensorToCrop, type ConversionTimer, type FaceRestoreOptions, type RestoreStage } from './restore.js';
import { RestoreBatcher } from './restore-batch.js';
import { resolveModel } from './models.js';
import type { SessionOptions } from './inference.js';
import { deserializeError, serializeError, type SerializedError } from './thread-errors.js';
import type { RgbImage } from './types.js';
import { DEFAULT_FIDELITY } from './defaults.js';
import { awaitThreadReady } from './thread-start.js';

/** What the restorer thread is started with (its `workerData`, beside the marker pipeline-threads.ts adds). */
export interface RestorerThreadConfig {
  readonly restorer: string;
  readonly modelsDir: string;
  readonly session: SessionOptions;
  readonly maxBatchFaces: number;
  readonly maxBatchDelayMs: number;
}

/** What a pipeline thread needs to know of the shared restorer, besides its port. */
export interface RestorerInfo {
  readonly inputSize: number;
  readonly hasFidelityInput: boolean;
  readonly maxBatchFaces: number;
}

type ToRestorer =
  | { readonly type: 'connect'; readonly port: MessagePort }
  | { readonly type: 'dispose' }
  | { readonly type: 'exit' };

type FromRestorer =
  | { readonly type: 'ready'; readonly info: RestorerInfo; readonly batchable: boolean }
  | { readonly type: 'load-failed'; readonly error: SerializedError }
  /** One batch has run: its faces and how long the model took. */
  | { readonly type: 'batch'; readonly faces: number; readonly runMs: number; readonly outputsReused: number };

/** Over a pipeline thread's port. */
interface FaceRequest {
  readonly id: number;
  readonly tensor: Float32Array;
  readonly fidelity: number;
  readonly sentAtMs: number;
  /** An earlier face's output the pipeline thread is done with, moved back for a later batch's outputs. */
  readonly spare?: Float32Array;
}

/**
 * Output buffers a thread keeps for the next faces: the restorer's thread, for a batch's outputs (its most faces); a
 * pipeline thread, to send back with its next face.
 * @default 2 on a pipeline thread; maxBatchFaces on the restorer's
 */
const SPARE_OUTPUTS_PER_PIPELINE_THREAD = 2;
/**
 * The face's output, and its input tensor handed back (moved, not copied) for the pipeline thread's next face; the
 * input is missing when the restorer thread could not take it over (it was copied to reach it).
 */
type FaceReply =
  | { readonly id: number; readonly tensor: Float32Array; readonly input?: Float32Array }
  | { readonly id: number; readonly error: SerializedError };

function transferable(view: Float32Array): Transferable[] {
  return view.buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === view.buffer.byteLength ? [view.buffer] : [];
}

/**
 * postMessage moving the tensors' buffers when it can, copying when Node refuses (a native allocation): a face's
 * tensor crosses between threads by transfer both ways, so its only copies are the batch's (into the batch's input,
 * out of its output) on the restorer's thread.
 */
function postTensor(port: MessagePort, message: FaceRequest | FaceReply, ...tensors: Float32Array[]): void {
  const transfer = [...new Set(tensors.flatMap(transferable))];
  try {
    port.postMessage(message, transfer);
  } catch (error) {
    if (transfer.length === 0 || !(error instanceof Error) || error.name !== 'DataCloneError') throw error;
    port.postMessage(message);
  }
}

// ---- the restorer's thread ----------------------------------------------------------------------------------

/** The restorer thread's body: loads the model, then serves batches to every port it is handed. */
export function runRestorerThread(parent: MessagePort, config: RestorerThreadConfig): void {
  const post = (message: FromRestorer) => parent.postMessage(message);
  void (async () => {
    let restorer: FaceRestorer;
    try {
      const file = await resolveModel(config.restorer, 'restorer', { modelsDir: config.modelsDir, download: false });
      restorer = await FaceRestorer.create(file, config.session);
    } catch (error) {
      post({ type: 'load-failed', error: serializeError(error) });
      parent.close();
      return;
    }
    /** Outputs handed back by the pipeline threads, filled by the next batches instead of new buffers. */
    const spares: Float32Array[] = [];
    const run = async (tensors: readonly Float32Array[], fidelity: number) => {
      const started = performance.now();
      // A batch of one face returns onnxruntime's own buffer: spares serve batches of two or more.
      const into = tensors.length > 1 ? spares.splice(0, tensors.length) : [];
      try {
        return await restorer.restoreBatch(tensors, fidelity, into);
      } finally {
        // restoreBatch writes into a handed-back buffer only when it has a face's length.
        const faceLength = 3 * restorer.inputSize * restorer.inputSize;
        post({ type: 'batch', faces: tensors.length, runMs: performance.now() - started, outputsReused: into.filter((b) => b.length === faceLength).length });
      }
    };
    const batcher = new RestoreBatcher(run, { maxBatchFaces: config.maxBatchFaces, maxBatchDelayMs: config.maxBatchDelayMs });
    const ports = new Set<MessagePort>();
    parent.on('message', (message: ToRestorer) => {
      if (message.type === 'exit') process.exit(0);
      if (message.type === 'dispose') {
        // As a pipeline thread does: never release the session under a running batch. The pipeline threads are gone by
        // now, so the faces still queued have no one to go back to.
        void (async () => {
          for (const port of ports) port.close();
          batcher.close(new RetryableError('INTERNAL', 'the restorer thread was disposed'));
          await batcher.drained();
          await restorer.dispose();
          process.exit(0);
        })();
        return;
      }
      const { port } = message;
      ports.add(port);
      port.on('close', () => ports.delete(port));
      port.on('message', (request: FaceRequest) => {
        if (request.spare !== undefined && spares.length < config.maxBatchFaces) spares.push(request.spare);
        batcher.restore(request).then(
          (tensor) =>
            tensor.buffer === request.tensor.buffer
              ? postTensor(port, { id: request.id, tensor }, tensor)
              : postTensor(port, { id: request.id, tensor, input: request.tensor }, tensor, request.tensor),
          (error: unknown) => postTensor(port, { id: request.id, error: serializeError(error) }),
        );
      });
    });
    post({ type: 'ready', info: { inputSize: restorer.inputSize, hasFidelityInput: restorer.hasFidelityInput, maxBatchFaces: config.maxBatchFaces }, batchable: restorer.batchable });
  })();
}

// ---- main side ----------------------------------------------------------------------------------------------

/** The main thread's handle on the restorer thread. */
export class RestorerThread {
  #exited = false;

  private constructor(
    private readonly worker: Worker,
    /** What every pipeline thread is told of the restorer. */
    readonly info: RestorerInfo,
    /** The model's batch dimension is symbolic. */
    readonly batchable: boolean,
  ) {
    worker.once('exit', () => (this.#exited = true));
  }

  /**
   * Waits for `worker` (started by the pool with the restorer marker) to load its model. Rejects with the load
   * error as its WorkerError class, or a RetryableError when the thread dies while loading.
   */
  static async start(worker: Worker, onBatch?: (faces: number, runMs: number, outputsReused: number) => void): Promise<RestorerThread> {
    const ready = await awaitThreadReady<{ readonly type: 'ready'; info: RestorerInfo; batchable: boolean }>(
      worker,
      (code) => `the restorer thread exited (code ${code}) while loading its model`,
    );
    const thread = new RestorerThread(worker, ready.info, ready.batchable);
    worker.on('message', (message: FromRestorer) => {
      if (message.type === 'batch') onBatch?.(message.faces, message.runMs, message.outputsReused);
    });
    return thread;
  }

  /** A new port to the restorer, for one pipeline thread: hand it over in that thread's `workerData` (transfer list). */
  connect(): MessagePort {
    const { port1, port2 } = new MessageChannel();
    this.worker.postMessage({ type: 'connect', port: port1 } satisfies ToRestorer, [port1]);
    return port2;
  }

  /** Called once when the thread exits, whatever the reason. */
  onExit(listener: (code: number) => void): void {
    this.worker.once('exit', listener);
  }

  /** Releases the session (after the batch it runs) and ends the thread; tells it to exit at once past `timeoutMs`. */
  async dispose(timeoutMs: number): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    const timer = setTimeout(() => this.worker.postMessage({ type: 'exit' } satisfies ToRestorer), timeoutMs);
    this.worker.postMessage({ type: 'dispose' } satisfies ToRestorer);
    await exited;
    clearTimeout(timer);
  }
}

// ---- a pipeline thread's side -------------------------------------------------------------------------------

/**
 * The restore stage of a pipeline thread whose faces go to the shared restorer. A restorer thread that dies fails
 * the faces waiting on it, and every later one, with a RetryableError: the pool then replaces this thread.
 */
export class RemoteRestorer implements RestoreStage {
  readonly inputSize: number;
  readonly hasFidelityInput: boolean;
  readonly facesInFlight: number;
  readonly #port: MessagePort;
  readonly #pending = new Map<number, { resolve: (tensor: Float32Array) => void; reject: (error: unknown) => void }>();
  /** Input tensors handed back by the restorer thread, for the next faces (`POOLED_RESTORER_INPUTS` at most). */
  readonly #freeInputs: Float32Array[] = [];
  /** Outputs converted already, to move back to the restorer thread with the next faces. */
  readonly #spareOutputs: Float32Array[] = [];
  #nextId = 0;
  #closed = false;

  constructor(port: MessagePort, info: RestorerInfo) {
    this.#port = port;
    this.inputSize = info.inputSize;
    this.hasFidelityInput = info.hasFidelityInput;
    this.facesInFlight = info.maxBatchFaces;
    port.on('message', (reply: FaceReply) => {
      const pending = this.#pending.get(reply.id);
      if (!pending) return;
      this.#pending.delete(reply.id);
      if ('error' in reply) pending.reject(deserializeError(reply.error));
      else {
        if (reply.input !== undefined && this.#freeInputs.length < POOLED_RESTORER_INPUTS) this.#freeInputs.push(reply.input);
        pending.resolve(reply.tensor);
      }
    });
    port.on('close', () => {
      this.#closed = true;
      const error = new RetryableError('INTERNAL', 'the restorer thread stopped while faces waited on it');
      for (const pending of this.#pending.values()) pending.reject(error);
      this.#pending.clear();
    });
    // Waiting replies must not keep a thread alive on their own; the pool ends its threads explicitly.
    port.unref();
  }

  async restore(crop: RgbImage, options?: FaceRestoreOptions, timeConversion: ConversionTimer = (convert) => convert()): Promise<RgbImage> {
    const size = this.inputSize;
    if (crop.width !== size || crop.height !== size) {
      throw new PermanentError('INTERNAL', `the restorer takes ${size}×${size} crops, got ${crop.width}×${crop.height}`);
    }
    if (this.#closed) throw new RetryableError('INTERNAL', 'the restorer thread has stopped');
    const id = this.#nextId++;
    const tensor = timeConversion(() => cropToTensor(crop, this.#freeInputs.pop()));
    const spare = this.#spareOutputs.pop();
    const restored = await new Promise<Float32Array>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      const request: FaceRequest = { id, tensor, fidelity: options?.fidelity ?? DEFAULT_FIDELITY, sentAtMs: performance.timeOrigin + performance.now(), ...(spare && { spare }) };
      postTensor(this.#port, request, tensor, ...(spare ? [spare] : []));
    });
    const converted = timeConversion(() => tensorToCrop(restored, crop, restoreBlend(options)));
    // Converted: the output's buffer goes back with a later face, for a later batch to write into.
    if (this.#spareOutputs.length < SPARE_OUTPUTS_PER_PIPELINE_THREAD) this.#spareOutputs.push(restored);
    return converted;
  }

  /** The session belongs to the restorer thread: a pipeline thread only lets go of its port. */
  async dispose(): Promise<void> {
    this.#port.close();
  }
}
