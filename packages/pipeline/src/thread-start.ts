// How the pipeline starts its threads (the pipeline threads, the resampling kernels' helpers) from module files, in
// each way the code runs: from the TypeScript sources (vitest, tsx), and from the esbuild bundle (dist/revive.mjs
// and its chunks; the container image), where build.mjs emits every thread entry as a file beside the chunks.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { RetryableError } from './errors.js';
import { deserializeError, type SerializedError } from './thread-errors.js';

/** Extensions of modules that need a TypeScript loader. */
const TYPESCRIPT_MODULE = /\.[cm]?ts$/;

/**
 * The module `name` beside the module at `from` (its `import.meta.url`), with the same extension: `name.ts` beside
 * the sources, `name.mjs` beside the bundle's chunk (build.mjs puts thread entries in the chunks' folder and checks
 * that the chunk that starts one is there too).
 */
export function siblingModule(name: string, from: string): URL {
  return new URL(`./${name}${path.extname(new URL(from).pathname)}`, from);
}

/**
 * Starts a worker thread that runs the module at `entry`. A TypeScript module starts through thread-bootstrap.mjs,
 * which registers tsx in the new thread before it loads `entry`; a bundled one starts directly.
 */
export function startThread(entry: URL, options: WorkerOptions = {}): Worker {
  if (!TYPESCRIPT_MODULE.test(entry.pathname)) return new Worker(entry, options);
  return new Worker(new URL('./thread-bootstrap.mjs', import.meta.url), { ...options, argv: [fileURLToPath(entry), ...(options.argv ?? [])] });
}

/** What a thread says once it has loaded its models, or failed to. */
type LoadMessage<Ready> = Ready | { readonly type: 'load-failed'; readonly error: SerializedError } | { readonly type: string };

/**
 * Resolves with the thread's 'ready' message once it has loaded its models; rejects with its load error rebuilt as its
 * WorkerError class, or a RetryableError with `exitMessage(code)` when the thread exits first. Other messages are left to the
 * caller's own listeners.
 */
export function awaitThreadReady<Ready extends { readonly type: 'ready' }>(worker: Worker, exitMessage: (code: number) => string): Promise<Ready> {
  return new Promise((resolve, reject) => {
    let lastError: unknown;
    const onMessage = (message: LoadMessage<Ready>) => {
      if (message.type === 'ready') {
        cleanup();
        resolve(message as Ready);
      } else if (message.type === 'load-failed') {
        cleanup();
        reject(deserializeError((message as { error: SerializedError }).error));
      }
    };
    const onError = (error: unknown) => (lastError = error);
    const onExit = (code: number) => {
      cleanup();
      reject(new RetryableError('INTERNAL', exitMessage(code), { cause: lastError }));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}
