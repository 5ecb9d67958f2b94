// `pnpm bench` (pipeline part): the detectors side by side on the same photos, in one run — YuNet-s fixed at a
// 640×640 letterbox (the catalogue's 'yunet'), and YuNet-s / YuNet-n with dynamic input at each photo's own scale
// (a multiple of 32, photos over 640 px shrunk to 640). For each: faces found against the faces a person counts
// (photos/whole and the small-photo set), aligned crops with a face, and detect-stage milliseconds per photo
// (median of REVIVE_BENCH_RUNS, default 5, after a warm-up; one onnxruntime thread, so that a loaded machine
// skews the ratios less). docs/decisions/detect-at-own-scale.md
// rests on this table.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FaceDetector } from '../src/detect.js';
import { readImage } from '../src/image.js';
import type { RgbImage } from '../src/types.js';
import { sharedDir } from '../src/testing/shared-dir.js';
import { SMALL_PHOTO_FACES, writeSmallPhotos } from '../src/testing/photos.js';

const RUNS = Number(process.env.REVIVE_BENCH_RUNS ?? 5);
const shared = sharedDir();
const DETECTORS = [
  { label: 'yunet, 640×640 letterbox (before)', file: 'yunet_s_640_640.onnx', ownScale: false },
  { label: 'yunet, own scale (free size)', file: 'yunet_s_640_640.onnx', ownScale: true },
  { label: 'yunet-dynamic, own scale', file: 'yunet_s_dynamic.onnx', ownScale: true },
  { label: 'yunet-n-dynamic, own scale', file: 'yunet_n_dynamic.onnx', ownScale: true },
] as const;
/** ../shared/photos/README.md */
const WHOLE_FACES: Readonly<Record<string, number>> = { '00.jpg': 2, '10045.png': 3, 'Blake_Lively.jpg': 2, 'blurry_face.jpg': 1 };

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[values.length >> 1] ?? NaN;
const load = async (file: string): Promise<RgbImage> => (await readImage(await readFile(file), { maxPixels: 1e8 })).rgb;

const work = await mkdtemp(path.join(tmpdir(), 'revive-detect-bench-'));
try {
  await writeSmallPhotos(work);
  const sets = {
    whole: await Promise.all(Object.entries(WHOLE_FACES).map(async ([name, faces]) => ({ name, faces, rgb: await load(path.join(shared, 'photos', 'whole', name)) }))),
    small: await Promise.all(Object.entries(SMALL_PHOTO_FACES).map(async ([name, faces]) => ({ name, faces, rgb: await load(path.join(work, name)) }))),
  };
  const alignedDir = path.join(shared, 'photos', 'aligned');
  const aligned = await Promise.all((await readdir(alignedDir)).sort().map((name) => load(path.join(alignedDir, name))));
  const detectors = await Promise.all(DETECTORS.map(async (d) => ({ ...d, detector: await FaceDetector.create(path.join(shared, 'models', 'detectors', d.file), { threads: 1, ownScale: d.ownScale }) })));
  console.log(`Detectors side by side, detect stage only, ms per photo: median of ${RUNS} runs, the detectors interleaved in each`);
  const setNames = ['whole', 'small'] as const;
  const times = detectors.map(() => ({ whole: [] as number[], small: [] as number[] }));
  for (let r = 0; r <= RUNS; r++) {
    for (const [i, { detector }] of detectors.entries()) {
      for (const set of setNames) {
        const start = performance.now();
        for (const { rgb } of sets[set]) await detector.detect(rgb);
        if (r > 0) times[i]![set].push((performance.now() - start) / sets[set].length); // run 0 warms up
      }
    }
  }
  console.log(`${'detector'.padEnd(36)} ${'whole: found/counted'.padStart(21)} ${'ms/photo'.padStart(9)} ${'small: found/counted'.padStart(21)} ${'ms/photo'.padStart(9)} ${'aligned with a face'.padStart(20)}`);
  for (const [i, { label, detector }] of detectors.entries()) {
    const cells: string[] = [];
    for (const set of setNames) {
      let found = 0, missed = 0, extra = 0;
      for (const { rgb, faces } of sets[set]) {
        const n = (await detector.detect(rgb)).length;
        found += n;
        missed += Math.max(0, faces - n);
        extra += Math.max(0, n - faces);
      }
      const counted = sets[set].reduce((sum, p) => sum + p.faces, 0);
      cells.push(`${found}/${counted} (−${missed} +${extra})`.padStart(21), median(times[i]![set]).toFixed(1).padStart(9));
    }
    let withFace = 0;
    for (const rgb of aligned) if ((await detector.detect(rgb)).length >= 1) withFace++;
    console.log(`${label.padEnd(36)} ${cells.join(' ')} ${`${withFace}/${aligned.length}`.padStart(20)}`);
  }
  await Promise.all(detectors.map((d) => d.detector.dispose()));
} finally {
  await rm(work, { recursive: true, force: true });
}
