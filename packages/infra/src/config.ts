import { DEFAULT_DETECTOR, DEFAULT_PHOTO_WORK, DEFAULT_WORK_COSTS, estimateWorkSeconds, DEFAULT_JOB_TTL_DAYS, DEFAULT_RESTORER, DEFAULT_SHUTDOWN_TIMEOUT_SECONDS, MODEL_MANIFEST, type ModelRole } from '@revive/contract';
import { z } from 'zod';
import {
  DEFAULT_SCALE_IN_EVALUATION_PERIODS,
  DEFAULT_SCALE_TO_ZERO_QUIET_MINUTES,
  DEFAULT_IDLE_PROTECTION_SECONDS,
  DEFAULT_SCALING_COOLDOWN_SECONDS,
  drainSecondsOf,
  MIN_SCALING_COOLDOWN_SECONDS,
} from './scaling.js';
import { isIdleWindowSeconds, MIN_IDLE_PROTECTION_SECONDS } from './scaling-signal/signal.js';

/** CloudWatch Logs accepts only these retention periods (days). */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** Fargate's valid task sizes: vCPU → allowed memory (MiB). */
export const FARGATE_MEMORY_MIB_BY_VCPU: Readonly<Record<string, readonly number[]>> = {
  '0.25': [512, 1024, 2048],
  '0.5': range(1024, 4096, 1024),
  '1': range(2048, 8192, 1024),
  '2': range(4096, 16_384, 1024),
  '4': range(8192, 30_720, 1024),
  '8': range(16_384, 61_440, 4096),
  '16': range(32_768, 122_880, 8192),
};

/** ECS (Fargate and EC2) kills a container this long after SIGTERM at most. */
export const MAX_STOP_TIMEOUT_SECONDS = 120;
/**
 * Seconds ECS waits beyond the worker's shutdown budget before SIGKILL: the worker stops taking jobs, waits up to
 * its budget for running jobs, then still has to release messages and flush logs and metrics.
 */
export const STOP_TIMEOUT_MARGIN_SECONDS = 10;

/** @default 'cpu' */
export const DEFAULT_WORKER_MODE = 'cpu';
/** Scale to zero when the queue is empty. @default 0 */
export const DEFAULT_MIN_TASKS = 0;
/** @default 4 */
export const DEFAULT_MAX_TASKS = 4;
/**
 * Seconds of task time per job at the mode's concurrency (1 / a task's throughput): the default photo
 * (DEFAULT_PHOTO_WORK: 1 MP at upscale 2, one face) at the mode's DEFAULT_WORK_COSTS. CPU: ≈ 2.3 s, from the
 * GFPGAN-sized stand-in measured on 2 vCPU. GPU: 3.5 s, an estimate (no GPU was lent to measure it).
 */
export const DEFAULT_SECONDS_PER_JOB = {
  cpu: Math.round(estimateWorkSeconds(DEFAULT_PHOTO_WORK, DEFAULT_WORK_COSTS.cpu) * 100) / 100,
  gpu: 3.5,
} as const;
/** How long a job may wait before a CPU task is worth starting. @default 120 */
export const DEFAULT_ACCEPTABLE_LATENCY_SECONDS = 120;
/** Jobs one task runs at once (REVIVE_CONCURRENCY): one per 2-vCPU Fargate task, two per GPU. */
export const DEFAULT_WORKER_CONCURRENCY = { cpu: 1, gpu: 2 } as const;
/**
 * Seconds from a scale-out to a GPU task taking jobs: instance launch, ECS registration, image pull and model load
 * (5–8 min) or, from the warm pool, resume, registration and model load (about 2.5 min).
 */
export const GPU_START_SECONDS = { cold: 390, warm: 150 } as const;
/**
 * Stopped, pre-initialised GPU instances kept in an EC2 Auto Scaling warm pool (gpu mode): the first jobs after a
 * quiet spell wait about 2.5 min instead of 5–8. A stopped instance costs only its EBS volume (docs/deploy.md).
 * @default 2
 */
