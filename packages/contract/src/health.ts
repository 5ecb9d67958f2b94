/**
 * Container health check timings for the worker (`revive healthcheck`), chosen from measured model load times;
 * the infra sets them on the ECS task definition and the Dockerfiles repeat them in HEALTHCHECK.
 *
 * Measured here (2 shared cores, `pnpm bench`): YuNet + the generated identity restorer load in 30–70 ms; YuNet +
 * a generated restorer with GFPGAN's 325 MB of weights in 0.7–1.3 s (file read and session set-up). The real
 * GFPGAN graph adds optimisation of ~300 convolutions: expect a few seconds on a Fargate vCPU, more on a cold
 * EBS read or a CUDA context start. 120 s covers that many times over, plus a slow start of Node itself.
 */
export const HEALTHCHECK_START_PERIOD_SECONDS = 120;
/** Between checks. The heartbeat file is rewritten every few seconds, so a check this often sees a wedge quickly. */
export const HEALTHCHECK_INTERVAL_SECONDS = 30;
/** A check only reads a small file; anything slower than this means the host is in trouble. */
export const HEALTHCHECK_TIMEOUT_SECONDS = 10;
/** Consecutive failures before ECS replaces the task. */
export const HEALTHCHECK_RETRIES = 3;
