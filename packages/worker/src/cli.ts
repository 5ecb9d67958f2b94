#!/usr/bin/env node
// Entry of `revive` (bundled to dist/revive.mjs; `pnpm revive` runs it with tsx). The bundle is also the entry of
// the pipeline's worker threads (`revive serve`): there this module's import starts the thread, and the CLI must not run.
import { main } from './cli/program.js';
import { isPipelineThread } from './pipeline/pipeline-threads.js';

if (!isPipelineThread()) process.exitCode = await main(process.argv);
