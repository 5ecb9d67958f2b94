// `pnpm bench`: the CPU-side cost per face (issue 24's goal: at most 25 ms per core), that is the CPU time of every
// stage but the restorer's model run, per face (the restore stage's conversions around the model, `restoreConvert`,
// count: a GPU task's vCPUs do them too), for each output format a GPU service would write (PNG at the default level, JPEG,
// WebP), on shared/photos/whole and on the ten small photos (testing's writeSmallPhotos), identity restorer, upscale 2.
// Figures are CPU time (process.cpuUsage: user + system, every thread: libvips, the kernels' helpers, onnxruntime),
// from the pipeline's own per-stage `cpuMs`, in-process, one photo at a time so that nothing else runs beside a stage,
// for each thread count in REVIVE_BENCH_CPU_SIDE_THREADS (default "1,2"): the onnxruntime intra-op threads and the
// resampling kernels' threads of the pipeline. 1 is a pipeline thread of a task with as many threads as cores; 2 is a
// GPU task's (4 vCPUs, 2 jobs at once: PipelineThreadPool gives each thread 2 cores). libvips keeps its own threads.
// Then the vCPUs a GPU task needs to feed its GPU: faces/s × CPU ms per face. The GPU's faces/s is an assumption
// (REVIVE_BENCH_GPU_FACES_PER_S, default 160: issue 24's "4 vCPUs feed 160 faces/s") until scripts/device-check.sh
// runs on a lent GPU.
//
// Each build runs in a child process of its own (its own sharp and onnxruntime), one round after the other,
// interleaved, median of REVIVE_BENCH_RUNS rounds (default 3), each round after a warm-up pass:
//   REVIVE_BENCH_BASELINE_CHECKOUT=<another checkout's root> measures that build beside this one (before/after
//   figures); its pipeline must report per-stage `cpuMs` (ProcessResult.cpuMs). A build that does not time the
//   conversions apart (before restoreConvert) counts 0 for that row: its CPU-side sum leaves them out, so the
//   comparison favours it by their cost.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { sharedDir } from '../src/testing/shared-dir.js';
import { writeIdentityRestorer } from '../src/testing/models.js';
import { writeSmallPhotos } from '../src/testing/photos.js';

const CHILD_FLAG = '--child';
const RUNS = Number(process.env.REVIVE_BENCH_RUNS ?? 3);
/** The restorer's assumed throughput on one GPU (issue 24's figure), until the device check measures it. @default 160 */
const GPU_FACES_PER_S = Number(process.env.REVIVE_BENCH_GPU_FACES_PER_S ?? 160);
/** Issue 24's goal, CPU ms per face on one core. */
const GOAL_CPU_MS_PER_FACE = 25;
const FORMATS = ['png', 'jpg', 'webp'] as const;
type Format = (typeof FORMATS)[number];
/** Every stage but the restorer's model run: `restoreConvert` is the part of `restore` outside the model. */
const STAGES = ['decode', 'detect', 'align', 'restoreConvert', 'upscale', 'paste', 'encode'] as const;
/** Rows with CPU time only (the pipeline's wall timings have no such stage). */
const CPU_ONLY: ReadonlySet<string> = new Set(['restoreConvert']);
const UPSCALE = 2;
/** Thread counts measured (onnxruntime intra-op and resampling kernels). @default [1, 2] */
const THREAD_COUNTS = (process.env.REVIVE_BENCH_CPU_SIDE_THREADS ?? '1,2').split(',').map(Number);

interface SetSpec {
  readonly label: string;
  readonly dir: string;
}
/** One pass over a set in one format: stage sums over its photos. */
interface Pass {
  readonly faces: number;
  readonly photos: number;
  readonly cpuMs: Record<string, number>;
  readonly wallMs: Record<string, number>;
}
/** Per set and format, and `conversions`: CPU ms of one 512² crop to its tensor and back, by the build's own functions. */
interface ChildReport {
  readonly sets: Record<string, Record<Format, Pass>>;
  readonly conversions: number;
}

interface RestoreModule {
  cropToTensor(crop: { width: number; height: number; data: Uint8Array }): Float32Array;
  tensorToCrop(tensor: Float32Array, original: { width: number; height: number; data: Uint8Array }, blend: number): unknown;
}

/**
 * CPU ms of `cropToTensor` then `tensorToCrop` (blend 1) on a 512² crop, median of 30, with the checkout's own
 * functions: a figure a build without `restoreConvert` can give too. Each call allocates its tensor, as the
 * baseline's pipeline did (this build's pipeline reuses it: its `restoreConvert` row is the figure in the pipeline).
 */
