#!/usr/bin/env node
// Runs a command with every core busy: one `node -e` busy loop per core (REVIVE_HOG_PROCESSES to change), started
// before the command and killed after it, whatever its outcome. CI runs the integration projects under it, so a test
// that only passes on an idle machine fails here first.
//   node scripts/with-cpu-hog.mjs pnpm vitest run --project worker:integration
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';

const command = process.argv.slice(2);
if (command.length === 0) {
  process.stderr.write('usage: with-cpu-hog.mjs <command> [args...]\n');
  process.exit(2);
}
const count = Number(process.env.REVIVE_HOG_PROCESSES ?? availableParallelism());
// Each hog checks every 2^24 turns (a fraction of a second) that its parent still lives: a SIGKILLed run (a CI
// timeout, a cancelled job) never reaches stopHogs, and orphaned busy loops would load the machine for good. An
// orphan is re-parented (to init or a subreaper), so its ppid changes.
const HOG = 'const p=process.ppid;for(let i=1;;i=(i+1)&0xffffff)if(i===0&&process.ppid!==p)process.exit(0);';
const hogs = Array.from({ length: count }, () => spawn(process.execPath, ['-e', HOG], { stdio: 'ignore' }));
const stopHogs = () => {
  for (const hog of hogs) if (hog.exitCode === null && hog.signalCode === null) hog.kill('SIGKILL');
};
process.on('exit', stopHogs);
const started = Date.now();
process.stderr.write(`with-cpu-hog: ${count} busy-loop process(es) running; ${command.join(' ')}\n`);
const child = spawn(command[0], command.slice(1), { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    child.kill(signal);
    stopHogs();
  });
}
child.on('exit', (code, signal) => {
  stopHogs();
  process.stderr.write(`with-cpu-hog: exit ${signal ?? code} after ${((Date.now() - started) / 1000).toFixed(1)} s under ${count} hog(s)\n`);
  process.exit(code ?? 1);
});
