// The model catalogue as data (facts from ../shared/models/CATALOG.md) and the default models: shared by the
// pipeline (which resolves and verifies the files), the infra (which bakes them into images) and the dev stack.
// Data only: importing it loads no runtime beyond this module.

export type ModelRole = 'detector' | 'restorer' | 'upsampler';

/** The detector families the pipeline decodes. */
export const DETECTOR_KINDS = ['yunet', 'scrfd', 'retinaface'] as const;
/** A detector family: decides how its outputs are decoded. */
export type DetectorKind = (typeof DETECTOR_KINDS)[number];

/** The default face detector: YuNet 2023mar, 640×640. */
export const DEFAULT_DETECTOR = 'yunet';
/** The default face restorer: GFPGAN v1.4. */
export const DEFAULT_RESTORER = 'gfpgan-1.4';

/** Where a model runs: onnxruntime's CPU or CUDA execution provider. */
export const EXECUTION_DEVICES = ['cpu', 'cuda'] as const;
/** Where a model runs. */
export type ExecutionDevice = (typeof EXECUTION_DEVICES)[number];
/** The CPU: every worker image has it; 'cuda' needs the GPU image and a GPU. */
export const DEFAULT_DEVICE: ExecutionDevice = 'cpu';
/** 0 lets onnxruntime choose the intra-op thread count (one per physical core). */
export const DEFAULT_THREADS = 0;
/**
 * Most faces, from any of a worker's concurrent jobs, in one run of a restorer whose batch dimension is symbolic
 * (the pipeline's restore-batch.ts). 1 turns batching off: each pipeline thread restores its own faces, as with a
 * batch-1 model. Off by default because on CPU a shared, batched restorer restored fewer faces per second than a
 * session per thread (`pnpm bench`, "batching gain"; docs/decisions/restore-batching.md); on a GPU set it
 * to 8 or 16. @default 1
 */
export const DEFAULT_RESTORE_BATCH_FACES = 1;
/**
 * Longest a face waits for others to share its restorer batch once the model is free: a few ms, against a restorer
 * run of a few ms (GPU) to a second (CPU) per face. @default 5
 */
export const DEFAULT_RESTORE_BATCH_DELAY_MS = 5;

export interface ModelEntry {
  readonly id: string;
  readonly role: ModelRole;
  /** Path inside the models folder, e.g. 'detectors/yunet_s_640_640.onnx'. */
  readonly file: string;
  /** Public download; absent when none is known (the file must be put in place by hand, or come from a mirror). */
  readonly url?: string;
  /** Expected sha256 (hex); absent when no verified copy has been seen. */
  readonly sha256?: string;
  /** Size in bytes (exact for files seen here, approximate for the restorers); 0 when unknown. For display. */
  readonly bytes: number;
  /** Human-readable I/O contract. */
  readonly contract: string;
  readonly licence: string;
}

// Every URL is pinned (a release tag, a commit): a moving `latest`/`main` would turn an upstream change into a
// sha256 failure at the next image build or first start, with nothing changed here.
/** clibdev's GFPGAN ONNX exports, release tag 1.0.0 (the files CATALOG.md's sha256s describe). */
const GFPGAN_RELEASES = 'https://github.com/clibdev/GFPGAN-onnxruntime-demo/releases/download/1.0.0';
/** opencv_zoo at a fixed commit (the 2023mar YuNet is unchanged since March 2023; `raw/` redirects to Git LFS). */
const OPENCV_ZOO = 'https://github.com/opencv/opencv_zoo/raw/fef72f8fa7c52eaf116d3df358d24e6e959ada0e';
const GFPGAN_CONTRACT =
  "input 'input' [1,3,512,512] float32 RGB, (x/255-0.5)/0.5; one output (auto-generated name: the first output is used) in [-1,1]; FFHQ-512 template";
const GFPGAN_LICENCE = 'Apache-2.0 (TencentARC/GFPGAN; the StyleGAN2 parts carry their own terms: check upstream before commercial use)';
/** facefusion's other restorers: same [-1,1] RGB normalisation; the contract is read from the model at load. */
const FACEFUSION_NOTE = 'distributed by facefusion (facefusion-assets releases); no verified URL or sha256 here: put the file in place by hand';

