// The worker package's public surface for other packages of this repository (the dev stack runs the CLI and the
// local consumers; tests read the CLI's report). The pipeline itself is `@revive/pipeline`.
export { createDownloadProgress } from './cli/progress.js';
export { main as runCli } from './cli/program.js';
export { EXIT_CODES } from './cli/exit-codes.js';
export type { FaceReport, ImageReport, RestoreReport } from './cli/report.js';
export { taskTmpDirPrefix } from './service/task-tmp-dir.js';
