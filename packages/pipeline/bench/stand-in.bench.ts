// `pnpm bench`: what a GFPGAN v1.4-class face costs on CPU, with the stand-in restorer (scripts/stand-in: the same
// architecture, parameter count and multiply-adds, random weights). Each figure comes from a fresh child process per
// thread count, so load time and RSS are the model's alone:
//   - load time (FaceRestorer.create: onnxruntime session with graph optimisation), RSS before and after the load;
//   - ms per face at 1 and 2 intra-op threads (median of STAND_IN_FACES runs after one warm-up), the process's CPU
//     seconds per face, and RSS after the faces (onnxruntime's arena at its working size).
// Skipped with a line saying why when no Python with torch is installed (the stand-in can't be generated).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { readImage } from '../src/image.js';
import { FaceRestorer } from '../src/restore.js';
import { sharedDir } from '../src/testing/shared-dir.js';
import { standInRestorer } from '../src/testing/stand-in.js';

const PROBE_FLAG = '--probe';
/** Faces timed per thread count, after one warm-up. @default 3 */
const STAND_IN_FACES = Number(process.env.REVIVE_BENCH_STAND_IN_FACES ?? 3);
const THREAD_COUNTS = [1, 2] as const;
const MiB = 2 ** 20;

interface Probe {
  readonly threads: number;
  readonly rssBeforeBytes: number;
  readonly loadMs: number;
  readonly rssAfterLoadBytes: number;
  readonly msPerFace: number;
  readonly cpuSecondsPerFace: number;
  readonly rssAfterFacesBytes: number;
}

const median = (values: readonly number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** In the child: load the model, restore a real aligned face, report. */
async function probe(modelPath: string, threads: number): Promise<Probe> {
  const { rgb: crop } = await readImage(await readFile(path.join(sharedDir(), 'photos', 'aligned', 'Adele_crop.png')), { maxPixels: 1e6 });
  const rssBeforeBytes = process.memoryUsage.rss();
  const loadStart = performance.now();
  const restorer = await FaceRestorer.create(modelPath, { threads });
  const loadMs = performance.now() - loadStart;
  const rssAfterLoadBytes = process.memoryUsage.rss();
  await restorer.restore(crop);
  const times: number[] = [];
  const cpuStart = process.cpuUsage();
  for (let i = 0; i < STAND_IN_FACES; i++) {
    const start = performance.now();
    await restorer.restore(crop);
    times.push(performance.now() - start);
  }
  const cpu = process.cpuUsage(cpuStart);
  const rssAfterFacesBytes = process.memoryUsage.rss();
  await restorer.dispose();
  return {
    threads,
    rssBeforeBytes,
    loadMs,
    rssAfterLoadBytes,
    msPerFace: median(times),
    cpuSecondsPerFace: (cpu.user + cpu.system) / 1e6 / STAND_IN_FACES,
    rssAfterFacesBytes,
  };
}

function runProbe(modelPath: string, threads: number): Promise<Probe> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...process.execArgv, import.meta.filename, PROBE_FLAG, modelPath, String(threads)], { maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`stand-in probe (${threads} threads) failed: ${stderr.slice(-2000)}`));
      resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as Probe);
    });
  });
}

async function main(): Promise<void> {
  const model = await standInRestorer();
  if (!model.available) {
    console.log(`\nstand-in restorer: skipped, it can't be generated here: ${model.reason}`);
    return;
  }
  console.log(`\nstand-in restorer (GFPGAN v1.4-sized, ${model.path}${model.generated ? ', just generated' : ''}), CPU, ${STAND_IN_FACES} faces after a warm-up:`);
  console.log('threads | load ms | RSS before → after load | ms/face | CPU s/face | RSS after faces');
  const mib = (b: number) => `${Math.round(b / MiB)} MiB`;
  const results: Probe[] = [];
  for (const threads of THREAD_COUNTS) {
    const r = await runProbe(model.path, threads);
    results.push(r);
    console.log(
      `${threads} | ${Math.round(r.loadMs)} | ${mib(r.rssBeforeBytes)} → ${mib(r.rssAfterLoadBytes)} | ${Math.round(r.msPerFace)} | ${r.cpuSecondsPerFace.toFixed(2)} | ${mib(r.rssAfterFacesBytes)}`,
    );
  }
  const [one, two] = results;
  if (one && two) {
    console.log(`2 threads against 1: ${(one.msPerFace / two.msPerFace).toFixed(2)}× the faces per second (wall time: only meaningful on an idle machine)`);
    // CPU seconds do not count waiting for a core, so this holds on a shared machine too.
    console.log(`parallel efficiency at 2 threads (CPU s per face at 1 / at 2): ${((100 * one.cpuSecondsPerFace) / two.cpuSecondsPerFace).toFixed(0)} %`);
  }
}

if (process.argv[2] === PROBE_FLAG) {
  const [modelPath, threads] = process.argv.slice(3);
  console.log(JSON.stringify(await probe(modelPath!, Number(threads))));
} else {
  await main();
}