async function conversionsMs(checkout: string): Promise<number> {
  const { cropToTensor, tensorToCrop } = (await import(pathToFileURL(path.join(checkout, 'packages', 'pipeline', 'src', 'restore.ts')).href)) as RestoreModule;
  const crop = { width: 512, height: 512, data: Uint8Array.from({ length: 512 * 512 * 3 }, (_, i) => (i * 7919) % 251) };
  const times: number[] = [];
  for (let i = 0; i < 35; i++) {
    const start = process.cpuUsage();
    tensorToCrop(cropToTensor(crop), crop, 1);
    const used = process.cpuUsage(start);
    if (i >= 5) times.push((used.user + used.system) / 1000);
  }
  return median(times);
}

interface PipelineModule {
  readonly RestorationPipeline: {
    create(config: { modelsDir: string; restorer: string; download: boolean; threads: number; kernelThreads: number }): Promise<{
      process(input: Uint8Array, options: { upscale: number; ext: Format }): Promise<{
        faces: readonly unknown[];
        timingsMs: Record<string, number | undefined>;
        cpuMs?: Record<string, number | undefined>;
      }>;
      dispose(): Promise<void>;
    }>;
  };
}

const median = (values: readonly number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** In the child: one warm-up pass, then one pass per set and format with the pipeline of `checkout`. */
async function child(checkout: string, restorer: string, sets: readonly SetSpec[], threads: number): Promise<ChildReport> {
  const entry = pathToFileURL(path.join(checkout, 'packages', 'pipeline', 'src', 'index.ts')).href;
  const { RestorationPipeline } = (await import(entry)) as PipelineModule;
  const pipeline = await RestorationPipeline.create({ modelsDir: path.join(sharedDir(), 'models'), restorer, download: false, threads, kernelThreads: threads });
  const conversions = await conversionsMs(checkout);
  const report: Record<string, Record<Format, Pass>> = {};
  try {
    const inputs = await Promise.all(
      sets.map(async (set) => ({ set, photos: await Promise.all((await readdir(set.dir)).sort().map((name) => readFile(path.join(set.dir, name)))) })),
    );
    for (const { photos } of inputs) for (const bytes of photos) for (const ext of FORMATS) await pipeline.process(bytes, { upscale: UPSCALE, ext });
    for (const { set, photos } of inputs) {
      const byFormat: Partial<Record<Format, Pass>> = {};
      for (const ext of FORMATS) {
        const cpuMs: Record<string, number> = {}, wallMs: Record<string, number> = {};
        let faces = 0;
        for (const bytes of photos) {
          const result = await pipeline.process(bytes, { upscale: UPSCALE, ext });
          if (result.cpuMs === undefined) throw new Error(`${checkout}'s pipeline reports no per-stage CPU time (ProcessResult.cpuMs)`);
          faces += result.faces.length;
          for (const [stage, ms] of Object.entries(result.cpuMs)) cpuMs[stage] = (cpuMs[stage] ?? 0) + (ms ?? 0);
          for (const [stage, ms] of Object.entries(result.timingsMs)) wallMs[stage] = (wallMs[stage] ?? 0) + (ms ?? 0);
        }
        byFormat[ext] = { faces, photos: photos.length, cpuMs, wallMs };
      }
      report[set.label] = byFormat as Record<Format, Pass>;
    }
  } finally {
    await pipeline.dispose();
  }
  return { sets: report, conversions };
}

function runChild(checkout: string, restorer: string, sets: readonly SetSpec[], threads: number): Promise<ChildReport> {
  const args = [...process.execArgv, process.argv[1]!, CHILD_FLAG, JSON.stringify({ checkout, restorer, sets, threads })];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { maxBuffer: 1 << 24 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`the bench's child for ${checkout} failed: ${stderr.slice(-2000)}`));
      resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as ChildReport);
    });
  });
}

