#!/usr/bin/env node
// `revive models fetch` on its own (dist/models-fetch/models-fetch.mjs): what the Dockerfiles' models stage runs.
// A separate bundle of only the manifest and the downloader, so its bytes, and with them the Docker layer holding
// ≈ 325 MB of weights, change only when models.ts, model-fetch.ts or this command change, not on every source edit.
//   node models-fetch.mjs <id...>        (folder: $REVIVE_MODELS_DIR)
import { runModelsFetch } from './models-command.js';

process.exitCode = await runModelsFetch(process.argv.slice(2), {});
