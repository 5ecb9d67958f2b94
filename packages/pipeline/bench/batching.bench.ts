// `pnpm bench`, "batching gain": faces restored per second by PipelineThreadPool with 2 pipeline threads and 2 jobs at a
// time (REVIVE_CONCURRENCY=2), restoring each thread's own faces (maxBatchFaces 1, the default) against batching the
// faces of both jobs on one shared restorer (maxBatchFaces 2, 4 and 8). Both pools stay loaded and take turns, round
// after round, so a busy neighbour slows all alike. Photos: photos/whole, upscale 2, PNG out.
//
// The restorer is a parameter: `--restorer <file.onnx>` (or REVIVE_BENCH_RESTORER), which must have a symbolic batch
// dimension, e.g. the GFPGAN-sized stand-in (`pnpm -s stand-in /tmp/standin.onnx`, then
// `pnpm -C packages/pipeline exec tsx bench/batching.bench.ts --restorer /tmp/standin.onnx`). Without one it
// generates a convolution stack (writeBatchConvRestorer) with a real cost per face, far lighter than GFPGAN.
// REVIVE_BENCH_BATCH_JOBS (default 8) sets the jobs per round, REVIVE_BENCH_BATCH_ROUNDS (default 2) the rounds.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { PipelineThreadPool } from '../src/pipeline-threads.js';
import { DEFAULT_RESTORE_BATCH_DELAY_MS } from '../src/restore-batch.js';
import { sharedDir } from '../src/testing/shared-dir.js';
import { writeBatchConvRestorer } from '../src/testing/models.js';

const UPSCALE = 2;
const CONCURRENCY = 2;
const DEFAULT_JOBS = 8;
const DEFAULT_ROUNDS = 2;
const BATCH_SIZES = [1, 2, 4, 8] as const;
/** The generated restorer's size: ≈ 1.3 GMAC per face, about 0.1–0.3 s on one core. */
const GENERATED = { convs: 12, channels: 48 } as const;

const fmt = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : '–');

function restorerArgument(): string | undefined {
  const index = process.argv.indexOf('--restorer');
  return index >= 0 ? process.argv[index + 1] : process.env.REVIVE_BENCH_RESTORER;
}

async function runJobs(pool: PipelineThreadPool, inputs: readonly Uint8Array[], jobs: number): Promise<{ ms: number; faces: number; restoreMs: number }> {
  let next = 0;
  let faces = 0;
  let restoreMs = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < jobs) {
        const bytes = inputs[next++ % inputs.length]!;
        // The pool moves the input's buffer to its thread: every job gets its own copy.
        const result = await pool.process(new Uint8Array(bytes), { upscale: UPSCALE, ext: 'png' });
        faces += result.faces.length;
        restoreMs += result.timingsMs.restore ?? 0;
      }
    }),
  );
  return { ms: performance.now() - started, faces, restoreMs };
}

async function main(): Promise<void> {
  const shared = sharedDir();
  const modelsDir = path.join(shared, 'models');
  const photosDir = path.join(shared, 'photos', 'whole');
  const inputs = await Promise.all((await readdir(photosDir)).sort().map((name) => readFile(path.join(photosDir, name))));
  const jobs = Number(process.env.REVIVE_BENCH_BATCH_JOBS ?? DEFAULT_JOBS);
  const rounds = Number(process.env.REVIVE_BENCH_BATCH_ROUNDS ?? DEFAULT_ROUNDS);
  const work = await mkdtemp(path.join(tmpdir(), 'revive-batching-bench-'));
  const given = restorerArgument();
  const restorer = given ?? (await writeBatchConvRestorer(work, GENERATED));
  const label = given ? path.basename(given) : `generated ${GENERATED.convs} convs × ${GENERATED.channels} channels at 128² (writeBatchConvRestorer)`;

  const pools: { batchFaces: number; pool: PipelineThreadPool; ms: number; faces: number; restoreMs: number }[] = [];
  try {
    for (const batchFaces of BATCH_SIZES) {
      // As `revive serve` configures them at REVIVE_CONCURRENCY 2, REVIVE_THREADS unset (0).
      const pool = await PipelineThreadPool.create({ modelsDir, restorer, download: false, threadCount: CONCURRENCY, maxBatchFaces: batchFaces });
      if (batchFaces > 1 && pool.batching === undefined) throw new Error(`${restorer} takes a batch of 1 only: nothing to batch`);
      pools.push({ batchFaces, pool, ms: 0, faces: 0, restoreMs: 0 });
    }
    for (const entry of pools) await runJobs(entry.pool, inputs, inputs.length); // warm-up
    const warm = new Map(pools.map((e) => [e, { ...(e.pool.batching ?? { batches: 0, faces: 0, runMs: 0 }) }]));
    for (let round = 0; round < rounds; round++) {
      for (const entry of pools) {
        const { ms, faces, restoreMs } = await runJobs(entry.pool, inputs, jobs);
        entry.ms += ms;
        entry.faces += faces;
        entry.restoreMs += restoreMs;
      }
    }
    console.log(`== batching gain: ${jobs * rounds} jobs per configuration (photos/whole round-robin, upscale ${UPSCALE}), ${CONCURRENCY} at a time on ${CONCURRENCY} pipeline threads, ${rounds} alternating rounds, ${availableParallelism()} cores`);
    console.log(`restorer: ${label}; batch delay ${DEFAULT_RESTORE_BATCH_DELAY_MS} ms`);
    const base = pools[0]!;
    const perSecond = (e: (typeof pools)[number]) => (e.faces / e.ms) * 1000;
    const rows = pools.map((e) => {
      const stats = e.pool.batching;
      const before = warm.get(e)!;
      const meanBatch = stats ? (stats.faces - before.faces) / Math.max(1, stats.batches - before.batches) : 1;
      // The model's own time per face: the shared restorer's runs, or each thread's restore stage (its session's runs).
      const modelMs = stats ? stats.runMs - before.runMs : e.restoreMs;
      return [
        e.batchFaces === 1 ? '1 (a session per thread)' : `${e.batchFaces} (shared restorer)`,
        fmt(e.ms, 0),
        String(e.faces),
        fmt(perSecond(e), 2),
        fmt(meanBatch, 2),
        fmt(modelMs / e.faces, 0),
        stats ? `${fmt((100 * modelMs) / e.ms, 0)} %` : '–',
        `${fmt(perSecond(e) / perSecond(base), 2)}x`,
      ];
    });
    const header = ['maxBatchFaces', 'wall ms', 'faces', 'faces/s', 'mean batch', 'model ms/face', 'restorer busy', 'gain'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
    console.log([line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n'));
  } finally {
    await Promise.all(pools.map((e) => e.pool.dispose()));
    await rm(work, { recursive: true, force: true });
  }
}

await main();
