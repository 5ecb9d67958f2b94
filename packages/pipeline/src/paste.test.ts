import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { maxColourDistance, psnr, psnrFromSquaredError, squaredError, type PixelBox } from './testing/metrics.js';
import { sharedDir } from './testing/shared-dir.js';
import { alignFace, applyAffine, invertAffine, templateForSize } from './align.js';
import { decode } from './decode.js';
import { resizeImage } from './image.js';
import { opaqueRuns, pasteFaces } from './paste.js';
import type { Affine, Landmarks5, Point, RgbImage } from './types.js';

const UPSCALE = 2;

function placedFace(eye: number, degrees: number, cx: number, cy: number, seed: number): Landmarks5 {
  const t = templateForSize(512);
  const s = eye / Math.hypot(t[1][0] - t[0][0], t[1][1] - t[0][1]);
  const r = (degrees * Math.PI) / 180;
  let state = seed;
  const jitter = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648 - 0.5; // ±0.5 px, a detector's wobble
  };
  return t.map(([x, y]) => {
    const dx = x - 256, dy = y - 256;
    return [cx + s * (Math.cos(r) * dx - Math.sin(r) * dy) + jitter(), cy + s * (Math.sin(r) * dx + Math.cos(r) * dy) + jitter()] as Point;
  }) as unknown as Landmarks5;
}

/** The face square's bounding box in the upscaled output. */
function outputBox(affine: Affine, size: number): PixelBox {
  const inv = invertAffine(affine);
  const c = ([[0, 0], [size, 0], [0, size], [size, size]] as Point[]).map((p) => applyAffine(inv, p));
  const xs = c.map((p) => p[0] * UPSCALE), ys = c.map((p) => p[1] * UPSCALE);
  return { x0: Math.min(...xs), y0: Math.min(...ys), x1: Math.max(...xs), y1: Math.max(...ys) };
}

function solid(width: number, height: number, rgb: readonly [number, number, number]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(rgb, i * 3);
  return { width, height, data };
}