export const DEFAULT_GPU_WARM_POOL_SIZE = 2;

/**
 * Catalogue models the worker images can bake: the Dockerfiles' models stage downloads them at build time and
 * checks their sha256, and `revive serve` never downloads. So a model needs a URL and a sha256 in the manifest
 * (packages/contract/src/models.ts); anything else would deploy workers that exit MODEL_UNAVAILABLE.
 */
export function bakeableModelIds(role: ModelRole): string[] {
  return MODEL_MANIFEST.filter((entry) => entry.role === role && entry.url !== undefined && entry.sha256 !== undefined).map((entry) => entry.id);
}

/** A model setting that synth accepts only when the image can bake it. */
function bakedModel(role: ModelRole) {
  return z.string().superRefine((id, ctx) => {
    const bakeable = bakeableModelIds(role);
    if (bakeable.includes(id)) return;
    ctx.addIssue({
      code: 'custom',
      message:
        `'${id}' can't be baked into the worker image, and the worker does not download models: use a catalogue ${role} ` +
        `with a download URL and a sha256 (${bakeable.length > 0 ? bakeable.join(', ') : `none in the catalogue yet`}), ` +
        `or add them for '${id}' to packages/contract/src/models.ts`,
    });
  });
}
/** @default 2 */
export const DEFAULT_WORKER_VCPU = 2;
/**
 * CPU task memory: the worker's baseline with a GFPGAN-class model (WORKER_BASELINE_MIB, 2048) plus one job's share
 * (2048: the 64 MP photo at upscale 2 needs about 1160). 2 vCPU allow 4096 to 16384. @default 4096
 */
export const DEFAULT_WORKER_MEMORY_MIB = 4096;
/**
 * GPU task memory: the baseline plus two jobs' shares of 3072 MiB (contract's DEFAULT_GPU_TASK_MEMORY_MIB); a
 * g4dn.xlarge lets a task reserve up to 14745. @default 8192
 */
export const DEFAULT_GPU_WORKER_MEMORY_MIB = 8192;
/** One NVIDIA T4: the cheapest GPU ECS runs. @default 'g4dn.xlarge' */
export const DEFAULT_GPU_INSTANCE_TYPE = 'g4dn.xlarge';
/** vCPUs and installed memory (MiB) of the GPU instance types gpu mode runs on (one GPU task per instance). */
export const GPU_INSTANCE_SIZES: Readonly<Record<string, { readonly vcpu: number; readonly memoryMiB: number }>> = {
  'g4dn.xlarge': { vcpu: 4, memoryMiB: 16_384 },
  'g4dn.2xlarge': { vcpu: 8, memoryMiB: 32_768 },
  'g4dn.4xlarge': { vcpu: 16, memoryMiB: 65_536 },
  'g4dn.8xlarge': { vcpu: 32, memoryMiB: 131_072 },
  'g4dn.12xlarge': { vcpu: 48, memoryMiB: 196_608 },
  'g4dn.16xlarge': { vcpu: 64, memoryMiB: 262_144 },
  'g5.xlarge': { vcpu: 4, memoryMiB: 16_384 },
  'g5.2xlarge': { vcpu: 8, memoryMiB: 32_768 },
  'g5.4xlarge': { vcpu: 16, memoryMiB: 65_536 },
  'g5.8xlarge': { vcpu: 32, memoryMiB: 131_072 },
  'g5.12xlarge': { vcpu: 48, memoryMiB: 196_608 },
  'g5.16xlarge': { vcpu: 64, memoryMiB: 262_144 },
  'g5.24xlarge': { vcpu: 96, memoryMiB: 393_216 },
};
/**
 * Share of an instance's installed memory a task may reserve: the ECS agent registers less than is installed (the
 * kernel, the agent, Docker and the NVIDIA driver keep some), and a reservation above the registered memory leaves the
 * task in PROVISIONING for ever. 10 % is a margin, not a measurement (no GPU instance to measure on).
 */
