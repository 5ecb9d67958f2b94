/**
 * The name prefix of a worker's own temporary folder (onnxruntime's telemetry files go there), with its pid: a worker
 * killed outright (kill -9, OOM) cannot remove it, and whoever finds it later (`pnpm start`'s supervisor, its next
 * start) can tell from the pid whether its owner is gone or still running.
 */
export function taskTmpDirPrefix(pid: number): string {
  return `revive-worker-${pid}-`;
}
