// `pnpm bench` (first part): Revive against the OpenCV yardstick (../shared/reference/opencv_pipeline.py), whole
// process each, interleaved, median of REVIVE_BENCH_RUNS (default 3), identity restorer, upscale 2:
//   1. shared/photos/whole with PNG output: the ratio Revive / OpenCV (bar: 0.6 or less), then Revive's per-stage
//      medians per face (align and paste: bars 10 ms and 20 ms), measured in-process one photo at a time (in the
//      CLI two photos overlap, so its report's stage times include waiting for the other photo);
//   2. ten small photos (testing's writeSmallPhotos: at most 1204 px, 14 faces) with PNG output, where the per-photo
//      fixed costs weigh most: the ratio (bar: 0.6 or less) and the same in-process stage breakdown;
//      REVIVE_BENCH_BASELINE=<another checkout>/packages/worker/bin/revive.js times that build too, interleaved,
//      for before/after figures;
//   3. the CPU-side ms per face (every stage but the restorer) on both sets, wall and CPU (every thread), PNG out;
//      per output format and thread count, and the GPU task sizing: packages/pipeline/bench/cpu-side.bench.ts;
//   4. a close-up: blurry_face.jpg enlarged 10× (about 6.4 MP, one face filling the frame), JPEG output
//      (bar: 0.3 or less);
//   5. with --64mp only: the same face enlarged to 61 MP, Revive alone, one run (bar: under 60 s).
// Both sides start cold every run (interpreter, model load, file output), as a user runs them.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readImage, resizeImage, writeImage, RestorationPipeline } from '@revive/pipeline';
import { sharedDir, writeIdentityRestorer, writeSmallPhotos } from '@revive/pipeline/testing';

const RUNS = Number(process.env.REVIVE_BENCH_RUNS ?? 3);
const PYTHON = '/usr/bin/python3';
const shared = sharedDir();
// `pnpm revive`'s entry: the bundle (`pnpm bench` builds it first), as a user runs it; under tsx only when stale.
const cliPath = path.resolve(import.meta.dirname, '../bin/revive.js');
const reference = path.join(shared, 'reference', 'opencv_pipeline.py');
/** Another build of `revive` to time beside this one (before/after figures); none by default. */
const baselineCli = process.env.REVIVE_BENCH_BASELINE;
/** Only the small photos' comparison and stages (with REVIVE_BENCH_BASELINE: a quick before/after). */
const SMALL_ONLY_FLAG = '--small-only';

