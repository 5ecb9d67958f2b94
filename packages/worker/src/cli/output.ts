import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { encode, extensionOf, type ProcessResult, type RgbImage } from '@revive/pipeline';
import type { FaceReport } from './report.js';

/** GFPGAN's inference_gfpgan.py layout, so scripts written for it find the files. */
export const OUTPUT_DIRS = {
  restoredImgs: 'restored_imgs',
  restoredFaces: 'restored_faces',
  croppedFaces: 'cropped_faces',
  cmp: 'cmp',
} as const;

export const REPORT_FILE = 'report.json';

/** Two images of the same height, side by side (GFPGAN's cmp/: crop left, restored right). */
export function sideBySide(left: RgbImage, right: RgbImage): RgbImage {
  const height = Math.max(left.height, right.height);
  const width = left.width + right.width;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    if (y < left.height) data.set(left.data.subarray(y * left.width * 3, (y + 1) * left.width * 3), y * width * 3);
    if (y < right.height) {
      data.set(right.data.subarray(y * right.width * 3, (y + 1) * right.width * 3), (y * width + left.width) * 3);
    }
  }
  return { width, height, data };
}

/**
 * Writes one run's results. Names follow inference_gfpgan.py: `restored_imgs/<name>[_<suffix>].<ext>`,
 * `cropped_faces/<name>_<NN>.png`, `restored_faces/<name>_<NN>[_<suffix>].png`, `cmp/<name>_<NN>.png`.
 */
export class OutputWriter {
  /** Base names already used: two inputs called x.jpg in different folders must not overwrite each other. */
  private readonly usedNames = new Set<string>();

  constructor(
    readonly outputDir: string,
    private readonly suffix: string | undefined,
  ) {}

  async prepare(): Promise<void> {
    await Promise.all(Object.values(OUTPUT_DIRS).map((dir) => mkdir(path.join(this.outputDir, dir), { recursive: true })));
  }

  /** A name for `inputPath` that no earlier input of this run took. */
  claimName(inputPath: string): string {
    const base = path.parse(inputPath).name;
    let name = base;
    for (let n = 2; this.usedNames.has(name); n++) name = `${base}-${n}`;
    this.usedNames.add(name);
    return name;
  }

  /** Writes the photo and, when the result carries them, the per-face files. Returns paths relative to the output folder. */
  async write(name: string, result: ProcessResult): Promise<{ output: string; faces: FaceReport[] }> {
    const withSuffix = (base: string) => (this.suffix === undefined ? base : `${base}_${this.suffix}`);
    const output = path.join(OUTPUT_DIRS.restoredImgs, `${withSuffix(name)}.${extensionOf(result.format)}`);
    await this.writeFile(output, result.image);

    const faces: FaceReport[] = [];
    for (const [index, face] of result.faces.entries()) {
      const faceName = `${name}_${String(index).padStart(2, '0')}`;
      const report: FaceReport = {
        box: [...face.box],
        score: face.score,
        landmarks: face.landmarks.map(([x, y]) => [x, y] as [number, number]),
        ...(face.affine && { affine: face.affine }),
        ...(face.cropSizePx !== undefined && { cropSizePx: face.cropSizePx }),
      };
      if (face.cropped && face.restored) {
        const croppedFace = path.join(OUTPUT_DIRS.croppedFaces, `${faceName}.png`);
        const restoredFace = path.join(OUTPUT_DIRS.restoredFaces, `${withSuffix(faceName)}.png`);
        const cmp = path.join(OUTPUT_DIRS.cmp, `${faceName}.png`);
        // Copies to look at, not results: the fastest PNG (encode.ts, EncodePurpose).
        const [croppedBytes, restoredBytes, cmpBytes] = await Promise.all([
          encode(face.cropped, undefined, 'png', { purpose: 'inspection' }),
          encode(face.restored, undefined, 'png', { purpose: 'inspection' }),
          encode(sideBySide(face.cropped, face.restored), undefined, 'png', { purpose: 'inspection' }),
        ]);
        await Promise.all([
          this.writeFile(croppedFace, croppedBytes),
          this.writeFile(restoredFace, restoredBytes),
          this.writeFile(cmp, cmpBytes),
        ]);
        faces.push({ ...report, croppedFace, restoredFace, cmp });
      } else {
        faces.push(report);
      }
    }
    return { output, faces };
  }

  async writeReport(report: unknown): Promise<string> {
    const file = path.join(this.outputDir, REPORT_FILE);
    await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
    return file;
  }

  private async writeFile(relative: string, bytes: Uint8Array): Promise<void> {
    await writeFile(path.join(this.outputDir, relative), bytes);
  }
}
