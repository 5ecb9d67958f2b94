// SCRFD (insightface, *_bnkps exports): per stride, score/bbox/kps with two anchors per cell; boxes and keypoints
// are distances from the anchor centre in stride units (insightface's distance2bbox / distance2kps).
import type { ModelMetadata, TensorData } from '../inference.js';
import { STRIDES, floatOutput } from './family.js';
import type { DetectorFamily, RawDetection } from './family.js';

const ANCHORS_PER_CELL = 2;

/** Outputs by name (score_8…) when the export kept them, else in insightface's order: scores, boxes, keypoints. */
function outputNames(model: ModelMetadata): { score: string; bbox: string; kps: string }[] {
  const names = model.outputs.map((o) => o.name);
  if (names.includes('score_8')) return STRIDES.map((s) => ({ score: `score_${s}`, bbox: `bbox_${s}`, kps: `kps_${s}` }));
  return STRIDES.map((_, i) => ({ score: names[i] ?? '', bbox: names[i + 3] ?? '', kps: names[i + 6] ?? '' }));
}

export const scrfd: DetectorFamily = {
  // insightface: blobFromImage(img, 1/128, size, (127.5,)*3, swapRB=True) → RGB, (x − 127.5)/128.
  normalisation: { order: 'rgb', mean: [127.5, 127.5, 127.5], scale: 1 / 128 },
  recognises: (model: ModelMetadata) => model.outputs.some((o) => o.name === 'score_8') || model.outputs.length === 9,
  validate: (model: ModelMetadata) => {
    if (model.outputs.length !== 9) {
      throw new Error(`not an SCRFD model with keypoints: expected 9 outputs (score/bbox/kps × 3 strides), found ${model.outputs.length}`);
    }
    const lastDims = outputNames(model).map(({ score, bbox, kps }) =>
      [score, bbox, kps].map((n) => model.outputs.find((o) => o.name === n)?.shape.at(-1)),
    );
    if (lastDims.some(([s, b, k]) => s !== 1 || b !== 4 || k !== 10)) {
      throw new Error('not an SCRFD model with keypoints: outputs must end in 1 (score), 4 (bbox) and 10 (kps)');
    }
  },
  decode: (outputs: Readonly<Record<string, TensorData>>, model, input, scoreThreshold) => {
    const found: RawDetection[] = [];
    outputNames(model).forEach((names, level) => {
      const stride = STRIDES[level]!;
      const cols = Math.ceil(input.width / stride);
      const rows = Math.ceil(input.height / stride);
      const scores = floatOutput(outputs, names.score);
      const bbox = floatOutput(outputs, names.bbox);
      const kps = floatOutput(outputs, names.kps);
      if (scores.length !== rows * cols * ANCHORS_PER_CELL) {
        throw new Error(`SCRFD stride ${stride}: ${scores.length} scores, expected ${rows}×${cols}×${ANCHORS_PER_CELL}`);
      }
      for (let i = 0; i < scores.length; i++) {
        const score = scores[i]!;
        if (score < scoreThreshold) continue;
        const cell = Math.floor(i / ANCHORS_PER_CELL);
        const ax = (cell % cols) * stride;
        const ay = Math.floor(cell / cols) * stride;
        const box: [number, number, number, number] = [
          ax - bbox[4 * i]! * stride,
          ay - bbox[4 * i + 1]! * stride,
          ax + bbox[4 * i + 2]! * stride,
          ay + bbox[4 * i + 3]! * stride,
        ];
        const landmarks: number[] = [];
        for (let n = 0; n < 5; n++) landmarks.push(ax + kps[10 * i + 2 * n]! * stride, ay + kps[10 * i + 2 * n + 1]! * stride);
        found.push({ box, score, landmarks });
      }
    });
    return found;
  },
};
