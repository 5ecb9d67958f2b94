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
  loadReviveConfig,
  ReviveConfigError,
} from './config.js';
import { JobStorage } from './storage.js';
import { WorkerService } from './worker.js';

const REQUIRED = { jwtIssuer: 'https://issuer.example.com/pool', jwtAudience: 'web' };
const load = (ctx: Record<string, unknown>) => loadReviveConfig((k) => ctx[k]);

describe('loadReviveConfig', () => {
  it('applies the documented defaults', () => {
    const c = load(REQUIRED);
    expect(c).toMatchObject({
      workerMode: 'cpu',
      minTasks: 0,
      maxTasks: DEFAULT_MAX_TASKS,
      // CPU: a 120 s latency budget at 60 s a job.
      jobsPerTask: 2,
      workerConcurrency: DEFAULT_WORKER_CONCURRENCY.cpu,
      scalingCooldownSeconds: 180,
      scaleInEvaluationPeriods: 5,
      scaleToZeroQuietMinutes: 10,
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

  it('keeps the last task 10 quiet minutes on cpu, 15 on gpu, never fewer than the scale-in window', () => {
    expect(load({ ...REQUIRED, workerMode: 'gpu' }).scaleToZeroQuietMinutes).toBe(15);
    expect(load({ ...REQUIRED, scaleToZeroQuietMinutes: '30' }).scaleToZeroQuietMinutes).toBe(30);
    expect(load({ ...REQUIRED, scaleInEvaluationPeriods: 20 }).scaleToZeroQuietMinutes).toBe(20);
  });

  it('coerces -c strings and comma lists', () => {
    const c = load({ ...REQUIRED, minTasks: '2', maxTasks: '9', corsAllowedOrigins: 'https://a.example.com, http://localhost:5173' });
    expect(c).toMatchObject({ minTasks: 2, maxTasks: 9, corsAllowedOrigins: ['https://a.example.com', 'http://localhost:5173'] });
  });

  it('derives jobsPerTask per mode: the latency budget (cpu), the longer of it and a GPU start (gpu)', () => {
    expect(load({ ...REQUIRED, acceptableLatencySeconds: 100, secondsPerJob: 8 }).jobsPerTask).toBe(12);
    expect(load({ ...REQUIRED, workerMode: 'gpu' }).jobsPerTask).toBe(111);
    expect(load({ ...REQUIRED, workerMode: 'gpu', gpuWarmPoolSize: 2 }).jobsPerTask).toBe(111);
    expect(load({ ...REQUIRED, workerMode: 'gpu' }).workerConcurrency).toBe(2);
  });

  it('sizes maxTasks from a peak rate at 80 % busy', () => {
    expect(load({ ...REQUIRED, peakJobsPerSecond: 2 }).maxTasks).toBe(150);
    expect(load({ ...REQUIRED, workerMode: 'gpu', peakJobsPerSecond: 2 }).maxTasks).toBe(9);
  });

  it.each([
    [{ workerMode: 'tpu' }, /workerMode/],
    [{ jobsPerTask: 5, acceptableLatencySeconds: 60, secondsPerJob: 5 }, /either jobsPerTask or acceptableLatencySeconds/],
    [{ scalingCooldownSeconds: 60 }, /scalingCooldownSeconds/],
    [{ gpuWarmPoolSize: 2 }, /warm pool only applies to workerMode gpu/],
    [{ maxTasks: 5, peakJobsPerSecond: 1 }, /either maxTasks or peakJobsPerSecond/],
    [{ backlogPerTask: 5 }, /backlogPerTask is gone.*jobsPerTask/],
    [{ acceptableLatencySeconds: 60 }, /go together/],
    [{ minTasks: 5, maxTasks: 2 }, /minTasks \(5\) exceeds maxTasks \(2\)/],
    [{ workerVcpu: 2, workerMemoryMiB: 2048 }, /Fargate does not offer 2 vCPU with 2048 MiB.*4096/],
    [{ workerVcpu: 3 }, /workerVcpu: one of 0.25/],
    [{ workerMode: 'gpu', gpuInstanceType: 'p3.2xlarge' }, /gpuInstanceType: a g4dn\.\* or g5\.\*/],
    // A task that reserves more than the instance has stays in PROVISIONING for ever.
    [{ workerMode: 'gpu', gpuInstanceType: 'g4dn.xlarge', workerVcpu: 8, workerMemoryMiB: 8192 }, /workerVcpu: g4dn\.xlarge has 4 vCPU/],
    [{ workerMode: 'gpu', gpuInstanceType: 'g4dn.xlarge', workerVcpu: 4, workerMemoryMiB: 16_384 }, /workerMemoryMiB: g4dn\.xlarge .*at most 14745 MiB/],
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

  it('requires the JWT issuer and audience, and says how to set them', () => {
    expect(() => load({})).toThrow(/jwtIssuer[\s\S]*jwtAudience[\s\S]*-c jwtIssuer=https:\/\/.* -c jwtAudience=.*cdk\.json/);
  });

  it('accepts a gpu task that fits its instance type', () => {
    const c = load({ ...REQUIRED, workerMode: 'gpu', gpuInstanceType: 'g5.2xlarge', workerVcpu: 8, workerMemoryMiB: 28_672 });
    expect(c).toMatchObject({ workerVcpu: 8, workerMemoryMiB: 28_672, gpuInstanceType: 'g5.2xlarge' });
  });

  it('accepts any GPU-era memory in gpu mode (Fargate sizes only apply to cpu)', () => {
    expect(load({ ...REQUIRED, workerMode: 'gpu', workerVcpu: 2, workerMemoryMiB: 12_288 }).workerMemoryMiB).toBe(12_288);
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
    jobsPerTask: 5,
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
