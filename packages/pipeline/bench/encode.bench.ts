// `pnpm bench` (pipeline part): encode time and size of each PNG/JPEG/WebP effort setting (sharp) against OpenCV's
// imencode on the same pixels, in the same run, at the sizes Revive writes at upscale 2: a small photo (an aligned
// 512² crop → 1024²), Blake_Lively.jpg (→ 1400×928) and 10045.png (→ 1566×2292). The settings are interleaved
// within each round and the median of REVIVE_BENCH_RUNS (default 5) rounds is printed.
// `tsx bench/encode.bench.ts <photo> [width]` measures one photo instead (width: the encoded width, default 2×).
// The defaults in src/encode.ts were picked from this table (docs/benchmarks.md, "Encoding").
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readImage, resizeImage, writeImage } from '../src/image.js';
import type { RgbImage } from '../src/types.js';
import { sharedDir } from '../src/testing/shared-dir.js';

const RUNS = Number(process.env.REVIVE_BENCH_RUNS ?? 5);
/** OpenCV's side of the table, timed by Python's cv2 (as GFPGAN's own scripts encode). */
const OPENCV_SCRIPT = fileURLToPath(new URL('encode_opencv.py', import.meta.url));
const photos = sharedDir();
const inputs: readonly { readonly file: string; readonly width?: number }[] = process.argv[2]
  ? [{ file: process.argv[2], ...(process.argv[3] !== undefined && { width: Number(process.argv[3]) }) }]
  : ['aligned/0143.png', 'whole/Blake_Lively.jpg', 'whole/10045.png'].map((name) => ({ file: path.join(photos, 'photos', name) }));

type Settings = Parameters<typeof writeImage>[3];
const SETTINGS: readonly { readonly label: string; readonly format: 'png' | 'jpeg' | 'webp'; readonly settings: Settings }[] = [
  ...[1, 2, 3, 4, 6].flatMap((level) =>
    [false, true].map((adaptiveFiltering) => ({
      label: `sharp png level ${level}${adaptiveFiltering ? ' adaptive' : ''}`,
      format: 'png' as const,
      settings: { png: { compressionLevel: level, adaptiveFiltering } },
    })),
  ),
  { label: 'sharp jpeg q95 optimiseCoding on (sharp)', format: 'jpeg', settings: { quality: 95, jpeg: { optimiseCoding: true } } },
  { label: 'sharp jpeg q95 optimiseCoding off', format: 'jpeg', settings: { quality: 95, jpeg: { optimiseCoding: false } } },
  ...[0, 2, 4].map((effort) => ({ label: `sharp webp q95 effort ${effort}`, format: 'webp' as const, settings: { quality: 95, webp: { effort } } })),
];

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
const row = (label: string, ms: number, bytes: number, cpuMs?: number) =>
  console.log(`${label.padEnd(40)} ${ms.toFixed(0).padStart(7)} ms ${cpuMs === undefined ? ''.padStart(10) : `${cpuMs.toFixed(0).padStart(7)} ms`} ${(bytes / 1e6).toFixed(2).padStart(8)} MB`);

async function table(image: RgbImage, name: string, work: string): Promise<void> {
  console.log(`Encode settings on ${name} at ${image.width}×${image.height}, median of ${RUNS} rounds, settings interleaved`);
  // CPU time (this process's, libvips' threads included) next to wall time: on a loaded machine it moves less.
  console.log(`${'setting'.padEnd(40)} ${'wall'.padStart(10)} ${'cpu'.padStart(10)} ${'size'.padStart(11)}`);
  const times = SETTINGS.map(() => [] as number[]);
  const cpu = SETTINGS.map(() => [] as number[]);
  const bytes = SETTINGS.map(() => 0);
  for (let r = 0; r < RUNS; r++) {
    for (const [i, { format, settings }] of SETTINGS.entries()) {
      const start = performance.now();
      const startCpu = process.cpuUsage();
      bytes[i] = (await writeImage(image, undefined, format, settings)).length;
      times[i]!.push(performance.now() - start);
      const used = process.cpuUsage(startCpu);
      cpu[i]!.push((used.user + used.system) / 1000);
    }
  }
  SETTINGS.forEach(({ label }, i) => row(label, median(times[i]!), bytes[i]!, median(cpu[i]!)));
  const source = path.join(work, 'source.png');
  await writeFile(source, await writeImage(image, undefined, 'png', { png: { compressionLevel: 1, adaptiveFiltering: false } }));
  try {
    const out = execFileSync('/usr/bin/python3', [OPENCV_SCRIPT, source, String(RUNS)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    for (const line of out.trim().split('\n')) {
      const parts = line.split(' ');
      const size = Number(parts.pop()), ms = Number(parts.pop());
      row(`opencv ${parts.join(' ')} (wall)`, ms, size);
    }
  } catch (error) {
    console.log(`OpenCV not measured (/usr/bin/python3 with cv2 needed): ${(error as Error).message.split('\n')[0]}`);
  }
  console.log();
}

const work = await mkdtemp(path.join(tmpdir(), 'revive-encode-bench-'));
try {
  for (const { file, width: asked } of inputs) {
    const decoded = (await readImage(await readFile(file), { maxPixels: 1e9 })).rgb;
    // 2× the photo by default: the size Revive encodes at upscale 2.
    const width = asked ?? decoded.width * 2;
    const image = await resizeImage(decoded, width, Math.round((decoded.height * width) / decoded.width), 'lanczos3');
    await table(image, path.basename(file), work);
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
