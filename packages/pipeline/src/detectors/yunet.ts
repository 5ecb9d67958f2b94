// YuNet (libfacedetection 2023mar, OpenCV's FaceDetectorYN): per stride, cls/obj/bbox/kps over a grid with one
// anchor per cell; decoding follows FaceDetectorYN::postProcess.
import type { ModelMetadata } from '../inference.js';
import { STRIDES, floatOutput } from './family.js';
import type { DetectorFamily, RawDetection } from './family.js';

const OUTPUT_PREFIXES = ['cls', 'obj', 'bbox', 'kps'] as const;
const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

export const yunet: DetectorFamily = {
  // BGR 0..255 as OpenCV's blobFromImage feeds it, no mean, no scaling.
  normalisation: { order: 'bgr', mean: [0, 0, 0], scale: 1 },
  recognises: (model: ModelMetadata) => model.outputs.some((o) => o.name === 'cls_8'),
  validate: (model: ModelMetadata) => {
    const names = new Set(model.outputs.map((o) => o.name));
    const missing = STRIDES.flatMap((s) => OUTPUT_PREFIXES.map((p) => `${p}_${s}`)).filter((n) => !names.has(n));
    if (missing.length > 0) throw new Error(`not a YuNet model: outputs ${missing.join(', ')} missing`);
  },
  decode: (outputs, _model, input, scoreThreshold) => {
    const found: RawDetection[] = [];
    for (const stride of STRIDES) {
      const cols = Math.floor(input.width / stride);
      const rows = Math.floor(input.height / stride);
      const cls = floatOutput(outputs, `cls_${stride}`);
      const obj = floatOutput(outputs, `obj_${stride}`);
      const bbox = floatOutput(outputs, `bbox_${stride}`);
      const kps = floatOutput(outputs, `kps_${stride}`);
      if (cls.length !== rows * cols) throw new Error(`YuNet cls_${stride} has ${cls.length} cells, expected ${rows}×${cols}`);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          const idx = r * cols + c;
          const score = Math.sqrt(clamp01(cls[idx]!) * clamp01(obj[idx]!));
          if (score < scoreThreshold) continue;
          const cx = (c + bbox[4 * idx]!) * stride;
          const cy = (r + bbox[4 * idx + 1]!) * stride;
          const w = Math.exp(bbox[4 * idx + 2]!) * stride;
          const h = Math.exp(bbox[4 * idx + 3]!) * stride;
          const landmarks: number[] = [];
          for (let n = 0; n < 5; n++) {
            landmarks.push((kps[10 * idx + 2 * n]! + c) * stride, (kps[10 * idx + 2 * n + 1]! + r) * stride);
          }
          found.push({ box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], score, landmarks });
        }
      }
    }
    return found;
  },
};
