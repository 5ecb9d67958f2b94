import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_JOB_TTL_DAYS, DEFAULT_SHUTDOWN_TIMEOUT_SECONDS } from '@revive/contract';
import { Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_WORKER_CONCURRENCY,
  DEFAULT_GPU_INSTANCE_TYPE,
  DEFAULT_MAX_TASKS,
  DEFAULT_WORKER_MEMORY_MIB,
  DEFAULT_WORKER_VCPU,
  GPU_PROVIDER_NUPKG_URL,
  GPU_PROVIDER_ORT_VERSION,
  loadReviveConfig,
  ReviveConfigError,
} from './config.js';
import { CDK_JSON_PATH } from './app.js';
import { REPO_ROOT } from './paths.js';
import { JobStorage } from './storage.js';
import { WorkerService } from './worker.js';

const REQUIRED = { jwtIssuer: 'https://issuer.example.com/pool', jwtAudience: 'web' };
/** gpu mode with a synth-only checksum (test/synth.ts says why it is safe). */
const GPU = { workerMode: 'gpu', gpuProviderSha256: '0'.repeat(64) } as const;
const load = (ctx: Record<string, unknown>) => loadReviveConfig((k) => ctx[k]);

describe('loadReviveConfig', () => {
  it('applies the documented defaults', () => {
    const c = load(REQUIRED);
    expect(c).toMatchObject({
      workerMode: 'cpu',
      minTasks: 0,
      maxTasks: DEFAULT_MAX_TASKS,
      // CPU: queued and running work drains within the 120 s latency budget.
      drainSeconds: 120,
      gpuWarmPoolSize: 0,
      workerConcurrency: DEFAULT_WORKER_CONCURRENCY.cpu,
      scalingCooldownSeconds: 180,
      scaleInEvaluationPeriods: 5,
      scaleToZeroQuietMinutes: 1,
      drainTimeAlarmSeconds: 3600,
      workerVcpu: DEFAULT_WORKER_VCPU,
      workerMemoryMiB: DEFAULT_WORKER_MEMORY_MIB,
      gpuInstanceType: DEFAULT_GPU_INSTANCE_TYPE,
      jobTtlDays: DEFAULT_JOB_TTL_DAYS,
      resultExpiryDays: DEFAULT_JOB_TTL_DAYS,
      shutdownTimeoutSeconds: DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
      corsAllowedOrigins: [],
      jwtAudience: ['web'],
    });
    expect(c.alarmEmail).toBeUndefined();
  });

  it('keeps the last task 1 quiet minute on cpu, 2 on gpu (rent-or-buy), or what the context says', () => {
    expect(load(REQUIRED).scaleToZeroQuietMinutes).toBe(1);
    expect(load({ ...REQUIRED, ...GPU }).scaleToZeroQuietMinutes).toBe(2);
    expect(load({ ...REQUIRED, scaleToZeroQuietMinutes: '30' }).scaleToZeroQuietMinutes).toBe(30);
  });

  it('gives gpu mode a warm pool of 2 stopped instances by default, and lets it be turned off', () => {
    expect(load({ ...REQUIRED, ...GPU }).gpuWarmPoolSize).toBe(2);
    expect(load({ ...REQUIRED, ...GPU, gpuWarmPoolSize: '0' }).gpuWarmPoolSize).toBe(0);
    expect(load(REQUIRED).gpuWarmPoolSize).toBe(0);
  });

  it('coerces -c strings and comma lists', () => {
    const c = load({ ...REQUIRED, minTasks: '2', maxTasks: '9', corsAllowedOrigins: 'https://a.example.com, http://localhost:5173' });
    expect(c).toMatchObject({ minTasks: 2, maxTasks: 9, corsAllowedOrigins: ['https://a.example.com', 'http://localhost:5173'] });
  });

  it('derives the drain horizon per mode: the latency budget (cpu), at least half a GPU instance\'s start and linger (gpu)', () => {
    expect(load({ ...REQUIRED, acceptableLatencySeconds: 100 }).drainSeconds).toBe(100);
    expect(load({ ...REQUIRED, secondsPerJob: 8 })).toMatchObject({ drainSeconds: 120, secondsPerJob: 8 });
    expect(load({ ...REQUIRED, ...GPU }).drainSeconds).toBe(Math.ceil((390 + 900) / 2));
    expect(load({ ...REQUIRED, ...GPU, acceptableLatencySeconds: 1200 }).drainSeconds).toBe(1200);
    expect(load({ ...REQUIRED, ...GPU }).workerConcurrency).toBe(2);
  });

  it('sizes maxTasks from a peak rate at 80 % busy', () => {
    // 2 jobs/s × 2.34 s ÷ 0.8 = 5.85 tasks (cpu); 2 × 3.5 ÷ 0.8 = 8.75 (gpu).
    expect(load({ ...REQUIRED, peakJobsPerSecond: 2 }).maxTasks).toBe(6);
    expect(load({ ...REQUIRED, ...GPU, peakJobsPerSecond: 2 }).maxTasks).toBe(9);
  });

  it.each([
    [{ workerMode: 'tpu' }, /workerMode/],
    [{ jobsPerTask: 5 }, /jobsPerTask are gone.*acceptableLatencySeconds/],
    [{ acceptableLatencySeconds: 30, secondsPerJob: 60 }, /shorter than one job/],
    [{ scalingCooldownSeconds: 60 }, /scalingCooldownSeconds/],
    [{ gpuWarmPoolSize: 2 }, /warm pool only applies to workerMode gpu/],
    [{ maxTasks: 5, peakJobsPerSecond: 1 }, /either maxTasks or peakJobsPerSecond/],
    [{ backlogPerTask: 5 }, /backlogPerTask and jobsPerTask are gone/],
    [{ minTasks: 5, maxTasks: 2 }, /minTasks \(5\) exceeds maxTasks \(2\)/],
    [{ workerVcpu: 2, workerMemoryMiB: 2048 }, /Fargate does not offer 2 vCPU with 2048 MiB.*4096/],
    [{ workerVcpu: 3 }, /workerVcpu: one of 0.25/],
    [{ ...GPU, gpuInstanceType: 'p3.2xlarge' }, /gpuInstanceType: a g4dn\.\* or g5\.\*/],
    // A task that reserves more than the instance has stays in PROVISIONING for ever.
    [{ ...GPU, gpuInstanceType: 'g4dn.xlarge', workerVcpu: 8, workerMemoryMiB: 8192 }, /workerVcpu: g4dn\.xlarge has 4 vCPU/],
    [{ ...GPU, gpuInstanceType: 'g4dn.xlarge', workerVcpu: 4, workerMemoryMiB: 16_384 }, /workerMemoryMiB: g4dn\.xlarge .*at most 14745 MiB/],
    // The placeholders cdk.json used to ship pass the URL check but make every request a 401.
    [{ jwtIssuer: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_REPLACEME' }, /jwtIssuer: a placeholder[\s\S]*-c jwtIssuer=https:\/\//],
    [{ jwtAudience: ['replace-with-your-app-client-id'] }, /jwtAudience\.0: a placeholder[\s\S]*-c jwtAudience=/],
    [{ logRetentionDays: 10 }, /logRetentionDays: one of 1, 3, 5/],
    [{ jwtIssuer: 'http://insecure.example.com' }, /jwtIssuer/],
    [{ corsAllowedOrigins: 'https://app.example.com/path' }, /corsAllowedOrigins/],
    [{ shutdownTimeoutSeconds: 115 }, /shutdownTimeoutSeconds/],
    [{ alarmEmail: 'not-an-email' }, /alarmEmail/],
  ])('rejects %j with a clear error', (bad, message) => {
    expect(() => load({ ...REQUIRED, ...bad })).toThrow(ReviveConfigError);
    expect(() => load({ ...REQUIRED, ...bad })).toThrow(message);
  });

  it('requires gpuProviderSha256 in gpu mode, naming the package URL and how to compute it', () => {
    const url = `https://api.nuget.org/v3-flatcontainer/microsoft.ml.onnxruntime.gpu.linux/${GPU_PROVIDER_ORT_VERSION}/microsoft.ml.onnxruntime.gpu.linux.${GPU_PROVIDER_ORT_VERSION}.nupkg`;
    expect(GPU_PROVIDER_NUPKG_URL).toBe(url);
    expect(() => load({ ...REQUIRED, workerMode: 'gpu' })).toThrow(ReviveConfigError);
    const message = (() => {
      try {
        load({ ...REQUIRED, workerMode: 'gpu' });
        return '';
      } catch (error) {
        return (error as Error).message;
      }
    })();
    expect(message).toContain('gpuProviderSha256: required in workerMode gpu');
    expect(message).toContain(`curl -fsSL ${url} | sha256sum`);
    expect(message).toContain('-c gpuProviderSha256=');
    // Only the missing checksum is reported: the rest of the gpu defaults are valid.
    expect(message.split('\n').filter((line) => line.startsWith('  - '))).toHaveLength(1);
    expect(load({ ...REQUIRED, ...GPU }).gpuProviderSha256).toBe(GPU.gpuProviderSha256);
    // cpu mode builds no CUDA image and needs none.
    expect(load(REQUIRED).gpuProviderSha256).toBeUndefined();
    expect(() => load({ ...REQUIRED, ...GPU, gpuProviderSha256: 'ABC' })).toThrow(/gpuProviderSha256: a sha256 in lowercase hex/);
  });

  it("pins the CUDA provider of the onnxruntime release the worker and Dockerfile.gpu use", () => {
    const worker = JSON.parse(readFileSync(join(REPO_ROOT, 'packages/worker/package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(worker.dependencies['onnxruntime-node']).toBe(GPU_PROVIDER_ORT_VERSION);
    const dockerfile = readFileSync(join(REPO_ROOT, 'packages/worker/Dockerfile.gpu'), 'utf8');
    expect(dockerfile).toMatch(new RegExp(`^ARG ORT_VERSION=${GPU_PROVIDER_ORT_VERSION.replaceAll('.', '\\.')}$`, 'm'));
  });

  it("derives maxTasks from peakJobsPerSecond on top of the repository's cdk.json context", () => {
    const cdkJson = JSON.parse(readFileSync(CDK_JSON_PATH, 'utf8')) as { context: Record<string, unknown> };
    const settings = Object.fromEntries(Object.entries(cdkJson.context).filter(([key]) => !key.startsWith('@')));
    expect(load({ ...settings, ...REQUIRED, peakJobsPerSecond: '2' }).maxTasks).toBe(6);
    expect(load({ ...settings, ...REQUIRED, ...GPU, peakJobsPerSecond: '2' }).maxTasks).toBe(9);
    // Without it, the code's default applies.
    expect(load({ ...settings, ...REQUIRED }).maxTasks).toBe(DEFAULT_MAX_TASKS);
  });

  it('requires the JWT issuer and audience, and says how to set them', () => {
    expect(() => load({})).toThrow(/jwtIssuer[\s\S]*jwtAudience[\s\S]*-c jwtIssuer=https:\/\/.* -c jwtAudience=.*cdk\.json/);
  });

  it('accepts a gpu task that fits its instance type', () => {
    const c = load({ ...REQUIRED, ...GPU, gpuInstanceType: 'g5.2xlarge', workerVcpu: 8, workerMemoryMiB: 28_672 });
    expect(c).toMatchObject({ workerVcpu: 8, workerMemoryMiB: 28_672, gpuInstanceType: 'g5.2xlarge' });
  });

  it('accepts any GPU-era memory in gpu mode (Fargate sizes only apply to cpu)', () => {
    expect(load({ ...REQUIRED, ...GPU, workerVcpu: 2, workerMemoryMiB: 12_288 }).workerMemoryMiB).toBe(12_288);
  });
});

describe('construct props', () => {
  const workerProps = (stack: Stack) => ({
    mode: 'cpu' as const,
    vpc: new ec2.Vpc(stack, 'Vpc', { natGateways: 0 }),
    subnets: { subnetType: ec2.SubnetType.PUBLIC },
    assignPublicIp: true,
    queue: new sqs.Queue(stack, 'Q'),
    environment: {},
    vcpu: 1,
    memoryMiB: 2048,
    maxTasks: 2,
    secondsPerJob: 60,
    drainSeconds: 120,
    senderServices: ['api-create-job'],
    shutdownTimeoutSeconds: 110,
    logRetention: logs.RetentionDays.ONE_WEEK,
  });

  it('WorkerService rejects conflicting and out-of-range props before creating anything', () => {
    const stack = new Stack();
    const base = workerProps(stack);
    expect(() => new WorkerService(stack, 'A', { ...base, gpuInstanceType: 'g5.xlarge' })).toThrow(/gpuInstanceType only applies to mode "gpu"/);
    expect(() => new WorkerService(stack, 'B', { ...base, minTasks: 3 })).toThrow(/minTasks \(3\) exceeds maxTasks \(2\)/);
    expect(() => new WorkerService(stack, 'C', { ...base, shutdownTimeoutSeconds: 115 })).toThrow(/at most 120 s after SIGTERM/);
    expect(() => new WorkerService(stack, 'D', { ...base, mode: 'gpu', gpuInstanceType: 'g4dn.xlarge', vcpu: 8 })).toThrow(
      /does not fit on g4dn\.xlarge/,
    );
    expect(stack.node.tryFindChild('A')?.node.children ?? []).toHaveLength(0);
  });

  it('JobStorage rejects non-positive expiry', () => {
    expect(() => new JobStorage(new Stack(), 'S', { uploadExpiryDays: 0, resultExpiryDays: 1 })).toThrow(/uploadExpiryDays/);
  });
});
