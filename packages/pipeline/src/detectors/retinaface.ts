// RetinaFace MobileNet-0.25 (biubug6/Pytorch_Retinaface, as facexlib uses it): SSD-style priors over three
// strides, decoded with variances 0.1 (centres, landmarks) and 0.2 (sizes).
import type { ModelMetadata } from '../inference.js';
import { STRIDES, floatOutput } from './family.js';
import type { DetectorFamily, RawDetection } from './family.js';

/** Prior box sizes per stride (cfg_mnet['min_sizes']). */
const MIN_SIZES = [
  [16, 32],
  [64, 128],
  [256, 512],
] as const;
const CENTRE_VARIANCE = 0.1;
const SIZE_VARIANCE = 0.2;

/** Priors as cx, cy, w, h in pixels, in PriorBox's order: stride, row, column, size. */
export function retinaFacePriors(width: number, height: number): Float32Array {
  const priors: number[] = [];
  STRIDES.forEach((step, k) => {
    const rows = Math.ceil(height / step);
    const cols = Math.ceil(width / step);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        for (const size of MIN_SIZES[k]!) priors.push((j + 0.5) * step, (i + 0.5) * step, size, size);
      }
    }
  });
  return Float32Array.from(priors);
}

/** Output names: `loc`, `conf`, `iou` (landmarks) in this export; otherwise told apart by their last dimension. */
function outputNames(model: ModelMetadata): { loc: string; conf: string; landmarks: string } {
  const byLastDim = (d: number) => model.outputs.find((o) => o.shape.at(-1) === d)?.name ?? '';
  return { loc: byLastDim(4), conf: byLastDim(2), landmarks: byLastDim(10) };
}

export const retinaface: DetectorFamily = {
  // Pytorch_Retinaface: BGR minus (104, 117, 123), no scaling.
  normalisation: { order: 'bgr', mean: [104, 117, 123], scale: 1 },
  recognises: (model: ModelMetadata) => model.outputs.length === 3 && Object.values(outputNames(model)).every((n) => n !== ''),
  validate: (model: ModelMetadata) => {
    if (model.outputs.length !== 3 || Object.values(outputNames(model)).some((n) => n === '')) {
      throw new Error('not a RetinaFace model: expected outputs loc [..,4], conf [..,2] and landmarks [..,10]');
    }
  },
  decode: (outputs, model, input, scoreThreshold) => {
    const names = outputNames(model);
    const loc = floatOutput(outputs, names.loc);
    const conf = floatOutput(outputs, names.conf);
    const landm = floatOutput(outputs, names.landmarks);
    const priors = retinaFacePriors(input.width, input.height);
    const count = priors.length / 4;
    if (conf.length !== count * 2) throw new Error(`RetinaFace: ${conf.length / 2} predictions, expected ${count} priors`);
    const found: RawDetection[] = [];
    for (let i = 0; i < count; i++) {
      // The export ends in a softmax: column 1 is the face probability.
      const score = conf[2 * i + 1]!;
      if (score < scoreThreshold) continue;
      const [pcx, pcy, pw, ph] = [priors[4 * i]!, priors[4 * i + 1]!, priors[4 * i + 2]!, priors[4 * i + 3]!];
      const cx = pcx + loc[4 * i]! * CENTRE_VARIANCE * pw;
      const cy = pcy + loc[4 * i + 1]! * CENTRE_VARIANCE * ph;
      const w = pw * Math.exp(loc[4 * i + 2]! * SIZE_VARIANCE);
      const h = ph * Math.exp(loc[4 * i + 3]! * SIZE_VARIANCE);
      const landmarks: number[] = [];
      for (let n = 0; n < 5; n++) {
        landmarks.push(pcx + landm[10 * i + 2 * n]! * CENTRE_VARIANCE * pw, pcy + landm[10 * i + 2 * n + 1]! * CENTRE_VARIANCE * ph);
      }
      found.push({ box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], score, landmarks });
    }
    return found;
  },
};
