import { METRICS_NAMESPACE, WORKER_METRIC_DIMENSIONS, WORKER_METRICS, WORKER_SERVICE_NAME } from '@revive/contract';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { measuredWorkCosts, Telemetry } from './telemetry.js';

interface EmfLine {
  readonly _aws: { readonly CloudWatchMetrics: readonly { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] };
  readonly [key: string]: unknown;
}

/** The EMF lines `emit` writes to stdout (Powertools writes them there whatever the logger). */
function emfLines(emit: (telemetry: Telemetry) => void): EmfLine[] {
  // The suite turns EMF output off (vitest.config.ts); this test reads it.
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  const telemetry = new Telemetry();
  const written: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  try {
    emit(telemetry);
  } finally {
    spy.mockRestore();
  }
  return written
    .flatMap((chunk) => chunk.split('\n'))
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as EmfLine);
}

describe('Telemetry', () => {
  afterEach(() => vi.unstubAllEnvs());

  it("publishes exactly the contract's worker metrics, in its namespace, with the worker's service dimension", () => {
    const lines = emfLines((t) => {
      t.jobSucceeded(1200, 2, 350, { decode: 10, detect: 20 });
      t.jobFailed('IMAGE_TOO_LARGE', 40);
      t.jobDeferred('transient');
      t.modelsLoaded(900);
      t.workCosts({ durationMs: 1200, timingsMs: { restore: 400, encode: 100 }, facesRestored: 2, outputPixels: 4_000_000, concurrency: 1 });
    });
    const published = new Set<string>();
    for (const line of lines) {
      for (const directive of line._aws.CloudWatchMetrics) {
        expect(directive.Namespace).toBe(METRICS_NAMESPACE);
        expect(line.service).toBe(WORKER_SERVICE_NAME);
        for (const set of directive.Dimensions) expect(set).toContain('service');
        for (const metric of directive.Metrics) published.add(metric.Name);
      }
    }
    expect([...published].sort()).toEqual(Object.values(WORKER_METRICS).sort());
    const stageLine = lines.find((l) => l._aws.CloudWatchMetrics[0]!.Metrics.some((m) => m.Name === WORKER_METRICS.stageMs));
    expect(stageLine?.[WORKER_METRIC_DIMENSIONS.stage]).toBe('decode');
    const failedLine = lines.find((l) => l._aws.CloudWatchMetrics[0]!.Metrics.some((m) => m.Name === WORKER_METRICS.jobsFailed));
    expect(failedLine?.[WORKER_METRIC_DIMENSIONS.errorCode]).toBe('IMAGE_TOO_LARGE');
  });

  it('measures a photo\'s per-unit costs in task-seconds: faces, output megapixels, and the rest per frame', () => {
    const sample = { durationMs: 10_000, timingsMs: { decode: 500, detect: 500, align: 200, restore: 3800, upscale: 1000, paste: 600, encode: 400 }, facesRestored: 2, outputPixels: 8_000_000, concurrency: 1 };
    expect(measuredWorkCosts(sample)).toEqual({ secondsPerFace: 2, secondsPerOutputMegapixel: 0.25, secondsPerFrame: 4 });
    // Two jobs at once on a task: each job's wall time is half its share of the task.
    expect(measuredWorkCosts({ ...sample, concurrency: 2 })).toEqual({ secondsPerFace: 1, secondsPerOutputMegapixel: 0.125, secondsPerFrame: 2 });
    // No face restored: no per-face cost rather than a division by zero.
    expect(measuredWorkCosts({ ...sample, facesRestored: 0 })).not.toHaveProperty('secondsPerFace');
  });
});
