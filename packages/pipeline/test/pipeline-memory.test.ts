// Issue 18 item 1, "release memory after a big job": a pipeline thread that finished a large job held its buffers
// (RSS at the job's peak) until the next job made V8 collect. Now the thread collects once the result is sent.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSolidImage } from '../src/image.js';
import { PipelineThreadPool } from '../src/pipeline-threads.js';
import { sharedDir } from '../src/testing/shared-dir.js';
import { writeIdentityRestorer } from '../src/testing/models.js';

const MiB = 2 ** 20;
let dir: string;
let pool: PipelineThreadPool;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'revive-memory-'));
  pool = await PipelineThreadPool.create({ modelsDir: path.join(sharedDir(), 'models'), restorer: await writeIdentityRestorer(dir), download: false, threads: 1, threadCount: 1 });
}, 120_000);

afterAll(async () => {
  await pool?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Resolves with RSS once it is at most `bytes`, or with the last reading after `timeoutMs`. */
async function rssFallsTo(bytes: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rss = process.memoryUsage.rss();
    if (rss <= bytes || Date.now() > deadline) return rss;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('memory after a big job', () => {
  it('RSS comes back down once a 64 MP output is done, without waiting for another job', async () => {
    // A flat 4000×4000 JPEG at upscale 2: 8000×8000 out, so the background alone is 183 MiB (plus the decoded input).
    const input = await writeSolidImage(4000, 4000, 3, 'jpeg');
    const idle = process.memoryUsage.rss();
    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5);
    const result = await pool.process(input, { upscale: 2, ext: 'jpg' });
    clearInterval(sampler);
    expect(result).toMatchObject({ width: 8000, height: 8000 });
    expect(peak - idle).toBeGreaterThan(150 * MiB);
    // Within 64 MiB of where it started; 10 s is a bound for a loaded machine, not a wait (it returns on the event).
    const after = await rssFallsTo(idle + 64 * MiB, 10_000);
    expect((after - idle) / MiB).toBeLessThan(64);
  }, 120_000);
});
