#!/usr/bin/env node
// Entry of `revive` (bundled to dist/revive.mjs; `pnpm revive` runs it). In the bundle, the pipeline's worker threads
// start from the chunk that holds pipeline-threads.ts, not from this entry; under tsx a thread starts from
// pipeline-threads.ts itself. Either way this module only runs the CLI on the main thread (or in a thread someone
// else started), and it imports the pipeline only to ask, so that `revive healthcheck` never loads it.
import { isMainThread } from 'node:worker_threads';
import { main } from './cli/program.js';

const isPipelineThread = !isMainThread && (await import('@revive/pipeline')).isPipelineThread();
if (!isPipelineThread) process.exitCode = await main(process.argv);
