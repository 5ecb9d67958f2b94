// `pnpm bench`: what a GFPGAN v1.4-class face costs on CPU, with the stand-in restorer (scripts/stand-in: the same
// architecture, parameter count and multiply-adds, random weights). Each figure comes from a fresh child process per
// thread count, so load time and RSS are the model's alone:
//   - load time (FaceRestorer.create: onnxruntime session with graph optimisation), RSS before and after the load;
//   - ms per face at 1 and 2 intra-op threads (median of STAND_IN_FACES runs after one warm-up), the process's CPU
//     seconds per face, and RSS after the faces (onnxruntime's arena at its working size);
//   - at 2 threads, onnxruntime's pool threads spinning after a run (the restorer's RESTORER_SPIN_WAIT) against
//     sleeping (the other models' ORT_SPIN_WAIT): two sessions of the model in one process, runs alternated, each
//     followed by an idle pause so that the spin's CPU is counted (docs/decisions/cpu-side-cost.md).
// Skipped with a line saying why when no Python with torch is installed (the stand-in can't be generated).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { readImage } from '../src/image.js';
import { OnnxModel } from '../src/inference.js';
import { FaceRestorer } from '../src/restore.js';
import { sharedDir } from '../src/testing/shared-dir.js';
import { standInRestorer } from '../src/testing/stand-in.js';

const PROBE_FLAG = '--probe';
const SPIN_PROBE_FLAG = '--spin-probe';
/** Runs per spin setting, alternated, after one warm-up each. @default 6 */
const SPIN_RUNS = Number(process.env.REVIVE_BENCH_STAND_IN_SPIN_RUNS ?? 6);
/**
 * Idle time after each run inside its CPU window: onnxruntime's pool threads spin for a while after a run, and that
 * CPU lands on whatever the process does next. @default 200
 */
const SPIN_IDLE_MS = 200;
const SPIN_THREADS = 2;
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

interface SpinFigures {
  readonly wallMs: readonly number[];
  readonly cpuMs: readonly number[];
}
type SpinProbe = Record<'spinning' | 'sleeping', SpinFigures>;

/** In the child: one session that spins after a run and one that sleeps, runs alternated (ABBA), idle pause included. */
async function spinProbe(modelPath: string): Promise<SpinProbe> {
  const sessions = {
    spinning: await OnnxModel.create(modelPath, { threads: SPIN_THREADS, spinWait: true }),
    sleeping: await OnnxModel.create(modelPath, { threads: SPIN_THREADS, spinWait: false }),
  };
  const input = sessions.spinning.inputs[0]!;
  const data = new Float32Array(3 * 512 * 512).map((_, i) => Math.sin(i) * 0.9);
  const feeds = { [input.name]: { type: 'float32' as const, data, dims: [1, 3, 512, 512] } };
  const figures = { spinning: { wallMs: [] as number[], cpuMs: [] as number[] }, sleeping: { wallMs: [] as number[], cpuMs: [] as number[] } };
  try {
    for (const session of Object.values(sessions)) await session.run(feeds);
    for (let i = 0; i < SPIN_RUNS; i++) {
      for (const key of i % 2 === 0 ? (['spinning', 'sleeping'] as const) : (['sleeping', 'spinning'] as const)) {
        const cpuStart = process.cpuUsage();
        const start = performance.now();
        await sessions[key].run(feeds);
        figures[key].wallMs.push(performance.now() - start);
        await new Promise((resolve) => setTimeout(resolve, SPIN_IDLE_MS));
        const cpu = process.cpuUsage(cpuStart);
        figures[key].cpuMs.push((cpu.user + cpu.system) / 1000);
      }
    }
  } finally {
    for (const session of Object.values(sessions)) await session.dispose();
  }
  return figures;
}

function runChild<T>(args: readonly string[], what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...process.execArgv, import.meta.filename, ...args], { maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`${what} failed: ${stderr.slice(-2000)}`));
      resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as T);
    });
  });
}

const runProbe = (modelPath: string, threads: number): Promise<Probe> => runChild([PROBE_FLAG, modelPath, String(threads)], `stand-in probe (${threads} threads)`);

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
  const spin = await runChild<SpinProbe>([SPIN_PROBE_FLAG, model.path], 'stand-in spin probe');
  const line = (key: keyof SpinProbe) =>
    `${key}: ${Math.round(median(spin[key].wallMs))} ms per face, ${Math.round(median(spin[key].cpuMs))} CPU ms per face and pause ` +
    `(wall ${spin[key].wallMs.map(Math.round).join(', ')})`;
  console.log(`\nonnxruntime's threads after a run, ${SPIN_THREADS} threads, ${SPIN_RUNS} runs each alternated, median (CPU includes a ${SPIN_IDLE_MS} ms pause after each run):`);
  console.log(line('spinning'));
  console.log(line('sleeping'));
  console.log(
    `sleeping / spinning: ${(median(spin.sleeping.wallMs) / median(spin.spinning.wallMs)).toFixed(3)} of the wall time, ` +
      `${(median(spin.sleeping.cpuMs) / median(spin.spinning.cpuMs)).toFixed(3)} of the CPU time (the restorer spins: RESTORER_SPIN_WAIT)`,
  );
}

if (process.argv[2] === SPIN_PROBE_FLAG) {
  console.log(JSON.stringify(await spinProbe(process.argv[3]!)));
} else if (process.argv[2] === PROBE_FLAG) {
  const [modelPath, threads] = process.argv.slice(3);
  console.log(JSON.stringify(await probe(modelPath!, Number(threads))));
} else {
  await main();
}