export const GPU_INSTANCE_MEMORY_SHARE = 0.9;

/** @default 30 */
export const DEFAULT_LOG_RETENTION_DAYS = 30;
/** Uploads are only read by the job that was created for them. @default 1 */
export const DEFAULT_UPLOAD_EXPIRY_DAYS = 1;
/** @default 0 (public subnets, tasks get public IPs; no NAT gateway cost) */
export const DEFAULT_NAT_GATEWAYS = 0;
/** @default 2 */
export const DEFAULT_MAX_AZS = 2;
/** A backlog that takes longer than this to clear at maxTasks pages. @default 3600 */
export const DEFAULT_DRAIN_TIME_ALARM_SECONDS = 3600;
/** Oldest visible message age that pages. @default 900 */
export const DEFAULT_OLDEST_MESSAGE_ALARM_SECONDS = 900;
/** API 5xx responses per 5 minutes that page. @default 5 */
export const DEFAULT_API_5XX_ALARM_THRESHOLD = 5;
/** Steady-state requests per second across the API. @default 50 */
export const DEFAULT_API_THROTTLE_RATE_PER_SECOND = 50;
/** @default 100 */
export const DEFAULT_API_THROTTLE_BURST = 100;

/**
 * onnxruntime release whose CUDA provider Dockerfile.gpu installs: onnxruntime-node's version
 * (packages/worker/package.json) and Dockerfile.gpu's ORT_VERSION, which a test keeps equal.
 */
export const GPU_PROVIDER_ORT_VERSION = '1.30.0';
/** The NuGet package Dockerfile.gpu downloads and checks against gpuProviderSha256. */
export const GPU_PROVIDER_NUPKG_URL =
  `https://api.nuget.org/v3-flatcontainer/microsoft.ml.onnxruntime.gpu.linux/${GPU_PROVIDER_ORT_VERSION}/microsoft.ml.onnxruntime.gpu.linux.${GPU_PROVIDER_ORT_VERSION}.nupkg`;
/** How to set gpuProviderSha256, added to any error about it. */
export const GPU_PROVIDER_SHA256_HINT =
  `gpu mode: the CUDA image's build checks onnxruntime's CUDA provider package (${GPU_PROVIDER_NUPKG_URL}) against ` +
  `gpuProviderSha256 and stops without it. Compute it once on a trusted machine, check it against the package's ` +
  `hash on nuget.org, and set it: curl -fsSL ${GPU_PROVIDER_NUPKG_URL} | sha256sum, then ` +
  `-c gpuProviderSha256=<the 64 hex digits>, or put "gpuProviderSha256" in cdk.json "context".`;

/** Template values that pass the URL check but can never match a token (cdk.json shipped REPLACEME ones). */
const PLACEHOLDER = /replace|your-|[<>]/i;
/** How to set the JWT settings, added to any error about them. */
export const JWT_SETTINGS_HINT =
  'Set the JWT issuer and audience the API accepts (e.g. a Cognito user pool and its app client id): ' +
  '-c jwtIssuer=https://cognito-idp.<region>.amazonaws.com/<user-pool-id> -c jwtAudience=<app-client-id>, ' +
  'or put "jwtIssuer" and "jwtAudience" in cdk.json "context".';

function range(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let v = from; v <= to; v += step) out.push(v);
  return out;
}

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
/** `-c key=a,b` arrives as a string, cdk.json may hold an array. */
const stringList = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter((s) => s.length > 0));
const origin = z
  .string()
  .regex(/^(https?:\/\/[a-z0-9.-]+(:\d{1,5})?|\*)$/i, 'an origin such as https://app.example.com (no path)');

/**
 * The CDK context settings (`cdk.json` "context" or `-c key=value`). Validated once, at the app's edge.
 * Every optional setting documents its default.
 */
