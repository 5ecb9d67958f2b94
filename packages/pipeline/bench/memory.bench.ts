// `pnpm bench`: memory of big jobs (issue 18). Each figure is the peak RSS of a fresh `revive restore` child process
// (process.resourceUsage().maxRSS, read in the child at exit), as a 4 GiB task would see it:
//   1. an idle run (a 64×64 photo): the baseline of node, onnxruntime, libvips and the models (identity restorer)
//   2. a 64 MP photo (8000×8000, the input limit) at upscale 2, JPEG out: the output limit exactly; set beside the
//      contract's working-memory estimate (jobMemoryBytes), which the default per-job budget is checked with
//   3. the decompression bombs of issue 18 at upscale 4 (a flat 8000×8000 RGBA PNG, the same in grey): refused from
//      the header, so their peak is the baseline
// Last, `revive serve`'s side: RSS of a PipelineThreadPool before, at the peak of and after the 64 MP job, which the
// thread's collection after a big job brings back down (DEFAULT_RELEASE_AFTER_OUTPUT_PIXELS).
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_GPU_TASK_MEMORY_MIB, defaultJobMemoryMiB, jobMemoryBudgetMiB, jobMemoryBytes } from '@revive/contract';
import { readImage, resizeImage, writeImage, writeSolidImage } from '../src/image.js';
import { PipelineThreadPool } from '../src/pipeline-threads.js';
import { sharedDir } from '../src/testing/shared-dir.js';
import { writeIdentityRestorer } from '../src/testing/models.js';

const POOL_PROBE_FLAG = '--pool-probe';
const SIDE_PX = 8000;
const MiB = 2 ** 20;
// The `revive` CLI lives in the worker package since the house move; `pnpm bench` (worker) builds it before this runs.
const cliPath = fileURLToPath(new URL('../../worker/bin/revive.js', import.meta.url));
const shared = sharedDir();
const mib = (bytes: number) => `${Math.round(bytes / MiB).toLocaleString('en-US')} MiB`;
// Written by the child at exit: its own peak RSS, whatever ran in it (pipeline threads included).
const RSS_HOOK = `data:text/javascript,process.on('exit',()=>process.stderr.write('\\n'+JSON.stringify({maxRssKiB:process.resourceUsage().maxRSS})+'\\n'))`;

interface Run {
  readonly peakBytes: number;
  readonly ms: number;
  readonly exitCode: number;
  readonly stderr: string;
}

function restore(dir: string, out: string, restorer: string, upscale: number): Promise<Run> {
  const args = ['--import', RSS_HOOK, cliPath, 'restore', dir, '--output', out, '--restorer', restorer, '--models-dir', path.join(shared, 'models'), '--no-download', '--no-save-faces', '-s', String(upscale), '--ext', 'jpg'];
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { maxBuffer: 16 << 20 }, (error, _stdout, stderr) => {
      const line = stderr.trim().split('\n').pop() ?? '';
      try {
        const { maxRssKiB } = JSON.parse(line) as { maxRssKiB: number };
        resolve({ peakBytes: maxRssKiB * 1024, ms: performance.now() - started, exitCode: error ? Number(error.code ?? 1) : 0, stderr });
      } catch {
        reject(new Error(`no RSS line from the child: ${stderr.slice(-2000)}`));
      }
    });
  });
}

async function folderWith(work: string, name: string, bytes: Uint8Array): Promise<string> {
  const dir = path.join(work, name.replace(/\.\w+$/, ''));
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, name), bytes);
  return dir;
}

/** The 64 MP photo: blurry_face.jpg enlarged to 8000×8000 (one face), as JPEG. */
async function bigPhoto(): Promise<Uint8Array> {
  const face = (await readImage(await readFile(path.join(shared, 'photos', 'whole', 'blurry_face.jpg')), { maxPixels: 1e8 })).rgb;
  const big = await resizeImage(face, SIDE_PX, SIDE_PX, 'lanczos3');
  return writeImage(big, undefined, 'jpeg', { quality: 95 });
}

