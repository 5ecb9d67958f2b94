// @revive/pipeline's public surface: the restoration pipeline (in process and on threads), its stages' public
// helpers, model resolution, the demo restorer and the one error type. Test helpers are `@revive/pipeline/testing`.
export * from './errors.js';
export * from './types.js';
export * from './defaults.js';
export * from './pipeline.js';
export * from './pipeline-threads.js';
export * from './models.js';
export { ModelDownloadError, type DownloadStage } from './model-fetch.js';
export { writeIdentityRestorer, DEFAULT_GENERATED_MODEL_SIZE, GENERATED_OUTPUT_NAME, type GeneratedModelOptions } from './demo-restorer.js';
export { encode, encodeToFile, extensionOf } from './encode.js';
export { DEFAULT_FIDELITY } from './restore.js';
export { DEFAULT_RESTORE_BATCH_DELAY_MS, DEFAULT_RESTORE_BATCH_FACES } from './restore-batch.js';
export { DEFAULT_DEVICE, DEFAULT_THREADS } from './inference.js';
export { readImage, readImageHeader, resizeImage, resizePlane, writeImage, writeImageFile, writeSolidImage, warpRaw } from './image.js';
export { applyAffine, templateForSize } from './align.js';
