// `pnpm bench` (first part): Revive against the OpenCV yardstick (../shared/reference/opencv_pipeline.py), whole
// process each, interleaved, median of REVIVE_BENCH_RUNS (default 3), identity restorer, upscale 2:
//   1. shared/photos/whole with PNG output: the ratio Revive / OpenCV (bar: 0.6 or less), then Revive's per-stage
//      medians per face (align and paste: bars 10 ms and 20 ms), measured in-process one photo at a time (in the
//      CLI two photos overlap, so its report's stage times include waiting for the other photo);
//   2. a close-up: blurry_face.jpg enlarged 10× (about 6.4 MP, one face filling the frame), JPEG output
//      (bar: 0.3 or less);
//   3. with --64mp only: the same face enlarged to 61 MP, Revive alone, one run (bar: under 60 s).
// Both sides start cold every run (interpreter, model load, file output), as a user runs them.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readImage, resizeImage, writeImage, RestorationPipeline } from '@revive/pipeline';
import { sharedDir, writeIdentityRestorer } from '@revive/pipeline/testing';

const RUNS = Number(process.env.REVIVE_BENCH_RUNS ?? 3);
const PYTHON = '/usr/bin/python3';
const shared = sharedDir();
// `pnpm revive`'s entry: the bundle (`pnpm bench` builds it first), as a user runs it; under tsx only when stale.
const cliPath = path.resolve(import.meta.dirname, '../bin/revive.js');
const reference = path.join(shared, 'reference', 'opencv_pipeline.py');

const median = (values: readonly number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

function run(command: string, args: readonly string[]): Promise<number> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    execFile(command, args, { maxBuffer: 1 << 24 }, (error, _stdout, stderr) => {
      if (error) return reject(new Error(`${path.basename(command)} ${args.slice(0, 2).join(' ')} failed: ${stderr.slice(-2000)}`));
      resolve(performance.now() - start);
    });
  });
}

async function compare(label: string, input: string, ext: 'png' | 'jpg', restorer: string, work: string): Promise<number> {
  const reviveMs: number[] = [], opencvMs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const out = path.join(work, `${label}-revive-${i}`), ref = path.join(work, `${label}-opencv-${i}`);
    reviveMs.push(
      await run(process.execPath, [cliPath, 'restore', input, '--output', out, '--restorer', restorer,
        '--models-dir', path.join(shared, 'models'), '--no-download', '-s', '2', '--ext', ext]),
    );
    opencvMs.push(await run(PYTHON, [reference, '-i', input, '-o', ref, '--upscale', '2', '--score-threshold', '0.7', '--paste-offset', '0.5', '--ext', ext]));
    await Promise.all([rm(out, { recursive: true, force: true }), rm(ref, { recursive: true, force: true })]);
  }
  const ratio = median(reviveMs) / median(opencvMs);
  console.log(`== ${label}: whole process, median of ${RUNS}, interleaved`);
  console.log(`revive ${median(reviveMs).toFixed(0)} ms [${reviveMs.map((v) => v.toFixed(0)).join(', ')}]`);
  console.log(`opencv ${median(opencvMs).toFixed(0)} ms [${opencvMs.map((v) => v.toFixed(0)).join(', ')}]`);
  console.log(`ratio revive / opencv: ${ratio.toFixed(2)}`);
  console.log();
  return ratio;
}

/** Revive's stages per face, in-process, one photo at a time: median over runs of (stage sum over photos / faces). */
async function stagesPerFace(input: string, restorer: string): Promise<Record<string, number>> {
  const pipeline = await RestorationPipeline.create({ modelsDir: path.join(shared, 'models'), restorer, download: false });
  const runs: Record<string, number>[] = [];
  try {
    const photos = await Promise.all((await readdir(input)).sort().map((name) => readFile(path.join(input, name))));
    for (let i = 0; i <= RUNS; i++) {
      const sums: Record<string, number> = {};
      let faces = 0;
      for (const bytes of photos) {
        const result = await pipeline.process(bytes, { upscale: 2, ext: 'png' });
        faces += result.faces.length;
        for (const [stage, ms] of Object.entries(result.timingsMs)) sums[stage] = (sums[stage] ?? 0) + (ms ?? 0);
      }
      if (i > 0) runs.push(Object.fromEntries(Object.entries(sums).map(([stage, ms]) => [stage, ms / faces]))); // run 0 warms up
    }
  } finally {
    await pipeline.dispose();
  }
  const perFace = Object.fromEntries(Object.keys(runs[0] ?? {}).map((stage) => [stage, median(runs.map((r) => r[stage] ?? NaN))]));
  console.log(`== Revive per stage, ms per face (stage total over the photos / faces), in-process, median of ${RUNS}`);
  console.log(Object.entries(perFace).map(([stage, ms]) => `${stage} ${ms.toFixed(1)}`).join(', '));
  console.log();
  return perFace;
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

const work = await mkdtemp(path.join(tmpdir(), 'revive-vs-opencv-'));
try {
  const restorer = await writeIdentityRestorer(work);
  const whole = path.join(shared, 'photos', 'whole');
  console.log(`Revive vs OpenCV yardstick: ${(await readdir(whole)).length} photos in ${whole}, identity restorer, upscale 2`);
  const ratio = await compare('photos/whole, PNG', whole, 'png', restorer, work);
  const perFace = await stagesPerFace(whole, restorer);
  const closeRatio = await compare('close-up, JPEG', await closeUp(work, 10), 'jpg', restorer, work);
  console.log('== bars');
  console.log(`photos/whole ratio ${ratio.toFixed(2)} (≤ 0.6): ${ratio <= 0.6 ? 'met' : 'NOT met'}`);
  console.log(`align per face ${perFace.align?.toFixed(1)} ms (≤ 10): ${(perFace.align ?? Infinity) <= 10 ? 'met' : 'NOT met'}`);
  console.log(`paste per face ${perFace.paste?.toFixed(1)} ms (≤ 20): ${(perFace.paste ?? Infinity) <= 20 ? 'met' : 'NOT met'}`);
  console.log(`close-up ratio ${closeRatio.toFixed(2)} (≤ 0.3): ${closeRatio <= 0.3 ? 'met' : 'NOT met'}`);
  if (process.argv.includes('--64mp')) {
    const dir = await closeUp(work, 31);
    const ms = await run(process.execPath, [cliPath, 'restore', dir, '--output', path.join(work, 'out64'), '--restorer', restorer,
      '--models-dir', path.join(shared, 'models'), '--no-download', '-s', '2', '--ext', 'jpg']);
    console.log(`64 MP close-up: ${(ms / 1000).toFixed(1)} s (< 60 s): ${ms < 60_000 ? 'met' : 'NOT met'}`);
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