export const reviveContextSchema = z
  .object({
    /** `cpu`: ECS on Fargate; `gpu`: ECS on EC2 GPU instances with the CUDA image. @default 'cpu' */
    workerMode: z.enum(['cpu', 'gpu']).default(DEFAULT_WORKER_MODE),
    /** @default 0 */
    minTasks: int(0, 1000).default(DEFAULT_MIN_TASKS),
    /** @default from peakJobsPerSecond when set, else 4 */
    maxTasks: int(1, 1000).optional(),
    /** Peak job rate to size maxTasks for: CEIL(peak × secondsPerJob / 0.8), so the peak runs the fleet at 80 %. */
    peakJobsPerSecond: z.coerce.number().positive().optional(),
    /** How long queued and running work may take to drain before another task is worth starting (gpu: at least a cold start). @default 120 */
    acceptableLatencySeconds: z.coerce.number().positive().optional(),
    /** Seconds of task time of the default photo (1 MP, upscale 2, one face) at the task's concurrency: scales the per-unit work costs (see `pnpm bench`). @default 2.34 (cpu: DEFAULT_PHOTO_WORK at the measured DEFAULT_WORK_COSTS.cpu), 3.5 (gpu) */
    secondsPerJob: z.coerce.number().positive().optional(),
    /** REVIVE_CONCURRENCY: jobs one task runs at once. @default 1 (cpu), 2 (gpu) */
    workerConcurrency: int(1, 64).optional(),
    /** Seconds between two actions of the scaling policy; at least one period plus the metric lag (120). @default 180 */
    scalingCooldownSeconds: int(MIN_SCALING_COOLDOWN_SECONDS, 3600).default(DEFAULT_SCALING_COOLDOWN_SECONDS),
    /** Minutes that must all have wanted fewer tasks before the surplus goes. @default 5 */
    scaleInEvaluationPeriods: int(1, 60).default(DEFAULT_SCALE_IN_EVALUATION_PERIODS),
    /**
     * Minutes with no job waiting, running or sent before a fleet of more than one task goes to zero at once (and a
     * single task when idleProtectionSeconds is 0: otherwise its own window decides). @default 1 (cpu), 2 (gpu)
     */
    scaleToZeroQuietMinutes: int(1, 1440).optional(),
    /**
     * REVIVE_IDLE_PROTECTION_SECONDS: seconds a task keeps its scale-in protection after its last job when it finds the
     * queue empty (the rent-or-buy window before the fleet reaches zero); 0 turns it off. 0 or at least a minute
     * (MIN_IDLE_PROTECTION_SECONDS): the scaling signal takes a single task to zero on an empty queue, so a shorter
     * window would let the fleet reach zero within a minute of a send. @default 60 (cpu and gpu)
     */
    idleProtectionSeconds: int(0, 3600)
      .refine(isIdleWindowSeconds, `0 (off) or at least ${MIN_IDLE_PROTECTION_SECONDS} s: a shorter window lets the fleet reach zero within a minute of a send`)
      .optional(),
    /** Pre-warmed writes/s of the job table and its indexes (reads: 3×); a one-time charge. @default none */
    tableWarmWritesPerSecond: int(4000, 40_000).optional(),
    /** gpu mode: stopped, pre-initialised instances in a warm pool; 0 for none. @default 2 (gpu), 0 (cpu) */
    gpuWarmPoolSize: int(0, 100).optional(),
    /** Restorer the worker image bakes and loads: a catalogue id that bakeableModelIds('restorer') lists. @default DEFAULT_RESTORER */
    restorer: bakedModel('restorer').default(DEFAULT_RESTORER),
    /** Face detector the image bakes and loads (bakeableModelIds('detector')). @default DEFAULT_DETECTOR */
    detector: bakedModel('detector').default(DEFAULT_DETECTOR),
    /** Background upsampler the image bakes (bakeableModelIds('upsampler')). @default none (bicubic, Catmull-Rom) */
    bgUpsampler: bakedModel('upsampler').optional(),
    /** Task vCPU (Fargate sizes; in gpu mode the container's CPU reservation). @default 2 */
    workerVcpu: z.coerce
      .number()
      .refine((v) => String(v) in FARGATE_MEMORY_MIB_BY_VCPU, 'one of 0.25, 0.5, 1, 2, 4, 8, 16')
      .default(DEFAULT_WORKER_VCPU),
    /** Task memory (MiB), one of Fargate's sizes for workerVcpu in cpu mode. @default 4096 (cpu), 8192 (gpu) */
    workerMemoryMiB: int(512, 122_880).optional(),
    /** EC2 type in gpu mode; g4dn.* or g5.* (GPU_INSTANCE_SIZES). @default 'g4dn.xlarge' */
    gpuInstanceType: z
      .string()
      .refine((v) => v in GPU_INSTANCE_SIZES, `a g4dn.* or g5.* instance type, one of ${Object.keys(GPU_INSTANCE_SIZES).join(', ')}`)
      .default(DEFAULT_GPU_INSTANCE_TYPE),
    /**
     * sha256 of onnxruntime's CUDA provider package (GPU_PROVIDER_NUPKG_URL), which Dockerfile.gpu checks before
     * using it; required in gpu mode (the GPU image does not build without it), unused in cpu mode. @default none
     */
    gpuProviderSha256: z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 in lowercase hex').optional(),
    /** @default 30 */
    logRetentionDays: z.coerce
      .number()
      .refine((v) => (LOG_RETENTION_DAYS as readonly number[]).includes(v), `one of ${LOG_RETENTION_DAYS.join(', ')}`)
      .default(DEFAULT_LOG_RETENTION_DAYS),
    /** The JWT issuer (e.g. a Cognito user pool URL); required. */
    jwtIssuer: z.url({ protocol: /^https$/ }).refine((v) => !PLACEHOLDER.test(v), { message: 'a placeholder; set the real issuer URL' }),
    /** Accepted JWT audiences (client ids); required. */
    jwtAudience: stringList.pipe(
      z
        .array(z.string().refine((v) => !PLACEHOLDER.test(v), { message: 'a placeholder; set the real audience (app client id)' }))
        .min(1, 'at least one audience'),
    ),
    /** Browser origins allowed to call the API and upload with presigned POSTs. @default [] (no CORS) */
    corsAllowedOrigins: stringList.pipe(z.array(origin)).default([]),
    /** @default 1 */
    uploadExpiryDays: int(1, 3650).default(DEFAULT_UPLOAD_EXPIRY_DAYS),
    /** Job records (DynamoDB TTL) and results expire after this. @default 7 */
    jobTtlDays: int(1, 3650).default(DEFAULT_JOB_TTL_DAYS),
    /** @default jobTtlDays: a result lives as long as the record that points at it */
    resultExpiryDays: int(1, 3650).optional(),
    /** Seconds in-flight jobs get after SIGTERM; ECS's stopTimeout adds a small margin. @default 110 */
    shutdownTimeoutSeconds: int(0, MAX_STOP_TIMEOUT_SECONDS - STOP_TIMEOUT_MARGIN_SECONDS).default(
      DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
    ),
    /** Email subscribed to the alarm topic. @default none (subscribe later) */
    alarmEmail: z.email().optional(),
    /** 0 puts tasks in public subnets with public IPs (no inbound rules); ≥ 1 uses private subnets. @default 0 */
    natGateways: int(0, 3).default(DEFAULT_NAT_GATEWAYS),
    /** @default 2 */
    maxAzs: int(1, 6).default(DEFAULT_MAX_AZS),
    /** Estimated drain time (backlog ÷ the fleet's rate at maxTasks) that pages, seconds. @default 3600 */
    drainTimeAlarmSeconds: int(60, 1_209_600).default(DEFAULT_DRAIN_TIME_ALARM_SECONDS),
    /** @default 900 */
    oldestMessageAlarmSeconds: int(60, 1_209_600).default(DEFAULT_OLDEST_MESSAGE_ALARM_SECONDS),
    /** @default 50 */
    apiThrottleRatePerSecond: z.coerce.number().positive().default(DEFAULT_API_THROTTLE_RATE_PER_SECOND),
    /** @default 100 */
    apiThrottleBurst: int(1, 100_000).default(DEFAULT_API_THROTTLE_BURST),
  })
  .superRefine((c, ctx) => {
    if (c.acceptableLatencySeconds !== undefined && c.secondsPerJob !== undefined && c.acceptableLatencySeconds < c.secondsPerJob) {
      ctx.addIssue({
        code: 'custom',
        path: ['acceptableLatencySeconds'],
        message: `acceptableLatencySeconds (${c.acceptableLatencySeconds}) is shorter than one job (${c.secondsPerJob} s)`,
      });
    }
    if (c.workerMode === 'cpu' && (c.gpuWarmPoolSize ?? 0) > 0) {
      ctx.addIssue({ code: 'custom', path: ['gpuWarmPoolSize'], message: 'a warm pool only applies to workerMode gpu' });
    }
    if (c.maxTasks !== undefined && c.peakJobsPerSecond !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['peakJobsPerSecond'], message: 'set either maxTasks or peakJobsPerSecond, not both' });
    }
    if (c.maxTasks !== undefined && c.minTasks > c.maxTasks) {
      ctx.addIssue({ code: 'custom', path: ['minTasks'], message: `minTasks (${c.minTasks}) exceeds maxTasks (${c.maxTasks})` });
    }
    if (c.workerMode === 'gpu' && c.gpuProviderSha256 === undefined) {
      // Fail at synth, not minutes into `cdk deploy`'s image build (synth needs no Docker, so nothing else would).
      ctx.addIssue({ code: 'custom', path: ['gpuProviderSha256'], message: 'required in workerMode gpu' });
    }
    if (c.workerMode === 'gpu') {
      const size = GPU_INSTANCE_SIZES[c.gpuInstanceType];
      const maxMemoryMiB = size === undefined ? 0 : Math.floor(size.memoryMiB * GPU_INSTANCE_MEMORY_SHARE);
      if (size !== undefined && c.workerVcpu > size.vcpu) {
        ctx.addIssue({
          code: 'custom',
          path: ['workerVcpu'],
          message: `${c.gpuInstanceType} has ${size.vcpu} vCPU; a task that reserves ${c.workerVcpu} never starts (use ≤ ${size.vcpu} or a larger gpuInstanceType)`,
        });
      }
      if (size !== undefined && (c.workerMemoryMiB ?? DEFAULT_GPU_WORKER_MEMORY_MIB) > maxMemoryMiB) {
        ctx.addIssue({
          code: 'custom',
          path: ['workerMemoryMiB'],
          message: `${c.gpuInstanceType} registers less than its ${size.memoryMiB} MiB with ECS; reserve at most ${maxMemoryMiB} MiB (or use a larger gpuInstanceType)`,
        });
      }
    }
    if (c.workerMode === 'cpu') {
      const allowed = FARGATE_MEMORY_MIB_BY_VCPU[String(c.workerVcpu)] ?? [];
      const memoryMiB = c.workerMemoryMiB ?? DEFAULT_WORKER_MEMORY_MIB;
      if (!allowed.includes(memoryMiB)) {
        ctx.addIssue({
          code: 'custom',
          path: ['workerMemoryMiB'],
          message: `Fargate does not offer ${c.workerVcpu} vCPU with ${memoryMiB} MiB; with ${c.workerVcpu} vCPU use one of ${allowed.join(', ')}`,
        });
      }
    }
  })
  .transform((c) => {
    const { acceptableLatencySeconds, secondsPerJob, workerConcurrency, resultExpiryDays, maxTasks, peakJobsPerSecond, scaleToZeroQuietMinutes, idleProtectionSeconds, gpuWarmPoolSize, ...rest } = c;
    const mode = rest.workerMode;
    const jobSeconds = secondsPerJob ?? DEFAULT_SECONDS_PER_JOB[mode];
    const sized = peakJobsPerSecond === undefined ? undefined : maxTasksFor(peakJobsPerSecond, jobSeconds);
    return {
      ...rest,
      secondsPerJob: jobSeconds,
      maxTasks: Math.max(rest.minTasks, maxTasks ?? sized ?? DEFAULT_MAX_TASKS),
      workerConcurrency: workerConcurrency ?? DEFAULT_WORKER_CONCURRENCY[mode],
      drainSeconds: drainSecondsOf(mode, acceptableLatencySeconds ?? DEFAULT_ACCEPTABLE_LATENCY_SECONDS, GPU_START_SECONDS.cold),
      gpuWarmPoolSize: mode === 'gpu' ? (gpuWarmPoolSize ?? DEFAULT_GPU_WARM_POOL_SIZE) : 0,
      resultExpiryDays: resultExpiryDays ?? rest.jobTtlDays,
      scaleToZeroQuietMinutes: scaleToZeroQuietMinutes ?? DEFAULT_SCALE_TO_ZERO_QUIET_MINUTES[mode],
      idleProtectionSeconds: idleProtectionSeconds ?? DEFAULT_IDLE_PROTECTION_SECONDS[mode],
      // A GPU task holds two jobs beside the baseline: its default memory follows the mode.
      workerMemoryMiB: rest.workerMemoryMiB ?? (mode === 'gpu' ? DEFAULT_GPU_WORKER_MEMORY_MIB : DEFAULT_WORKER_MEMORY_MIB),
    };
  });

