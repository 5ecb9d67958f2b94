// The worker package's public surface: the pipeline for other packages and tools, the CLI entry and its report.
export * from './errors.js';
export * from './pipeline/types.js';
export * from './pipeline/pipeline.js';
export {
  MODEL_MANIFEST,
  defaultModelsDir,
  findModel,
  modelDownloadUrl,
  resolveModel,
  MODELS_BASE_URL_ENV,
  MODELS_DIR_ENV,
  type ModelEntry,
  type ModelRole,
  type ResolveModelOptions,
} from './pipeline/models.js';
export { ModelDownloadError, type DownloadStage } from './pipeline/model-fetch.js';
export { createDownloadProgress } from './cli/progress.js';
export type { DetectorKind } from './pipeline/detect.js';
export type { ExecutionDevice } from './pipeline/inference.js';
export { main as runCli } from './cli/program.js';
export { EXIT_CODES } from './cli/exit-codes.js';
export type { FaceReport, ImageReport, RestoreReport } from './cli/report.js';
