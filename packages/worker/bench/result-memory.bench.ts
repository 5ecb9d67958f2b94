// `pnpm bench`: the worker's RSS around a job with a large encoded output (issue 25 item 2), the way `revive serve`
// runs it: a one-thread PipelineThreadPool, then the result up to S3 (the local emulator) through ObjectStore, in a
// fresh process per row, side by side in one run:
//   bytes  the result encoded into memory, moved to the main thread and uploaded from there (before)
//   file   the result encoded into a file by the pipeline thread and streamed from it to S3 (now)
//   file, MALLOC_MMAP_THRESHOLD_=1 MiB  the same with glibc's mmap threshold fixed, so freed upload parts go back to
//          the OS at once instead of staying in the main arena
// The job: a 4400×4400 noise JPEG at upscale 3 with PNG out, 13200×13200 (a 541 MB PNG, as in the issue). Each row
// prints RSS idle (after a small warm-up job), at its peak, when the upload is done, SETTLE_MS later, and after one
// more small job. REVIVE_BENCH_RESULT_SIDE sets the input's side (default 4400).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { clientConfig, startLocalAws, type LocalAwsTarget } from '@revive/local-aws';
import { PipelineThreadPool, writeImage, type ProcessOptions } from '@revive/pipeline';
import { sharedDir, writeIdentityRestorer } from '@revive/pipeline/testing';
import { ObjectStore } from '../src/service/object-store.js';

const CHILD_FLAG = '--result-memory-child';
const DEFAULT_SIDE_PX = 4400;
const UPSCALE = 3;
/** How long after the upload the settled figure is read: an idle worker between two jobs. */
const SETTLE_MS = 10_000;
const MiB = 2 ** 20;

type Variant = 'bytes' | 'file';
interface Figures {
  readonly idle: number;
  readonly peak: number;
  readonly end: number;
  readonly settled: number;
  readonly next: number;
  readonly seconds: number;
}
interface ChildArgs {
  readonly variant: Variant;
  readonly target: LocalAwsTarget;
  readonly bucket: string;
  readonly restorer: string;
  readonly input: string;
  readonly spool: string;
}

function noise(side: number): Uint8Array {
  const data = new Uint8Array(side * side * 3);
  for (let i = 0; i < data.length; i += 65_536) globalThis.crypto.getRandomValues(data.subarray(i, Math.min(data.length, i + 65_536)));
  return data;
}

/** One job through the pool and the store, as JobRunner does it for this variant. */
async function runJob(pool: PipelineThreadPool, store: ObjectStore, args: ChildArgs, input: Uint8Array, options: ProcessOptions, key: string): Promise<void> {
  if (args.variant === 'bytes') {
    const result = await pool.process(input, options);
    await store.putResult(key, result.image, 'image/png');
    return;
  }
  const result = await pool.process(input, { ...options, outputPath: args.spool });
  await store.putResultFile(key, args.spool, result.byteLength, 'image/png');
  await rm(args.spool, { force: true });
}

async function child(args: ChildArgs): Promise<Figures> {
  const rss = () => process.memoryUsage.rss();
  const pool = await PipelineThreadPool.create({ modelsDir: path.join(sharedDir(), 'models'), restorer: args.restorer, download: false, threadCount: 1 });
  const s3 = new S3Client(clientConfig(args.target, 's3'));
  const store = new ObjectStore(args.bucket, s3);
  const small = await writeImage({ width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(128) }, undefined, 'jpeg');
  await runJob(pool, store, args, small.slice(), { upscale: 2, ext: 'png' }, `results/warm-${args.variant}.png`);
  const idle = rss();
  let peak = idle;
  const sampler = setInterval(() => (peak = Math.max(peak, rss())), 20);
  const started = performance.now();
  await runJob(pool, store, args, await readFile(args.input), { upscale: UPSCALE, ext: 'png' }, `results/big-${args.variant}.png`);
  const seconds = (performance.now() - started) / 1000;
  const end = rss();
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  clearInterval(sampler);
  const settled = rss();
  await runJob(pool, store, args, small.slice(), { upscale: 2, ext: 'png' }, `results/next-${args.variant}.png`);
  await new Promise((r) => setTimeout(r, 1_000));
  const next = rss();
  await pool.dispose();
  s3.destroy();
  return { idle, peak, end, settled, next, seconds };
}

function runChild(args: ChildArgs, env: Record<string, string> = {}): Promise<Figures> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...process.execArgv, fileURLToPath(import.meta.url), CHILD_FLAG, JSON.stringify(args)],
      { maxBuffer: 1 << 20, env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`${error.message}\n${stderr.slice(-2000)}`));
        resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as Figures);
      },
    );
  });
}

async function main(): Promise<void> {
  const side = Number(process.env.REVIVE_BENCH_RESULT_SIDE ?? DEFAULT_SIDE_PX);
  const work = await mkdtemp(path.join(tmpdir(), 'revive-result-memory-'));
  const aws = await startLocalAws();
  try {
    const target: LocalAwsTarget = { endpoints: aws.endpoints, region: aws.region };
    const bucket = 'revive-bench-results';
    const s3 = new S3Client(clientConfig(target, 's3'));
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    s3.destroy();
    const restorer = await writeIdentityRestorer(path.join(work, 'models'));
    const input = path.join(work, 'noise.jpg');
    await writeFile(input, await writeImage({ width: side, height: side, data: noise(side) }, undefined, 'jpeg', { quality: 95 }));
    const out = side * UPSCALE;
    console.log(`Worker RSS around one job with a large result: a ${side}×${side} noise JPEG at upscale ${UPSCALE}, PNG out (${out}×${out}), identity restorer`);
    const base = { target, bucket, restorer, input, spool: path.join(work, 'result.spool') };
    const rows: [string, Figures][] = [
      ['bytes (before: encoded into memory, copied to the main thread)', await runChild({ ...base, variant: 'bytes' })],
      ['file (now: encoded into a file, streamed to S3)', await runChild({ ...base, variant: 'file' })],
      ['file, MALLOC_MMAP_THRESHOLD_=1048576', await runChild({ ...base, variant: 'file' }, { MALLOC_MMAP_THRESHOLD_: String(MiB) })],
    ];
    const width = Math.max(...rows.map((r) => r[0].length));
    const mib = (bytes: number) => `${Math.round(bytes / MiB).toLocaleString('en-US')} MiB`.padStart(9);
    console.log(`${''.padEnd(width)}       idle      peak  at upload end  ${SETTLE_MS / 1000} s later  after next job   job`);
    for (const [label, f] of rows) {
      console.log(`${label.padEnd(width)}  ${mib(f.idle)} ${mib(f.peak)}      ${mib(f.end)}    ${mib(f.settled)}       ${mib(f.next)}  ${f.seconds.toFixed(1).padStart(5)} s`);
    }
  } finally {
    await aws.stop();
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv.includes(CHILD_FLAG)) {
  const args = JSON.parse(process.argv[process.argv.indexOf(CHILD_FLAG) + 1]!) as ChildArgs;
  console.log(JSON.stringify(await child(args)));
} else {
  await main();
}