/** The fleet a peak rate needs at MAX_TASKS_PEAK_UTILIZATION; at most the schema's 1000. */
export function maxTasksFor(peakJobsPerSecond: number, secondsPerJob: number): number {
  return Math.min(1000, Math.max(1, Math.ceil((peakJobsPerSecond * secondsPerJob) / MAX_TASKS_PEAK_UTILIZATION)));
}
/** Busy share of the fleet at the peak rate maxTasks is sized for: headroom for bursts above the peak. */
export const MAX_TASKS_PEAK_UTILIZATION = 0.8;

export type ReviveConfig = z.output<typeof reviveContextSchema>;
export type ReviveContextInput = z.input<typeof reviveContextSchema>;

/** Thrown when the context settings are invalid; the message lists every problem with its setting's name. */
export class ReviveConfigError extends Error {
  override readonly name = 'ReviveConfigError';
}

/** Reads every setting the schema knows from `tryGetContext` and validates them together. */
export function loadReviveConfig(tryGetContext: (key: string) => unknown): ReviveConfig {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(reviveContextSchema.in.shape)) {
    const value = tryGetContext(key);
    if (value !== undefined) raw[key] = value;
  }
  if (tryGetContext('backlogPerTask') !== undefined || tryGetContext('jobsPerTask') !== undefined) {
    throw new ReviveConfigError(
      'Invalid Revive CDK context: backlogPerTask and jobsPerTask are gone; the fleet now scales on the seconds of work queued and running. Set acceptableLatencySeconds (how long that work may take to drain) and secondsPerJob (task time of the default photo), or leave them to the per-mode defaults.',
    );
  }
  const parsed = reviveContextSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  - ${i.path.join('.') || '(context)'}: ${i.message}`);
    const about = (...keys: string[]) => parsed.error.issues.some((i) => keys.includes(String(i.path[0])));
    const hints = [...(about('jwtIssuer', 'jwtAudience') ? [JWT_SETTINGS_HINT] : []), ...(about('gpuProviderSha256') ? [GPU_PROVIDER_SHA256_HINT] : [])];
    throw new ReviveConfigError(
      `Invalid Revive CDK context (set it in cdk.json "context" or with -c key=value):\n${[...lines, ...hints].join('\n')}`,
    );
  }
  return parsed.data;
}
