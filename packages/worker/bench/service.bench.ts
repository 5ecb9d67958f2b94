// `pnpm bench` (after the pipeline bench): the queue worker's own overhead. Starts the local AWS emulators and
// `revive serve` (identity restorer, production long poll of 20 s), then enqueues jobs one at a time the way
// the API does and times enqueue → result object readable in S3. Overhead = that time minus the pipeline's own
// ms (the record's timingsMs): SQS delivery, the conditional claim, S3 read and write, the final update.
// Also times model loading: YuNet + the identity restorer through `revive serve`, and in-process a generated
// restorer the size of GFPGAN (325 MB of weights) to show what the real model's load implies.
// REVIVE_BENCH_SERVICE_JOBS (default 30) sets the number of jobs; REVIVE_BENCH_SKIP_LARGE_MODEL=1 skips the 325 MB load.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { resultKey } from '@revive/contract';
import { startLocalAws } from '@revive/local-aws';
import onnxProto from 'onnx-proto';
import { RestorationPipeline } from '@revive/pipeline';
import { sharedDir, writeIdentityRestorer } from '@revive/pipeline/testing';
import { createStack, enqueue, getRecord, photo, sleep, startWorkerProcess, upload } from '../test/service-helpers.js';

const DEFAULT_JOBS = 30;
const TENANT = 'tenant-bench';
const READ_POLL_INTERVAL_MS = 10;
/** A job that takes longer is a bug: the bench stops and says what it saw. */
const JOB_TIMEOUT_MS = 30_000;
/** GFPGAN v1.4's ONNX file is 324.5 MB. */
const GFPGAN_BYTES = 324_500_000;

const percentile = (values: readonly number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
};
const fmt = (v: number) => v.toFixed(1).padStart(8);

/** A restorer with GFPGAN's I/O and file size: the input plus 0 × the sum of 325 MB of weights. */
async function writeGfpganSizedRestorer(dir: string): Promise<string> {
  const { onnx } = onnxProto;
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const count = Math.floor(GFPGAN_BYTES / 4);
  const weights = Buffer.alloc(count * 4);
  for (let i = 0; i < count; i += 1024) weights.writeFloatLE(((i * 2654435761) % 1000) / 1e6, i * 4);
  const info = (name: string) => ({ name, type: { tensorType: { elemType: FLOAT, shape: { dim: [1, 3, 512, 512].map((d) => ({ dimValue: d })) } } } });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'revive-bench',
    graph: {
      name: 'gfpgan_sized',
      input: [info('input')],
      output: [info('1288')],
      initializer: [
        { name: 'w', dataType: FLOAT, dims: [count], rawData: weights },
        { name: 'zero', dataType: FLOAT, dims: [1], floatData: [0] },
      ],
      node: [
        { opType: 'ReduceSum', input: ['w'], output: ['s'], name: 'sum', attribute: [{ name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] },
        { opType: 'Mul', input: ['s', 'zero'], output: ['z'], name: 'mute' },
        { opType: 'Add', input: ['input', 'z'], output: ['1288'], name: 'out' },
      ],
    },
  });
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'gfpgan_sized.onnx');
  await writeFile(file, onnx.ModelProto.encode(model).finish());
  return file;
}

async function timeLoad(restorer: string): Promise<number> {
  const started = performance.now();
  const pipeline = await RestorationPipeline.create({ modelsDir: path.join(sharedDir(), 'models'), restorer, download: false });
  const ms = performance.now() - started;
  await pipeline.dispose();
  return ms;
}

async function main(): Promise<void> {
  const jobs = Number(process.env.REVIVE_BENCH_SERVICE_JOBS ?? DEFAULT_JOBS);
  const dir = await mkdtemp(path.join(tmpdir(), 'revive-bench-svc-'));
  const aws = await startLocalAws();
  let stopWorker: (() => Promise<void>) | undefined;
  try {
    const restorer = await writeIdentityRestorer(path.join(dir, 'models'));
    if (process.env.REVIVE_BENCH_SKIP_LARGE_MODEL !== '1') {
      const identityMs = await timeLoad(restorer);
      const big = await writeGfpganSizedRestorer(path.join(dir, 'models'));
      const bigMs = await timeLoad(big);
      await rm(big);
      console.log(`model load in-process: yunet + identity restorer ${identityMs.toFixed(0)} ms; yunet + 325 MB GFPGAN-sized restorer ${bigMs.toFixed(0)} ms`);
    }
    const stack = await createStack(aws, { visibilityTimeoutSeconds: 120, maxReceiveCount: 4 });
    const worker = await startWorkerProcess(stack, {
      restorer,
      healthFile: path.join(dir, 'health.json'),
      env: { REVIVE_WAIT_TIME_SECONDS: process.env.REVIVE_BENCH_WAIT_TIME_SECONDS ?? '20', REVIVE_CONCURRENCY: '1', REVIVE_THREADS: '0' },
    });
    stopWorker = () => worker.stop();
    const loaded = worker.logs.find((l) => l.message === 'models loaded');
    console.log(`revive serve: models loaded in ${String(loaded?.modelLoadMs)} ms (yunet + identity restorer), dynamo: ${aws.dynamoEngine}`);

    const { bytes, width, height } = await photo(400);
    const key = await upload(stack, TENANT, bytes);
    const totals: number[] = [];
    const pipelineMs: number[] = [];
    const overheads: number[] = [];
    for (let i = 0; i < jobs + 2; i++) {
      const started = performance.now();
      const job = await enqueue(stack, { kind: 's3', key }, { tenantId: TENANT, options: { upscale: 1 } });
      const target = resultKey(TENANT, job.jobId, 'jpg', 1);
      const giveUpAt = Date.now() + JOB_TIMEOUT_MS;
      for (;;) {
        if (Date.now() > giveUpAt) {
          throw new Error(`job ${job.jobId} not readable after ${JOB_TIMEOUT_MS} ms; record: ${JSON.stringify(await getRecord(stack, job.jobId))}; worker logs: ${JSON.stringify(worker.logs.slice(-5))}`);
        }
        try {
          await stack.clients.s3.send(new HeadObjectCommand({ Bucket: stack.resources.bucketName, Key: target }));
          break;
        } catch {
          await sleep(READ_POLL_INTERVAL_MS);
        }
      }
      const total = performance.now() - started;
      // The object is written just before the final update; wait for the record for the pipeline's timings.
      let record = await getRecord(stack, job.jobId);
      while (record?.status !== 'SUCCEEDED') {
        await sleep(READ_POLL_INTERVAL_MS);
        record = await getRecord(stack, job.jobId);
      }
      const own = Object.values(record.timingsMs ?? {}).reduce((a, b) => a + b, 0);
      if (i < 2) continue; // warm-up: first connections, JIT
      totals.push(total);
      pipelineMs.push(own);
      overheads.push(total - own);
    }
    console.log(`\nservice overhead, ${jobs} jobs one at a time, ${width}x${height} JPEG, upscale 1, identity restorer, concurrency 1`);
    console.log('                       p50       p95');
    console.log(`enqueue→readable  ${fmt(percentile(totals, 50))}  ${fmt(percentile(totals, 95))} ms`);
    console.log(`pipeline (record) ${fmt(percentile(pipelineMs, 50))}  ${fmt(percentile(pipelineMs, 95))} ms`);
    console.log(`overhead          ${fmt(percentile(overheads, 50))}  ${fmt(percentile(overheads, 95))} ms`);
  } finally {
    await stopWorker?.();
    await aws.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
