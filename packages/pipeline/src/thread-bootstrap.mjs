// @ts-check
// Where a thread starts when the pipeline runs from its TypeScript sources (vitest, tsx, bin/revive.js without a fresh
// dist/). Node 20 carries no loader into worker threads (the ESM hooks of `--import tsx` stay on the main thread, and
// `--import`/`--require` in a worker's execArgv do not make a `.ts` entry of a "type": "module" package loadable), so
// the thread registers tsx's CommonJS hook itself and then requires its entry: the `.ts` file that thread-start.ts put
// first in the thread's argv. JavaScript, because it runs before anything can compile TypeScript; checked by tsc
// (@ts-check) and linted like the rest. Bundled code (dist/) never starts a thread here.
import { createRequire } from 'node:module';
import { register } from 'tsx/cjs/api';

const entry = process.argv[2];
if (entry === undefined) throw new Error('thread-bootstrap.mjs: no entry module after the script in process.argv');
register();
createRequire(import.meta.url)(entry);