/** In a fresh process: a one-thread pool (as `revive serve` at REVIVE_CONCURRENCY 1) runs the 64 MP job once. */
async function poolProbe(photoPath: string, restorer: string): Promise<void> {
  const rss = () => process.memoryUsage.rss();
  const pool = await PipelineThreadPool.create({ modelsDir: path.join(shared, 'models'), restorer, download: false, threadCount: 1 });
  const idle = rss();
  let peak = idle;
  const sampler = setInterval(() => (peak = Math.max(peak, rss())), 10);
  await pool.process(await readFile(photoPath), { upscale: 2, ext: 'jpg' });
  const done = rss();
  // The thread collects right after posting its result; give it the moment that takes, then read.
  let after = rss();
  for (let i = 0; i < 100 && after > idle + 64 * MiB; i++) {
    await new Promise((r) => setTimeout(r, 50));
    after = rss();
  }
  clearInterval(sampler);
  await pool.dispose();
  console.log(JSON.stringify({ idle, peak, done, after }));
}

if (process.argv.includes(POOL_PROBE_FLAG)) {
  const i = process.argv.indexOf(POOL_PROBE_FLAG);
  await poolProbe(process.argv[i + 1]!, process.argv[i + 2]!);
} else {
  const work = await mkdtemp(path.join(tmpdir(), 'revive-memory-bench-'));
  try {
    const restorer = await writeIdentityRestorer(work);
    console.log('Memory of big jobs: peak RSS of a fresh `revive restore` per row (identity restorer; GFPGAN adds its ≈ 325 MB of weights)');
    const tiny = await writeImage({ width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(128) }, undefined, 'jpeg');
    const photo = await bigPhoto();
    const photoDir = await folderWith(work, 'photo-64mp.jpg', photo);
    const rows: [string, Run, string][] = [];
    const idle = await restore(await folderWith(work, 'tiny.jpg', tiny), path.join(work, 'out-idle'), restorer, 2);
    rows.push(['64×64 at upscale 2 (baseline)', idle, '']);
    const big = await restore(photoDir, path.join(work, 'out-64mp'), restorer, 2);
    const estimate = jobMemoryBytes(SIDE_PX * SIDE_PX, SIDE_PX * SIDE_PX * 4, false, 'jpeg');
    rows.push([`64 MP RGB (${SIDE_PX}×${SIDE_PX}) at upscale 2, JPEG`, big, `estimate ${mib(estimate)} + baseline = ${mib(estimate + idle.peakBytes)}`]);
    const rgba = await restore(await folderWith(work, 'bomb-rgba.png', await writeSolidImage(8000, 8000, 4, 'png')), path.join(work, 'out-rgba'), restorer, 4);
    rows.push(['8000×8000 RGBA PNG bomb at upscale 4', rgba, rgba.stderr.includes('IMAGE_TOO_LARGE') || rgba.stderr.includes('The output would be') ? 'refused: IMAGE_TOO_LARGE' : 'NOT refused']);
    const grey = await restore(await folderWith(work, 'bomb-grey.png', await writeSolidImage(8000, 8000, 1, 'png')), path.join(work, 'out-grey'), restorer, 4);
    rows.push(['8000×8000 grey PNG bomb at upscale 4', grey, grey.stderr.includes('The output would be') ? 'refused: IMAGE_TOO_LARGE' : 'NOT refused']);
    const width = Math.max(...rows.map((r) => r[0].length));
    for (const [label, run, note] of rows) console.log(`${label.padEnd(width)}  peak ${mib(run.peakBytes).padStart(9)}  ${(run.ms / 1000).toFixed(1).padStart(5)} s  exit ${run.exitCode}  ${note}`);
    console.log(`64 MP job over the baseline: ${mib(big.peakBytes - idle.peakBytes)} (estimate ${mib(estimate)}); default budget per job: ${defaultJobMemoryMiB(1)} MiB (CPU, 1 job), ${jobMemoryBudgetMiB(DEFAULT_GPU_TASK_MEMORY_MIB, 2)} MiB (GPU, 2 jobs)`);

    const photoPath = path.join(photoDir, 'photo-64mp.jpg');
    const probe = await new Promise<{ idle: number; peak: number; done: number; after: number }>((resolve, reject) => {
      execFile(process.execPath, [...process.execArgv, process.argv[1]!, POOL_PROBE_FLAG, photoPath, restorer], { maxBuffer: 1 << 20 }, (error, stdout) => {
        if (error) return reject(error);
        resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as { idle: number; peak: number; done: number; after: number });
      });
    });
    console.log(`revive serve's pipeline thread, same 64 MP job: RSS idle ${mib(probe.idle)}, peak ${mib(probe.peak)}, at the result ${mib(probe.done)}, after the thread's collection ${mib(probe.after)}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