const median = (values: readonly number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** Wall and CPU milliseconds of a child process (CPU: user + system, its threads included, from GNU time). */
interface Timed {
  readonly wallMs: number;
  readonly cpuMs: number;
}

const GNU_TIME = '/usr/bin/time';
/** On a shared machine CPU time moves less than wall time; without GNU time only wall time is printed. */
const hasGnuTime = existsSync(GNU_TIME);

function run(command: string, args: readonly string[]): Promise<Timed> {
  const start = performance.now();
  const [file, argv] = hasGnuTime ? [GNU_TIME, ['-f', 'revive-bench-cpu %U %S', command, ...args]] : [command, args];
  return new Promise((resolve, reject) => {
    execFile(file, argv, { maxBuffer: 1 << 24 }, (error, _stdout, stderr) => {
      if (error) return reject(new Error(`${path.basename(command)} ${args.slice(0, 2).join(' ')} failed: ${stderr.slice(-2000)}`));
      const cpu = /revive-bench-cpu ([\d.]+) ([\d.]+)/.exec(stderr);
      resolve({ wallMs: performance.now() - start, cpuMs: cpu ? (Number(cpu[1]) + Number(cpu[2])) * 1000 : NaN });
    });
  });
}

/** The stage totals of a `revive restore` run's report.json (the CLI overlaps two photos: they include waiting). */
async function reportStages(out: string): Promise<Record<string, number>> {
  const report = JSON.parse(await readFile(path.join(out, 'report.json'), 'utf8')) as { totals: { timingsMs: Record<string, number> } };
  return report.totals.timingsMs;
}

const medianStages = (runs: readonly Record<string, number>[]): string =>
  Object.keys(runs[0] ?? {}).map((stage) => `${stage} ${median(runs.map((r) => r[stage] ?? NaN)).toFixed(0)}`).join(', ');

const describe = (name: string, timed: readonly Timed[]): string => {
  const wall = timed.map((t) => t.wallMs), cpu = timed.map((t) => t.cpuMs);
  return `${name} ${median(wall).toFixed(0)} ms [${wall.map((v) => v.toFixed(0)).join(', ')}]` + (hasGnuTime ? `, CPU ${median(cpu).toFixed(0)} ms` : '');
};

async function compare(label: string, input: string, ext: 'png' | 'jpg', restorer: string, work: string, baseline?: string): Promise<number> {
  const revive: Timed[] = [], opencv: Timed[] = [], base: Timed[] = [];
  const reviveStages: Record<string, number>[] = [], baseStages: Record<string, number>[] = [];
  const reviveArgs = (out: string) => ['restore', input, '--output', out, '--restorer', restorer,
    '--models-dir', path.join(shared, 'models'), '--no-download', '-s', '2', '--ext', ext];
  for (let i = 0; i < RUNS; i++) {
    const out = path.join(work, `${label}-revive-${i}`), ref = path.join(work, `${label}-opencv-${i}`), baseOut = path.join(work, `${label}-baseline-${i}`);
    revive.push(await run(process.execPath, [cliPath, ...reviveArgs(out)]));
    reviveStages.push(await reportStages(out));
    opencv.push(await run(PYTHON, [reference, '-i', input, '-o', ref, '--upscale', '2', '--score-threshold', '0.7', '--paste-offset', '0.5', '--ext', ext]));
    if (baseline !== undefined) {
      base.push(await run(process.execPath, [baseline, ...reviveArgs(baseOut)]));
      baseStages.push(await reportStages(baseOut));
    }
    await Promise.all([out, ref, baseOut].map((dir) => rm(dir, { recursive: true, force: true })));
  }
  const wall = (timed: readonly Timed[]) => median(timed.map((t) => t.wallMs));
  const ratio = wall(revive) / wall(opencv);
  console.log(`== ${label}: whole process, median of ${RUNS}, interleaved`);
  console.log(describe('revive', revive));
  console.log(describe('opencv', opencv));
  console.log(`ratio revive / opencv: ${ratio.toFixed(2)}` + (hasGnuTime ? ` (CPU time: ${(median(revive.map((t) => t.cpuMs)) / median(opencv.map((t) => t.cpuMs))).toFixed(2)})` : ''));
  console.log(`revive's report.json stage totals (ms, two photos in flight): ${medianStages(reviveStages)}`);
  if (baseline !== undefined) {
    console.log(describe(`baseline (${baseline})`, base));
    console.log(`baseline / opencv ${(wall(base) / wall(opencv)).toFixed(2)}; this build / baseline ${(wall(revive) / wall(base)).toFixed(2)}` +
      (hasGnuTime ? ` (CPU time: ${(median(revive.map((t) => t.cpuMs)) / median(base.map((t) => t.cpuMs))).toFixed(2)})` : ''));
    console.log(`baseline's report.json stage totals: ${medianStages(baseStages)}`);
  }
  console.log();
  return ratio;
}

/** What `stagesPerFace` measured: ms per face of each stage, and of every stage but the restorer. */
interface StageFigures {
  readonly perFace: Record<string, number>;
  /** Every stage but the restorer, wall ms per face. */
  readonly cpuSideMsPerFace: number;
  /**
   * Every stage but the restorer's model run, CPU ms per face (every thread): the work a GPU task's vCPUs do around
   * the model, the restore stage's own conversions (`restoreConvert`, CPU time only) included.
   */
  readonly cpuSideCpuMsPerFace: number;
}

/**
 * Revive's stages, in-process, one photo at a time: median over runs of (stage sum over photos / faces), printed per
 * face and per photo, and the CPU-side ms per face (every stage but `restore`).
 */
async function stagesPerFace(label: string, input: string, restorer: string): Promise<StageFigures> {
  const pipeline = await RestorationPipeline.create({ modelsDir: path.join(shared, 'models'), restorer, download: false });
  const runs: Record<string, number>[] = [], cpuRuns: Record<string, number>[] = [];
  let faces = 0, photoCount = 0;
  try {
    const photos = await Promise.all((await readdir(input)).sort().map((name) => readFile(path.join(input, name))));
    photoCount = photos.length;
    for (let i = 0; i <= RUNS; i++) {
      const sums: Record<string, number> = {}, cpuSums: Record<string, number> = {};
      faces = 0;
      for (const bytes of photos) {
        const result = await pipeline.process(bytes, { upscale: 2, ext: 'png' });
        faces += result.faces.length;
        for (const [stage, ms] of Object.entries(result.timingsMs)) sums[stage] = (sums[stage] ?? 0) + (ms ?? 0);
        for (const [stage, ms] of Object.entries(result.cpuMs ?? {})) cpuSums[stage] = (cpuSums[stage] ?? 0) + (ms ?? 0);
      }
      if (i > 0) {
        // Run 0 warms up.
        runs.push(sums);
        cpuRuns.push(cpuSums);
      }
    }
  } finally {
    await pipeline.dispose();
  }
  const totals = Object.fromEntries(Object.keys(runs[0] ?? {}).map((stage) => [stage, median(runs.map((r) => r[stage] ?? NaN))]));
  const perFace = Object.fromEntries(Object.entries(totals).map(([stage, ms]) => [stage, ms / faces]));
  const butRestore = (r: Record<string, number>) => Object.entries(r).reduce((sum, [stage, ms]) => (stage === 'restore' ? sum : sum + ms), 0);
  const cpuSide = median(runs.map(butRestore)) / faces;
  const cpuSideCpu = median(cpuRuns.map(butRestore)) / faces;
  console.log(`== ${label}: Revive per stage, in-process, one photo at a time, median of ${RUNS} (${photoCount} photos, ${faces} faces)`);
  console.log(`ms per face:  ${Object.entries(perFace).map(([stage, ms]) => `${stage} ${ms.toFixed(1)}`).join(', ')}`);
  console.log(`ms per photo: ${Object.entries(totals).map(([stage, ms]) => `${stage} ${(ms / photoCount).toFixed(1)}`).join(', ')}`);
  console.log(`CPU ms per face: ${Object.keys(cpuRuns[0] ?? {}).map((stage) => `${stage} ${(median(cpuRuns.map((r) => r[stage] ?? NaN)) / faces).toFixed(1)}`).join(', ')}`);
  console.log(
    `CPU-side (every stage but restore; restoreConvert, the restorer's conversions, counted in CPU only): ${cpuSide.toFixed(1)} wall ms, ${cpuSideCpu.toFixed(1)} CPU ms per face (per output format and thread count: bench/cpu-side.bench.ts)`,
  );
  console.log();
  return { perFace, cpuSideMsPerFace: cpuSide, cpuSideCpuMsPerFace: cpuSideCpu };
}

async function closeUp(work: string, factor: number): Promise<string> {
  const dir = path.join(work, `closeup-${factor}x`);
  await mkdir(dir, { recursive: true });
  const face = (await readImage(await readFile(path.join(shared, 'photos', 'whole', 'blurry_face.jpg')), { maxPixels: 1e8 })).rgb;
  const big = await resizeImage(face, face.width * factor, face.height * factor, 'lanczos3');
  await writeFile(path.join(dir, `closeup-${factor}x.jpg`), await writeImage(big, undefined, 'jpeg', { quality: 95 }));
  console.log(`close-up: blurry_face.jpg ×${factor} = ${big.width}×${big.height} (${((big.width * big.height) / 1e6).toFixed(1)} MP)`);
  return dir;
}

/** Every section, with the bars. */
async function allSections(whole: string, small: string, restorer: string, work: string): Promise<void> {
  const ratio = await compare('photos/whole, PNG', whole, 'png', restorer, work);
  const wholeStages = await stagesPerFace('photos/whole', whole, restorer);
  const smallRatio = await compare('10 small photos, PNG', small, 'png', restorer, work, baselineCli);
  const smallStages = await stagesPerFace('10 small photos', small, restorer);
  const closeRatio = await compare('close-up, JPEG', await closeUp(work, 10), 'jpg', restorer, work);
  const { perFace } = wholeStages;
  console.log('== bars');
  console.log(`photos/whole ratio ${ratio.toFixed(2)} (≤ 0.6): ${ratio <= 0.6 ? 'met' : 'NOT met'}`);
  console.log(`small photos ratio ${smallRatio.toFixed(2)} (≤ 0.6): ${smallRatio <= 0.6 ? 'met' : 'NOT met'}`);
  console.log(`align per face ${perFace.align?.toFixed(1)} ms (≤ 10): ${(perFace.align ?? Infinity) <= 10 ? 'met' : 'NOT met'}`);
  console.log(`paste per face ${perFace.paste?.toFixed(1)} ms (≤ 20): ${(perFace.paste ?? Infinity) <= 20 ? 'met' : 'NOT met'}`);
  console.log(`CPU-side per face, PNG out: photos/whole ${wholeStages.cpuSideCpuMsPerFace.toFixed(1)} CPU ms, small photos ${smallStages.cpuSideCpuMsPerFace.toFixed(1)} CPU ms (goal ≤ 25 ms per core)`);
  console.log(`close-up ratio ${closeRatio.toFixed(2)} (≤ 0.3): ${closeRatio <= 0.3 ? 'met' : 'NOT met'}`);
  if (process.argv.includes('--64mp')) {
    const dir = await closeUp(work, 31);
    const ms = await run(process.execPath, [cliPath, 'restore', dir, '--output', path.join(work, 'out64'), '--restorer', restorer,
      '--models-dir', path.join(shared, 'models'), '--no-download', '-s', '2', '--ext', 'jpg']);
    console.log(`64 MP close-up: ${(ms.wallMs / 1000).toFixed(1)} s (< 60 s): ${ms.wallMs < 60_000 ? 'met' : 'NOT met'}`);
  }
}

const work = await mkdtemp(path.join(tmpdir(), 'revive-vs-opencv-'));
try {
  const restorer = await writeIdentityRestorer(work);
  const whole = path.join(shared, 'photos', 'whole');
  console.log(`Revive vs OpenCV yardstick: ${(await readdir(whole)).length} photos in ${whole}, identity restorer, upscale 2`);
  const small = path.join(work, 'small-photos');
  await mkdir(small);
  await writeSmallPhotos(small);
  if (process.argv.includes(SMALL_ONLY_FLAG)) {
    await compare('10 small photos, PNG', small, 'png', restorer, work, baselineCli);
    await stagesPerFace('10 small photos', small, restorer);
  } else {
    await allSections(whole, small, restorer, work);
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
