// `pnpm bench`: per-stage median milliseconds per image and per face, and peak RSS, over photos/whole at
// upscale 2 with the identity restorer; the plain (bicubic) upscale and the ONNX background upsampler measured side by side.
// REVIVE_BENCH_ITERATIONS (default 3) sets the timed runs per photo, after one warm-up run.
// Last, throughput of the same jobs through the in-process pipeline one at a time (REVIVE_CONCURRENCY=1) and
// through PipelineThreadPool with 2 threads two at a time (REVIVE_CONCURRENCY=2), alternating rounds.
// REVIVE_BENCH_THREAD_JOBS (default 12) sets the jobs per round; `--threads-only` runs only that comparison.
import { execFile } from 'node:child_process';
import { readFile, readdir, mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { RestorationPipeline, type ProcessResult } from '../src/pipeline.js';
import { PipelineThreadPool, type RestorationService } from '../src/pipeline-threads.js';
import type { StageName } from '../src/types.js';
import { sharedDir } from '../src/testing/shared-dir.js';
import { writeIdentityRestorer } from '../src/testing/models.js';

const DEFAULT_ITERATIONS = 3;
const UPSCALE = 2;
const RSS_PROBE_FLAG = '--rss-probe';
const THREADS_ONLY_FLAG = '--threads-only';
const DEFAULT_THREAD_JOBS = 12;
const THREAD_ROUNDS = 2;
const STAGES: readonly (StageName | 'upscale')[] = ['decode', 'detect', 'align', 'restore', 'upscale', 'paste', 'encode'];
/** Stages that run once per face; the others once per image. */
const PER_FACE: ReadonlySet<string> = new Set(['align', 'restore']);

interface Sample {
  readonly totalMs: number;
  readonly faces: number;
  readonly timingsMs: ProcessResult['timingsMs'];
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length === 0 ? NaN : sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const fmt = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : '–');
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

/**
 * Peak RSS of one configuration, measured in a fresh child process that loads it and runs one pass over the
 * photos: RSS never shrinks back within a process, so a second configuration measured in the same one would
 * inherit the first one's peak.
 */
function peakRssInChild(label: string): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...process.execArgv, process.argv[1]!, RSS_PROBE_FLAG, label], { maxBuffer: 1 << 20 }, (error, stdout) => {
      if (error) return reject(error);
      const line = stdout.trim().split('\n').pop() ?? '';
      resolve((JSON.parse(line) as { maxRssBytes: number }).maxRssBytes);
    });
  });
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const iterations = Number(process.env.REVIVE_BENCH_ITERATIONS ?? DEFAULT_ITERATIONS);
  const shared = sharedDir();
  const modelsDir = path.join(shared, 'models');
  const photosDir = path.join(shared, 'photos', 'whole');
  const photos = (await readdir(photosDir)).sort();
  const inputs = await Promise.all(photos.map(async (name) => ({ name, bytes: await readFile(path.join(photosDir, name)) })));
  const work = await mkdtemp(path.join(tmpdir(), 'revive-bench-'));
  const restorer = await writeIdentityRestorer(work);

  const configs = [
    { label: 'bicubic', bgUpsampler: undefined },
    { label: 'onnx-x2', bgUpsampler: path.join(modelsDir, 'upscalers', 'efrlfn_x2.onnx') },
  ] as const;

  const probeIndex = process.argv.indexOf(RSS_PROBE_FLAG);
  if (probeIndex >= 0) {
    const config = configs.find((c) => c.label === process.argv[probeIndex + 1]);
    if (!config) throw new Error(`unknown configuration ${process.argv[probeIndex + 1]}`);
    const pipeline = await RestorationPipeline.create({ modelsDir, restorer, download: false, ...(config.bgUpsampler && { bgUpsampler: config.bgUpsampler }) });
    for (const { bytes } of inputs) await pipeline.process(bytes, { upscale: UPSCALE, ext: 'png' });
    await pipeline.dispose();
    await rm(work, { recursive: true, force: true });
    console.log(JSON.stringify({ maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
    return;
  }

  if (process.argv.includes(THREADS_ONLY_FLAG)) {
    await compareThreads(modelsDir, restorer, inputs);
    await rm(work, { recursive: true, force: true });
    return;
  }

  console.log(`Revive pipeline benchmark: ${photos.length} photos from ${photosDir}, upscale ${UPSCALE}, identity restorer,`);
  console.log(`${iterations} timed run(s) per photo after 1 warm-up; node ${process.version}, ${process.platform}/${process.arch}.`);
  console.log('Peak RSS: one pass over the photos per configuration, each in a fresh process.\n');

  // Both pipelines stay loaded and take turns on every photo and iteration, so a busy neighbour on the machine
  // slows both alike and the ratios stay fair. Peak RSS is sampled during each configuration's own calls.
  const results: { label: string; samples: Map<string, Sample[]>; peakRssBytes: number; loadMs: number }[] = [];
  const pipelines: RestorationPipeline[] = [];
  try {
    for (const config of configs) {
      const loadStart = performance.now();
      const pipeline = await RestorationPipeline.create({ modelsDir, restorer, download: false, ...(config.bgUpsampler && { bgUpsampler: config.bgUpsampler }) });
      pipelines.push(pipeline);
      results.push({ label: config.label, samples: new Map(), peakRssBytes: 0, loadMs: performance.now() - loadStart });
    }
    for (const { name, bytes } of inputs) {
      for (let i = 0; i <= iterations; i++) {
        for (const [c, pipeline] of pipelines.entries()) {
          const entry = results[c]!;
          const start = performance.now();
          const out = await pipeline.process(bytes, { upscale: UPSCALE, ext: 'png' });
          const totalMs = performance.now() - start;
          if (i === 0) continue; // warm-up
          const list = entry.samples.get(name) ?? [];
          list.push({ totalMs, faces: out.faces.length, timingsMs: out.timingsMs });
          entry.samples.set(name, list);
        }
      }
    }
  } finally {
    await Promise.all(pipelines.map((pipeline) => pipeline.dispose()));
  }
  for (const entry of results) entry.peakRssBytes = await peakRssInChild(entry.label);

  for (const { label, samples, peakRssBytes, loadMs } of results) {
    console.log(`== ${label} background: median ms per image (align and restore: per face), model load ${fmt(loadMs, 0)} ms, peak RSS ${mib(peakRssBytes)}`);
    const rows = [...samples].map(([name, list]) => {
      const faces = list[0]?.faces ?? 0;
      const cells = STAGES.map((stage) => {
        const values = list.map((s) => s.timingsMs[stage] ?? 0);
        return fmt(PER_FACE.has(stage) ? (faces > 0 ? median(values) / faces : NaN) : median(values));
      });
      return [name, String(faces), ...cells, fmt(median(list.map((s) => s.totalMs)))];
    });
    const all = [...samples.values()].flat();
    const totalFaces = all.reduce((n, s) => n + s.faces, 0);
    const perFace = STAGES.map((stage) =>
      PER_FACE.has(stage) ? fmt(all.reduce((n, s) => n + (s.timingsMs[stage] ?? 0), 0) / totalFaces) : '',
    );
    rows.push(['mean per face', '', ...perFace, '']);
    console.log(table(['photo', 'faces', ...STAGES.map((s) => (PER_FACE.has(s) ? `${s}/face` : s)), 'total'], rows));
    console.log();
  }

  const [base, onnx] = results;
  if (base && onnx) {
    console.log(`== ${onnx.label} vs ${base.label}, same run (ratio = ${onnx.label} / ${base.label})`);
    const rows = photos.map((name) => {
      const a = base.samples.get(name) ?? [];
      const b = onnx.samples.get(name) ?? [];
      const upA = median(a.map((s) => s.timingsMs.upscale ?? 0));
      const upB = median(b.map((s) => s.timingsMs.upscale ?? 0));
      const totA = median(a.map((s) => s.totalMs));
      const totB = median(b.map((s) => s.totalMs));
      return [name, fmt(upA), fmt(upB), `${fmt(upB / upA, 2)}x`, fmt(totA), fmt(totB), `${fmt(totB / totA, 2)}x`];
    });
    rows.push(['peak RSS', '', '', '', mib(base.peakRssBytes), mib(onnx.peakRssBytes), `${fmt(onnx.peakRssBytes / base.peakRssBytes, 2)}x`]);
    console.log(table(['photo', `upscale ${base.label}`, `upscale ${onnx.label}`, 'ratio', `total ${base.label}`, `total ${onnx.label}`, 'ratio'], rows));
  }
  console.log();
  await compareThreads(modelsDir, restorer, inputs);
  await rm(work, { recursive: true, force: true });
}

/** Runs `jobs` photos through `service`, `concurrency` at a time; returns the wall milliseconds. */
async function runJobs(service: RestorationService, inputs: readonly { bytes: Uint8Array }[], jobs: number, concurrency: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < jobs) {
        const { bytes } = inputs[next++ % inputs.length]!;
        // The pool moves the input's buffer to its thread: every job gets its own copy.
        await service.process(new Uint8Array(bytes), { upscale: UPSCALE, ext: 'png' });
      }
    }),
  );
  return performance.now() - started;
}