export const MODEL_MANIFEST: readonly ModelEntry[] = [
  {
    id: 'yunet',
    role: 'detector',
    file: 'detectors/yunet_s_640_640.onnx',
    url: `${OPENCV_ZOO}/models/face_detection_yunet/face_detection_yunet_2023mar.onnx`,
    sha256: '8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4',
    bytes: 232_589,
    contract: "YuNet 2023mar: input 'input' [1,3,640,640] BGR 0..255; outputs cls/obj/bbox/kps_{8,16,32}",
    licence: 'MIT (libfacedetection / opencv_zoo)',
  },
  {
    id: 'yunet-dynamic',
    role: 'detector',
    file: 'detectors/yunet_s_dynamic.onnx',
    sha256: 'daede24002cc8590f457998cc5e6c9e8b82f45f6bd969506a8913cd4ed10a2d3',
    bytes: 237_823,
    contract: "YuNet-s with dynamic input [b,3,h,w] (h, w multiples of 32), BGR 0..255; same outputs as 'yunet'",
    licence: 'MIT (libfacedetection)',
  },
  {
    id: 'yunet-n-dynamic',
    role: 'detector',
    file: 'detectors/yunet_n_dynamic.onnx',
    sha256: '104ee26c71d5c270ce79a6b3dced91c91013260d29a6bf18f9296c5b8c4c2b12',
    bytes: 322_906,
    contract: "YuNet 'n' variant, dynamic input, BGR 0..255; same outputs as 'yunet'",
    licence: 'MIT (libfacedetection)',
  },
  {
    id: 'scrfd-500m',
    role: 'detector',
    file: 'detectors/scrfd_500m_bnkps.onnx',
    sha256: '6c6ba7956684796d7d582bfa1ab95dfe01dd280159f6bff1e23c1bc32bcc8431',
    bytes: 2_529_618,
    contract: "SCRFD-500M with keypoints: input 'input.1' [?,3,?,?] RGB (x-127.5)/128; outputs score/bbox/kps_{8,16,32}, 2 anchors per cell",
    licence: 'InsightFace pretrained models: non-commercial research use only',
  },
  {
    id: 'retinaface-mbnet0.25',
    role: 'detector',
    file: 'detectors/retinaface_mbnet0.25.onnx',
    sha256: '13a69f2cb3012162ccce8466b1cd9e445ae1337ae641f31c90419e6179f13650',
    bytes: 1_711_594,
    contract: "RetinaFace MobileNet-0.25: input 'input' [1,3,640,640] BGR minus (104,117,123); outputs loc, conf (softmaxed), iou (landmarks)",
    licence: 'MIT (biubug6/Pytorch_Retinaface)',
  },
  ...(['1.4', '1.3', '1.2'] as const).map(
    (version): ModelEntry => ({
      id: `gfpgan-${version}`,
      role: 'restorer',
      file: `restorers/gfpgan-v${version}.onnx`,
      url: `${GFPGAN_RELEASES}/gfpgan-v${version}.onnx`,
      sha256: {
        '1.4': '497ff5b6d6008ec101b2714776ce39ce67a722a78720dfce84231e612e45053e',
        '1.3': 'c01d3411d2c202d95f1ac5f7d09f99567de39a06577e4e66173ecefb3f242f5a',
        '1.2': 'd1e718d437b6d53f9ec3216a4ad468a74caf98187217dc9f40eab45f42d0ed14',
      }[version],
      // CATALOG.md gives 324.5 MB (approx); the exact count is checked through the sha256, not the size.
      bytes: 324_500_000,
      contract: GFPGAN_CONTRACT,
      licence: GFPGAN_LICENCE,
    }),
  ),
  {
    id: 'codeformer',
    role: 'restorer',
    file: 'restorers/codeformer.onnx',
    bytes: 0,
    contract: `CodeFormer: input [1,3,512,512] RGB [-1,1] plus 'weight' float64 (fidelity 0..1); FFHQ-512 template; ${FACEFUSION_NOTE}`,
    licence: 'S-Lab License 1.0 (sczhou/CodeFormer): non-commercial',
  },
  ...([256, 512, 1024, 2048] as const).map(
    (size): ModelEntry => ({
      id: `gpen-bfr-${size}`,
      role: 'restorer',
      file: `restorers/gpen_bfr_${size}.onnx`,
      bytes: 0,
      contract: `GPEN-BFR-${size}: input [1,3,${size},${size}] RGB [-1,1]${size === 256 ? ' (facefusion aligns it to the arcface_128 template, Revive to FFHQ)' : ''}; ${FACEFUSION_NOTE}`,
      licence: 'unknown here: see yangxy/GPEN',
    }),
  ),
  {
    id: 'restoreformer-plus-plus',
    role: 'restorer',
    file: 'restorers/restoreformer_plus_plus.onnx',
    bytes: 0,
    contract: `RestoreFormer++: input [1,3,512,512] RGB [-1,1]; ${FACEFUSION_NOTE}`,
    licence: 'unknown here: see wzhouxiff/RestoreFormerPlusPlus',
  },
  ...([2, 4] as const).map(
    (scale): ModelEntry => ({
      id: `efrlfn-x${scale}`,
      role: 'upsampler',
      file: `upscalers/efrlfn_x${scale}.onnx`,
      sha256: { 2: '4acd8f6572ebcc71b0f9712e1495eefdd6b0e3ccdd6bc95cd27116e1ca3cad7e', 4: 'a2533b2160db2d7a69626a0668d76bc1e2b3a6f7c632d9c0407d52a075a9b239' }[scale],
      bytes: { 2: 1_964_580, 4: 2_032_118 }[scale],
      contract: `input 'input' [b,3,h,w] RGB 0..1 -> x${scale}`,
      licence: 'unknown (origin unknown): for tests only, not for production use',
    }),
  ),
];

/** The catalogue entry for an id, or undefined. */
export function findModel(id: string): ModelEntry | undefined {
  return MODEL_MANIFEST.find((entry) => entry.id === id);
}

/** The job options that name a model: what REVIVE_AVAILABLE_MODELS lists, per option. */
export const MODEL_OPTIONS = ['restorer', 'bgUpsampler'] as const;
export type ModelOption = (typeof MODEL_OPTIONS)[number];

/**
 * The names under which a worker configured with `configured` (a catalogue id, or a path to an .onnx file) serves that
 * model: the value itself, its file name, and its file name without `.onnx`. A job's `options.restorer` or
 * `options.bgUpsampler` must be one of them.
 */
export function servedModelIds(configured: string): string[] {
  const file = configured.split(/[\\/]/).pop() ?? configured;
  return [...new Set([configured, file, file.replace(/\.onnx$/i, '')])];
}