describe('pasteFaces', () => {
  it('identity round trip on real photos: ≥ 42 dB on average inside the face squares, none under 35 dB', async () => {
    const dir = path.join(sharedDir(), 'photos', 'whole');
    const results: { photo: string; face: string; db: number }[] = [];
    for (const photo of ['00.jpg', '10045.png', 'Blake_Lively.jpg', 'blurry_face.jpg']) {
      const { rgb } = await decode(await readFile(path.join(dir, photo)));
      const { width: W, height: H } = rgb;
      const background = await resizeImage(rgb, W * UPSCALE, H * UPSCALE, 'lanczos3');
      const big = Math.max(60, Math.min(400, 0.2 * Math.min(W, H)));
      const faces = [
        { name: 'eye60', lm: placedFace(60, 0, 0.3 * W, 0.3 * H, 1) },
        { name: 'eye90-rot', lm: placedFace(90, -12, 0.65 * W, 0.6 * H, 2) },
        { name: `eye${Math.round(big)}-rot`, lm: placedFace(big, 20, 0.5 * W, 0.5 * H, 3) },
        { name: 'eye80-edge', lm: placedFace(80, 5, 0.4 * 80, 0.5 * H, 4) },
      ];
      for (const { name, lm } of faces) {
        const { crop, affine } = await alignFace(rgb, lm, 512);
        const out = await pasteFaces(background, [{ face: crop, affine }], { upscale: UPSCALE, sourceWidth: W, sourceHeight: H });
        const { sum, count } = squaredError(out, background, outputBox(affine, 512));
        results.push({ photo, face: name, db: psnrFromSquaredError(sum, count) });
      }
    }
    const mean = results.reduce((a, r) => a + r.db, 0) / results.length;
    const worst = Math.min(...results.map((r) => r.db));
    // Printed so a change of kernel or mapping shows its cost in the test log.
    console.info(results.map((r) => `${r.photo} ${r.face}: ${r.db.toFixed(1)} dB`).join('\n'), `\nmean ${mean.toFixed(2)} dB`);
    expect(mean).toBeGreaterThanOrEqual(42);
    expect(worst).toBeGreaterThanOrEqual(35);
  }, 180_000);

  it('a face square crossing the image edge never shows the crop’s border colour', async () => {
    const colour = [30, 200, 60] as const;
    const source = solid(200, 150, colour);
    const background = solid(400, 300, colour);
    // Crosses the left and the top edge: a large part of the crop is fill colour.
    const lm = placedFace(70, 25, 20, 15, 7);
    const { crop, affine } = await alignFace(source, lm, 512);
    const out = await pasteFaces(background, [{ face: crop, affine }], { upscale: UPSCALE, sourceWidth: 200, sourceHeight: 150 });
    expect(maxColourDistance(out, background)).toBeLessThanOrEqual(1.8);
  });

  it('leaves everything outside the face square untouched', async () => {
    const source = solid(300, 300, [90, 90, 90]);
    const background = solid(600, 600, [10, 20, 30]);
    const lm = placedFace(40, 0, 150, 150, 5);
    const { crop, affine } = await alignFace(source, lm, 512);
    const out = await pasteFaces(background, [{ face: crop, affine }], { upscale: UPSCALE, sourceWidth: 300, sourceHeight: 300 });
    const box = outputBox(affine, 512);
    expect(psnr(out, background, { x0: 0, y0: 0, x1: 600, y1: Math.floor(box.y0) })).toBe(Infinity);
    expect(psnr(out, background, { x0: Math.ceil(box.x1), y0: 0, x1: 600, y1: 600 })).toBe(Infinity);
    // The face's centre is the face; its soft edge blends towards the background.
    const centre = (300 * 600 + 300) * 3;
    expect(Array.from(out.data.subarray(centre, centre + 3))).toEqual([90, 90, 90]);
  });

  it('composites faces one after another: the later face wins where they overlap', async () => {
    const source = solid(300, 300, [128, 128, 128]);
    const background = solid(600, 600, [0, 0, 0]);
    const first = await alignFace(source, placedFace(60, 0, 100, 150, 1), 512);
    const second = await alignFace(source, placedFace(60, 0, 200, 150, 2), 512);
    const out = await pasteFaces(
      background,
      [
        { face: solid(512, 512, [255, 0, 0]), affine: first.affine },
        { face: solid(512, 512, [0, 0, 255]), affine: second.affine },
      ],
      { upscale: UPSCALE, sourceWidth: 300, sourceHeight: 300 },
    );
    const o = (300 * 600 + 300) * 3;
    expect(Array.from(out.data.subarray(o, o + 3))).toEqual([0, 0, 255]);
    const left = (300 * 600 + 80) * 3; // only the first face covers this
    expect(Array.from(out.data.subarray(left, left + 3))).toEqual([255, 0, 0]);
  });

  it("soft edge where facexlib puts it: half-way at the eroded square's side, w_edge wide", async () => {
    // A white face whose square covers output [100, 300)² (side 200) over black. facexlib: erode 4 then 18
    // (w_edge = floor(197 / 20) = 9) leaves [111, 291) along a row, blurred with a 19-tap Gaussian.
    const side = 200, x0 = 100, wEdge = 9;
    const scale = 512 / (side / UPSCALE);
    const affine: Affine = [scale, 0, -scale * (x0 / UPSCALE), 0, scale, -scale * (x0 / UPSCALE)];
    const out = await pasteFaces(solid(400, 400, [0, 0, 0]), [{ face: solid(512, 512, [255, 255, 255]), affine }], {
      upscale: UPSCALE,
      sourceWidth: 200,
      sourceHeight: 200,
    });
    const row = Array.from({ length: 400 }, (_, x) => out.data[(200 * 400 + x) * 3]!);
    const crossing = (from: number, step: number): number => {
      let x = from;
      while (row[x]! < 127.5) x += step;
      return x;
    };
    // Between facexlib's 111 on the left and 291 on the right (its anchor is half a pixel off centre).
    expect(Math.abs(crossing(0, 1) - 110.5)).toBeLessThanOrEqual(1.5);
    expect(Math.abs(crossing(399, -1) - 289.5)).toBeLessThanOrEqual(1.5);
    // Zero well outside the eroded side, full well inside: the ramp is about 2·w_edge wide, not a hard step.
    expect(row[111 - wEdge - 2]).toBeLessThanOrEqual(3);
    expect(row[111 + wEdge + 2]).toBeGreaterThanOrEqual(252);
    expect(row[111 - 3]! > 10 && row[111 + 3]! < 245).toBe(true);
    expect(row.slice(0, x0).every((v) => v === 0)).toBe(true);
  });

  it('gives the same result over a background left out under the opaque inside of the faces as over the whole one', async () => {
    const { rgb } = await decode(await readFile(path.join(sharedDir(), 'photos', 'whole', 'Blake_Lively.jpg')));
    const { width: W, height: H } = rgb;
    // Two overlapping faces (the opaque inside of each under the other's blend band), rotated ones, one on the same
    // rows as the first two (a row with several runs) and one crossing the photo's edge.
    const faces = await Promise.all(
      [placedFace(70, 0, 0.35 * W, 0.4 * H, 1), placedFace(60, 15, 0.35 * W + 50, 0.4 * H + 20, 2), placedFace(50, -10, 0.8 * W, 0.45 * H, 3), placedFace(60, 5, 10, 0.7 * H, 4)].map(
        async (lm) => {
          const { crop, affine } = await alignFace(rgb, lm, 512);
          // A face unlike the photo under it, so that a background pixel showing through would show.
          const face = { ...crop, data: crop.data.map((v) => 255 - v) };
          return { face, affine };
        },
      ),
    );
    const outWidth = W * UPSCALE, outHeight = H * UPSCALE;
    const skip = opaqueRuns(faces, { upscale: UPSCALE, outWidth, outHeight });
    expect(skip).toBeDefined();
    const full = await resizeImage(rgb, outWidth, outHeight, 'cubic');
    const holed = await resizeImage(rgb, outWidth, outHeight, 'cubic', { skip: skip! });
    let zeros = 0;
    for (let i = 0; i < holed.data.length; i += 3) zeros += holed.data[i] === 0 && holed.data[i + 1] === 0 && holed.data[i + 2] === 0 && full.data[i] !== 0 ? 1 : 0;
    expect(zeros).toBeGreaterThan(0.3 * faces.length * 100 * 100);
    const options = { upscale: UPSCALE, sourceWidth: W, sourceHeight: H };
    const overFull = await pasteFaces(full, faces, options);
    const overHoled = await pasteFaces(holed, faces, options);
    // The paste overwrites every pixel left out: a hole showing through (zeros under a face) would be tens of
    // levels off; the same computation gives the same bytes.
    expect(maxColourDistance(overHoled, overFull)).toBeLessThanOrEqual(1);
    expect(psnr(overHoled, overFull)).toBeGreaterThanOrEqual(60);
  });

  it('rejects a face that is not square', async () => {
    const bg = solid(20, 20, [0, 0, 0]);
    await expect(
      pasteFaces(bg, [{ face: solid(4, 5, [0, 0, 0]), affine: [1, 0, 0, 0, 1, 0] }], { upscale: 2, sourceWidth: 10, sourceHeight: 10 }),
    ).rejects.toThrow(/square/);
  });
});
