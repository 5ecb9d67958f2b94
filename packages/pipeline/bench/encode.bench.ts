// `pnpm --filter @revive/pipeline exec tsx bench/encode.bench.ts [photo] [width]`: encode time and size of each
// PNG/JPEG/WebP effort setting (sharp) against OpenCV's imencode on the same pixels, in the same run, median of 3.
// The defaults in src/encode.ts were picked from this table.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readImage, resizeImage, writeImage } from '../src/image.js';
import { sharedDir } from '../src/testing/shared-dir.js';

const RUNS = 3;
/** OpenCV's side of the table, timed by Python's cv2 (as GFPGAN's own scripts encode). */
const OPENCV_SCRIPT = fileURLToPath(new URL('encode_opencv.py', import.meta.url));
const file = process.argv[2] ?? path.join(sharedDir(), 'photos', 'whole', '10045.png');
// 2× the photo by default: the size Revive encodes at upscale 2.
const decoded = (await readImage(await readFile(file), { maxPixels: 1e9 })).rgb;
const width = Number(process.argv[3] ?? decoded.width * 2);
const image = await resizeImage(decoded, width, Math.round((decoded.height * width) / decoded.width), 'lanczos3');
type Settings = Parameters<typeof writeImage>[3];
const work = await mkdtemp(path.join(tmpdir(), 'revive-encode-bench-'));
const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
const row = (label: string, ms: number, bytes: number) => console.log(`${label.padEnd(40)} ${ms.toFixed(0).padStart(7)} ms ${(bytes / 1e6).toFixed(2).padStart(8)} MB`);

async function time(label: string, format: 'png' | 'jpeg' | 'webp', settings: Settings): Promise<void> {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    bytes = (await writeImage(image, undefined, format, settings)).length;
    times.push(performance.now() - start);
  }
  row(label, median(times), bytes);
}

console.log(`Encode settings on ${path.basename(file)} at ${image.width}×${image.height}, median of ${RUNS}`);
for (const level of [1, 3, 6]) {
  await time(`sharp png level ${level}`, 'png', { png: { compressionLevel: level, adaptiveFiltering: false } });
  await time(`sharp png level ${level} adaptive`, 'png', { png: { compressionLevel: level, adaptiveFiltering: true } });
}
await time('sharp jpeg q95 optimiseCoding on (sharp)', 'jpeg', { quality: 95, jpeg: { optimiseCoding: true } });
await time('sharp jpeg q95 optimiseCoding off', 'jpeg', { quality: 95, jpeg: { optimiseCoding: false } });
for (const effort of [0, 2, 4]) await time(`sharp webp q95 effort ${effort}`, 'webp', { quality: 95, webp: { effort } });

const source = path.join(work, 'source.png');
await writeFile(source, await writeImage(image, undefined, 'png', { png: { compressionLevel: 1, adaptiveFiltering: false } }));
try {
  const out = execFileSync('/usr/bin/python3', [OPENCV_SCRIPT, source, String(RUNS)], { encoding: 'utf8' });
  for (const line of out.trim().split('\n')) {
    const parts = line.split(' ');
    const bytes = Number(parts.pop()), ms = Number(parts.pop());
    row(`opencv ${parts.join(' ')}`, ms, bytes);
  }
} catch (error) {
  console.log(`OpenCV not measured (/usr/bin/python3 with cv2 needed): ${(error as Error).message.split('\n')[0]}`);
}
await rm(work, { recursive: true, force: true });