async function compareThreads(modelsDir: string, restorer: string, inputs: readonly { name: string; bytes: Uint8Array }[]): Promise<void> {
  const jobs = Number(process.env.REVIVE_BENCH_THREAD_JOBS ?? DEFAULT_THREAD_JOBS);
  // As `revive serve` configures them at REVIVE_CONCURRENCY 1 and 2 with REVIVE_THREADS unset (0).
  const inProcess = await RestorationPipeline.create({ modelsDir, restorer, download: false });
  const pool = await PipelineThreadPool.create({ modelsDir, restorer, download: false, threadCount: 2 });
  const times = { inProcess: 0, pool: 0 };
  try {
    await runJobs(inProcess, inputs, inputs.length, 1); // warm-up
    await runJobs(pool, inputs, inputs.length, 2);
    for (let round = 0; round < THREAD_ROUNDS; round++) {
      times.inProcess += await runJobs(inProcess, inputs, jobs, 1);
      times.pool += await runJobs(pool, inputs, jobs, 2);
    }
  } finally {
    await Promise.all([inProcess.dispose(), pool.dispose()]);
  }
  const total = jobs * THREAD_ROUNDS;
  const perSecond = (ms: number) => (total / ms) * 1000;
  console.log(`== throughput: ${total} jobs (${inputs.length} photos round-robin, upscale ${UPSCALE}, identity restorer), ${THREAD_ROUNDS} alternating rounds`);
  console.log(
    table(
      ['configuration', 'wall ms', 'jobs/s'],
      [
        ['in-process, 1 at a time', fmt(times.inProcess, 0), fmt(perSecond(times.inProcess), 2)],
        ['2 pipeline threads, 2 at a time', fmt(times.pool, 0), fmt(perSecond(times.pool), 2)],
      ],
    ),
  );
  console.log(`throughput ratio (2 threads / in-process): ${fmt(times.inProcess / times.pool, 2)}x on ${availableParallelism()} cores`);
}

await main();
