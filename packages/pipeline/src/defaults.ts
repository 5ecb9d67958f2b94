// The pipeline's defaults that the CLI shows in `--help`, in a module that imports nothing but the contract: `revive healthcheck`
// and `revive --help` load this file, not the stages that pull in onnxruntime-node and sharp (≈ 0.4 s and 80 MB
// per health check). The stages re-export each constant, so they stay the place readers look for them.

import type { DetectorKind } from '@revive/contract/models';

export {
  DEFAULT_DETECTOR,
  DEFAULT_DEVICE,
  DEFAULT_RESTORER,
  DEFAULT_THREADS,
  DETECTOR_KINDS,
  EXECUTION_DEVICES,
  type DetectorKind,
  type ExecutionDevice,
} from '@revive/contract/models';

/**
 * Face-probability thresholds per family: the families' scores are calibrated differently. RetinaFace 0.8 is
 * facexlib's; SCRFD 0.5 is insightface's; YuNet 0.7 sits between OpenCV's demo (0.9, which drops blurry faces)
 * and its scores for non-faces. On the test photos the real faces score ≥ 0.79 / 0.67 / 0.99 and the one
 * face-like newel post 0.61 / 0.45 / 0.65 (YuNet-s / SCRFD / RetinaFace), measured in detect.test.ts.
 */
export const DEFAULT_SCORE_THRESHOLDS: Readonly<Record<DetectorKind, number>> = { yunet: 0.7, scrfd: 0.5, retinaface: 0.8 };


/** 0.5: CodeFormer's usual middle between quality (0) and fidelity (1). */
export const DEFAULT_FIDELITY = 0.5;

/** x264's quality of restored videos: 18 is visually lossless for most footage, the usual choice for a restoration. @default 18 */
export const DEFAULT_VIDEO_CRF = 18;
/** x264's speed/size trade-off for restored videos, facefusion's default (`output_video_preset`). @default 'veryfast' */
export const DEFAULT_VIDEO_PRESET = 'veryfast';
