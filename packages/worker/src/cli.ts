#!/usr/bin/env node
// Entry of `revive` (bundled to dist/revive.mjs; `pnpm revive` runs it with tsx).
import { main } from './cli/program.js';

process.exitCode = await main(process.argv);