const cpuSide = (pass: Pass): number => STAGES.reduce((sum, stage) => sum + (pass.cpuMs[stage] ?? 0), 0) / pass.faces;

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(tmpdir(), 'revive-cpu-side-'));
  try {
    const restorer = await writeIdentityRestorer(work);
    const small = path.join(work, 'small-photos');
    await mkdir(small);
    await writeSmallPhotos(small);
    const sets: SetSpec[] = [
      { label: 'photos/whole', dir: path.join(sharedDir(), 'photos', 'whole') },
      { label: '10 small photos', dir: small },
    ];
    const here = path.resolve(import.meta.dirname, '../../..');
    const baseline = process.env.REVIVE_BENCH_BASELINE_CHECKOUT;
    const builds = [{ label: 'this build', checkout: here }, ...(baseline === undefined ? [] : [{ label: `baseline (${baseline})`, checkout: path.resolve(baseline) }])];
    console.log(`CPU-side cost per face: CPU time of every stage but the restorer's model run (restoreConvert: its crop to a tensor and back; 0 for a build that does not report it), in-process, one photo at a time, identity restorer, upscale ${UPSCALE}; median of ${RUNS} rounds, builds interleaved`);
    const key = (build: string, threads: number) => `${build} ${threads}`;
    const rounds = new Map<string, ChildReport[]>(builds.flatMap((b) => THREAD_COUNTS.map((t) => [key(b.label, t), []])));
    for (let i = 0; i < RUNS; i++) {
      for (const threads of THREAD_COUNTS) for (const build of builds) rounds.get(key(build.label, threads))!.push(await runChild(build.checkout, restorer, sets, threads));
    }
    for (const threads of THREAD_COUNTS) for (const set of sets) report(set, threads);
    console.log(
      `\nthe restorer's conversions alone (a 512² crop to its tensor and back, a new tensor each time, 1 thread, median): ` +
        builds.map((b) => `${b.label} ${median(THREAD_COUNTS.flatMap((t) => rounds.get(key(b.label, t))!.map((r) => r.conversions))).toFixed(1)} CPU ms`).join(', '),
    );
    console.log(`\n(${GPU_FACES_PER_S} faces/s per GPU is an assumption, REVIVE_BENCH_GPU_FACES_PER_S, until scripts/device-check.sh measures a card)`);

    /** Median over rounds of a figure taken from one pass. */
    function med(build: string, threads: number, set: string, ext: Format, figure: (pass: Pass) => number): number {
      return median(rounds.get(key(build, threads))!.map((r) => figure(r.sets[set]![ext])));
    }
    function report(set: SetSpec, threads: number): void {
      const first = rounds.get(key(builds[0]!.label, threads))![0]!.sets[set.label]!.png;
      console.log(`\n== ${set.label} (${first.photos} photos, ${first.faces} faces), ${threads} thread(s): CPU ms per face (wall ms per face in brackets)`);
      const columns = builds.flatMap((b) => FORMATS.map((ext) => ({ build: b.label, ext, head: builds.length > 1 ? `${ext} ${b.label === 'this build' ? 'now' : 'before'}` : ext })));
      const rows = [...STAGES, 'CPU-side'].map((stage) => [
        stage,
        ...columns.map(({ build, ext }) =>
          stage === 'CPU-side'
            ? `${med(build, threads, set.label, ext, cpuSide).toFixed(1)}`
            : `${med(build, threads, set.label, ext, (p) => (p.cpuMs[stage] ?? 0) / p.faces).toFixed(1)}` +
              (CPU_ONLY.has(stage) ? '' : ` (${med(build, threads, set.label, ext, (p) => (p.wallMs[stage] ?? 0) / p.faces).toFixed(1)})`),
        ),
      ]);
      console.log(table(['stage', ...columns.map((c) => c.head)], rows));
      for (const ext of FORMATS) {
        const ms = med(builds[0]!.label, threads, set.label, ext, cpuSide);
        const before = builds[1] === undefined ? undefined : med(builds[1].label, threads, set.label, ext, cpuSide);
        // A baseline that does not time its conversions apart: its figure plus its conversions timed alone.
        const unreported = builds[1] !== undefined && rounds.get(key(builds[1].label, threads))!.every((r) => r.sets[set.label]![ext].cpuMs.restoreConvert === undefined);
        const withConversions = before === undefined || !unreported ? undefined : before + median(rounds.get(key(builds[1]!.label, threads))!.map((r) => r.conversions));
        console.log(
          `${ext}: ${ms.toFixed(1)} CPU ms per face (goal ≤ ${GOAL_CPU_MS_PER_FACE}: ${ms <= GOAL_CPU_MS_PER_FACE ? 'met' : 'NOT met'}); ` +
            `${((GPU_FACES_PER_S * ms) / 1000).toFixed(1)} vCPUs feed a GPU at ${GPU_FACES_PER_S} faces/s, one vCPU feeds ${(1000 / ms).toFixed(0)} faces/s` +
            (before === undefined ? '' : `; baseline ${before.toFixed(1)} ms, this / baseline ${(ms / before).toFixed(2)}`) +
            (withConversions === undefined ? '' : `; baseline with its conversions timed alone ${withConversions.toFixed(1)} ms, this / that ${(ms / withConversions).toFixed(2)}`),
        );
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

const childAt = process.argv.indexOf(CHILD_FLAG);
if (childAt >= 0) {
  const { checkout, restorer, sets, threads } = JSON.parse(process.argv[childAt + 1]!) as { checkout: string; restorer: string; sets: SetSpec[]; threads: number };
  console.log(JSON.stringify(await child(checkout, restorer, sets, threads)));
} else {
  await main();
}
