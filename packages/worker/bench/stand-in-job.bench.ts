// `pnpm bench`: a whole job's cost with a GFPGAN v1.4-class restorer (the stand-in, see scripts/stand-in), as a CPU
// task runs it: `revive restore` on shared/photos/whole (4 photos, 8 faces), upscale 2, JPEG out, --threads 2, one
// cold process. Prints its report.json per stage (ms, and the share of the whole), the process's wall and CPU time,
// its peak RSS, and the per-unit costs the scaling works with: the restorer's CPU seconds per face (the same job with
// the identity restorer, run beside it, subtracted) and the rest's CPU seconds per output megapixel.
// Skipped with a line saying why when no Python with torch is installed (the stand-in can't be generated).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sharedDir, standInRestorer, writeIdentityRestorer } from '@revive/pipeline/testing';

const shared = sharedDir();
const cliPath = path.resolve(import.meta.dirname, '../bin/revive.js');
const THREADS = 2;
const UPSCALE = 2;
// Written by the child at exit: its peak RSS and CPU time, whatever ran in it (pipeline threads included).
const USAGE_HOOK = `data:text/javascript,process.on('exit',()=>{const u=process.resourceUsage();process.stderr.write('\\n'+JSON.stringify({maxRssKiB:u.maxRSS,cpuUs:u.userCPUTime+u.systemCPUTime})+'\\n')})`;

interface Report {
  /** width and height are the restored photo's. */
  readonly images: readonly { readonly status: string; readonly width?: number; readonly height?: number }[];
  readonly totals: { readonly faces: number; readonly restored: number; readonly seconds: number; readonly timingsMs: Record<string, number> };
}

function restore(input: string, out: string, restorer: string): Promise<{ wallMs: number; maxRssKiB: number; cpuUs: number }> {
  const args = ['--import', USAGE_HOOK, cliPath, 'restore', input, '--output', out, '--restorer', restorer, '--models-dir', path.join(shared, 'models'),
    '--no-download', '--no-save-faces', '-s', String(UPSCALE), '--ext', 'jpg', '--threads', String(THREADS)];
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { maxBuffer: 1 << 24 }, (error, _stdout, stderr) => {
      if (error) return reject(new Error(`revive restore failed: ${stderr.slice(-2000)}`));
      const usage = JSON.parse(stderr.trim().split('\n').pop() ?? '') as { maxRssKiB: number; cpuUs: number };
      resolve({ wallMs: performance.now() - started, ...usage });
    });
  });
}

/** One cold `revive restore` of the folder: its report and the process's usage. */
async function job(work: string, label: string, restorer: string) {
  const out = path.join(work, label);
  const usage = await restore(path.join(shared, 'photos', 'whole'), out, restorer);
  const report = JSON.parse(await readFile(path.join(out, 'report.json'), 'utf8')) as Report;
  const outputMp = report.images.reduce((sum, i) => sum + ((i.width ?? 0) * (i.height ?? 0)) / 1e6, 0);
  return { ...usage, report, outputMp };
}

const model = await standInRestorer();
if (!model.available) {
  console.log(`\nstand-in job cost: skipped, the stand-in can't be generated here: ${model.reason}`);
} else {
  const work = await mkdtemp(path.join(tmpdir(), 'revive-stand-in-job-'));
  try {
    const identity = await job(work, 'identity', await writeIdentityRestorer(work));
    const standIn = await job(work, 'stand-in', model.path);
    const { faces, timingsMs, restored } = standIn.report.totals;
    const stageSum = Object.values(timingsMs).reduce((a, b) => a + b, 0);
    console.log(`\nstand-in job cost: revive restore shared/photos/whole (${restored} photos, ${faces} faces, ${standIn.outputMp.toFixed(1)} output MP), upscale ${UPSCALE}, JPEG, --threads ${THREADS}, one cold process each`);
    console.log('stage | ms (stand-in) | share | ms (identity restorer)');
    for (const [stage, ms] of Object.entries(timingsMs)) {
      console.log(`${stage} | ${Math.round(ms)} | ${((100 * ms) / stageSum).toFixed(1)} % | ${Math.round(identity.report.totals.timingsMs[stage as keyof typeof timingsMs] ?? 0)}`);
    }
    // Stage times overlap (the CLI runs two photos at once) and include waiting for a core; CPU seconds do not.
    const cpu = (r: { cpuUs: number }) => r.cpuUs / 1e6;
    console.log(`process, stand-in: wall ${(standIn.wallMs / 1000).toFixed(1)} s, CPU ${cpu(standIn).toFixed(1)} s, peak RSS ${Math.round(standIn.maxRssKiB / 1024)} MiB`);
    console.log(`process, identity: wall ${(identity.wallMs / 1000).toFixed(1)} s, CPU ${cpu(identity).toFixed(1)} s, peak RSS ${Math.round(identity.maxRssKiB / 1024)} MiB`);
    console.log(`restorer CPU s per face ((stand-in − identity) / faces): ${((cpu(standIn) - cpu(identity)) / faces).toFixed(2)}`);
    console.log(`everything else, CPU s per output MP (identity job / output MP, start-up included): ${(cpu(identity) / identity.outputMp).toFixed(3)}`);
    console.log(`restore stage, task s per face at --threads ${THREADS}: ${((timingsMs.restore ?? 0) / faces / 1000).toFixed(2)}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
