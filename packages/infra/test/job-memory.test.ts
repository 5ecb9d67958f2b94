// Issue 18 item 1: the worker's per-job memory budget follows the task's memory and the jobs it runs at once.
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { TEST_GPU_PROVIDER_SHA256 } from './synth.js';

const CONTEXT = { jwtIssuer: 'https://issuer.example.com/pool', jwtAudience: 'web', 'aws:cdk:bundling-stacks': [] };

function workerEnv(context: Record<string, unknown>): Record<string, unknown> {
  const { stack } = createApp({ ...CONTEXT, ...context });
  const tasks = Template.fromStack(stack).findResources('AWS::ECS::TaskDefinition');
  const [task] = Object.values(tasks) as { Properties: { ContainerDefinitions: { Environment: { Name: string; Value: unknown }[] }[] } }[];
  return Object.fromEntries(task!.Properties.ContainerDefinitions[0]!.Environment.map((e) => [e.Name, e.Value]));
}

describe('REVIVE_JOB_MEMORY_MIB', () => {
  it.each([
    [{ workerMode: 'cpu' }, '2048'],
    [{ workerMode: 'gpu', gpuProviderSha256: TEST_GPU_PROVIDER_SHA256 }, '3072'],
    [{ workerMode: 'cpu', workerMemoryMiB: 8192 }, '6144'],
  ] as const)('%o: (task memory − 2048 MiB baseline) / jobs at once = %s', (context, expected) => {
    expect(workerEnv({ maxTasks: 10, ...context })).toMatchObject({ REVIVE_JOB_MEMORY_MIB: expected });
  }, 180_000);
});
