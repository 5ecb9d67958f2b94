import {
  DEFAULT_DETECTOR,
  DEFAULT_RESTORER,
  DEFAULT_WORKER_IDLE_PROTECTION_SECONDS,
  HEALTHCHECK_INTERVAL_SECONDS,
  HEALTHCHECK_RETRIES,
  HEALTHCHECK_START_PERIOD_SECONDS,
  HEALTHCHECK_TIMEOUT_SECONDS,
} from '@revive/contract';
import { Duration, Stack } from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { DockerImageAsset, Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  DEFAULT_GPU_INSTANCE_TYPE,
  GPU_INSTANCE_MEMORY_SHARE,
  GPU_INSTANCE_SIZES,
  MAX_STOP_TIMEOUT_SECONDS,
  STOP_TIMEOUT_MARGIN_SECONDS,
} from './config.js';
import { GpuInstanceRelease } from './gpu-release.js';
import { REPO_ROOT } from './paths.js';
import {
  addGpuWarmPool,
  DEFAULT_SCALE_TO_ZERO_QUIET_MINUTES,
  QueueDepthScaling,
  SCALING_PERIOD_SECONDS,
} from './scaling.js';

export type WorkerMode = 'cpu' | 'gpu';

/** Dockerfiles per mode, relative to the repository root (the build context). */
export const WORKER_DOCKERFILES: Readonly<Record<WorkerMode, string>> = {
  cpu: 'packages/worker/Dockerfile',
  gpu: 'packages/worker/Dockerfile.gpu',
};
/** The health check the container runs; `revive` is on the image's PATH. */
export const WORKER_HEALTHCHECK_COMMAND = ['CMD', 'revive', 'healthcheck'] as const;
/** Container Insights namespace that carries the service's task counts. */
export const CONTAINER_INSIGHTS_NAMESPACE = 'ECS/ContainerInsights';
/** GPU deploys keep every running task until its replacement is healthy (see the service). @default 100 */
export const GPU_DEPLOY_MIN_HEALTHY_PERCENT = 100;
/** Length of the generated webhook secret: 48 base64 characters, a 36-byte HMAC key (Standard Webhooks asks 24 to 64). */
export const WEBHOOK_SECRET_CHARS = 48;
/** @default 200 */
export const GPU_DEPLOY_MAX_HEALTHY_PERCENT = 200;
/** Instances the GPU group may hold: room for a whole fleet's replacement tasks beside it during a deploy. */
export function gpuGroupMaxInstances(maxTasks: number): number {
  return Math.ceil((maxTasks * GPU_DEPLOY_MAX_HEALTHY_PERCENT) / 100);
}
/** The worker's own REVIVE_CONCURRENCY default, when the environment leaves it out. */
const DEFAULT_SIGNAL_CONCURRENCY = 1;
/**
 * Scratch disk a task needs for video work, on top of its image. Not yet measured per segment: a conservative bound
 * for the largest moment, a video's fan-in, which may hold the restored segments (at most about 3× the 4 GiB source
 * limit at upscale 2), the concatenated video of the same size and a copy of the source whose audio it muxes:
 * 12 + 12 + 4 = 28 GiB, rounded up. A segment alone needs far less (its frames go through pipes, never to disk).
 * @default 30
 */
export const WORKER_VIDEO_SCRATCH_GIB = 30;
/**
 * A Fargate task's ephemeral storage (its image and writable layer share it): the worker image (about 2 GiB
 * unpacked, the models included) plus WORKER_VIDEO_SCRATCH_GIB, with room to spare. Fargate's default is 20 GiB;
 * 21..200 may be asked for, billed per GiB above 20. @default 50
 */
export const FARGATE_EPHEMERAL_STORAGE_GIB = 50;
/** The GPU AMI plus the CUDA image need room (100 GiB), plus a task's video scratch. @default 130 */
export const GPU_ROOT_VOLUME_GIB = 100 + WORKER_VIDEO_SCRATCH_GIB;
/** Files the worker image never needs; the same as a .dockerignore would list, so the asset hash stays stable. */
const IMAGE_EXCLUDES = ['**/node_modules', '.git', 'cdk.out', '**/cdk.out', 'coverage', '**/*.onnx', '.revive', '.gl', '.whl'];

/** The models the image bakes (build arguments of the Dockerfiles' models stage) and the worker loads. */
export interface WorkerImageModels {
  readonly restorer: string;
  readonly detector: string;
  /** @default none (Lanczos) */
  readonly bgUpsampler?: string;
}
/** The Dockerfiles' own defaults. */
export const DEFAULT_WORKER_IMAGE_MODELS: WorkerImageModels = { restorer: DEFAULT_RESTORER, detector: DEFAULT_DETECTOR };

export interface WorkerServiceProps {
  /** `cpu`: Fargate; `gpu`: EC2 GPU instances in an Auto Scaling group capacity provider. */
  readonly mode: WorkerMode;
  readonly vpc: ec2.IVpc;
  /** Subnets the tasks (or GPU instances) run in. */
  readonly subnets: ec2.SubnetSelection;
  /** Tasks (cpu) or instances (gpu) get public IPs: needed in public subnets without a NAT gateway. */
  readonly assignPublicIp: boolean;
  /** The job queue the service scales on. */
  readonly queue: sqs.IQueue;
  /** The worker's environment (workerEnvSchema), apart from the webhook secret. */
  readonly environment: Readonly<Record<string, string>>;
  /** Task vCPU (Fargate size) or the container's CPU reservation on a GPU instance. */
  readonly vcpu: number;
  /** Task memory (cpu) or the container's memory reservation (gpu), MiB. */
  readonly memoryMiB: number;
  /** gpu mode only. @default 'g4dn.xlarge' */
  readonly gpuInstanceType?: string;
  /** @default 0 */
  readonly minTasks?: number;
  readonly maxTasks: number;
  /** Task-seconds of the default photo at the task's concurrency: scales the per-unit work costs (QueueDepthScaling). */
  readonly secondsPerJob: number;
  /** Seconds of work one task may be left to drain before another is worth starting (QueueDepthScaling). */
  readonly drainSeconds: number;
  /** Powertools `service` names of the functions that send job messages and publish their EnqueuedWork* units. */
  readonly senderServices: readonly string[];
  /** @default DEFAULT_SCALING_COOLDOWN_SECONDS */
  readonly scalingCooldownSeconds?: number;
  /** @default DEFAULT_SCALE_IN_EVALUATION_PERIODS */
  readonly scaleInEvaluationPeriods?: number;
  /** @default DEFAULT_SCALE_TO_ZERO_QUIET_MINUTES for the mode */
  readonly scaleToZeroQuietMinutes?: number;
  /** gpu mode only: stopped, pre-initialised instances in a warm pool. @default 0 (config.ts gives gpu mode 2) */
  readonly gpuWarmPoolSize?: number;
  /** The worker's SIGTERM budget (REVIVE_SHUTDOWN_TIMEOUT_SECONDS); stopTimeout adds a 10 s margin. */
  readonly shutdownTimeoutSeconds: number;
  readonly logRetention: logs.RetentionDays;
  /** @default WORKER_DOCKERFILES[mode] */
  readonly dockerfile?: string;
  /** Baked into the image as build arguments; validate them first (config.ts refuses what can't be baked). @default DEFAULT_WORKER_IMAGE_MODELS */
  readonly models?: WorkerImageModels;
  /** Extra build arguments, e.g. ORT_GPU_NUPKG_SHA256 for the GPU image. @default none */
  readonly buildArgs?: Readonly<Record<string, string>>;
}

/**
 * The queue worker: its image, task, ECS service (Fargate or GPU EC2) and queue-backlog autoscaling.
 * Grants live in grants.ts; this construct only exposes the roles.
 */
export class WorkerService extends Construct {
  public readonly mode: WorkerMode;
  public readonly cluster: ecs.Cluster;
  public readonly image: DockerImageAsset;
  public readonly taskDefinition: ecs.TaskDefinition;
  public readonly container: ecs.ContainerDefinition;
  public readonly service: ecs.BaseService;
  public readonly securityGroup: ec2.SecurityGroup;
  public readonly logGroup: logs.LogGroup;
  /** HMAC key for webhook signatures, injected as REVIVE_WEBHOOK_SECRET. */
  public readonly webhookSecret: secretsmanager.Secret;
  public readonly scalableTarget: appscaling.ScalableTarget;
  /** Queue-depth autoscaling on all the work against the desired count. */
  public readonly scaling: QueueDepthScaling;
  /** gpu mode only. */
  public readonly autoScalingGroup?: autoscaling.AutoScalingGroup;
  /** gpu mode only. */
  public readonly capacityProvider?: ecs.AsgCapacityProvider;
  /**
   * gpu mode only: the instances' role. The launch template gets it without policy updates, so the statements CDK
   * would attach (logs on every log group among them) are not added; grants.ts grants the agent's needs instead.
   */
  public readonly gpuInstanceRole?: iam.Role;
  /** gpu mode with gpuWarmPoolSize > 0 only. */
  public readonly warmPool?: autoscaling.WarmPool;
  /** gpu mode only: lifts the instances' scale-in protection when the stack is deleted. */
  public readonly gpuInstanceRelease?: GpuInstanceRelease;

  constructor(scope: Construct, id: string, props: WorkerServiceProps) {
    super(scope, id);
    const minTasks = props.minTasks ?? 0;
    if (props.mode === 'cpu' && props.gpuInstanceType !== undefined) {
      throw new Error('WorkerService: gpuInstanceType only applies to mode "gpu"');
    }
    if (!Number.isInteger(minTasks) || minTasks < 0 || !Number.isInteger(props.maxTasks) || props.maxTasks < 1) {
      throw new Error(`WorkerService: need whole numbers minTasks ≥ 0 and maxTasks ≥ 1 (got ${minTasks}, ${props.maxTasks})`);
    }
    if (props.mode === 'gpu') {
      const type = props.gpuInstanceType ?? DEFAULT_GPU_INSTANCE_TYPE;
      const size = GPU_INSTANCE_SIZES[type];
      if (size === undefined) throw new Error(`WorkerService: gpuInstanceType ${type} is not one of ${Object.keys(GPU_INSTANCE_SIZES).join(', ')}`);
      if (props.vcpu > size.vcpu || props.memoryMiB > size.memoryMiB * GPU_INSTANCE_MEMORY_SHARE) {
        throw new Error(
          `WorkerService: ${props.vcpu} vCPU / ${props.memoryMiB} MiB does not fit on ${type} (${size.vcpu} vCPU, ${size.memoryMiB} MiB installed); the task would never leave PROVISIONING`,
        );
      }
    }
    if (minTasks > props.maxTasks) throw new Error(`WorkerService: minTasks (${minTasks}) exceeds maxTasks (${props.maxTasks})`);
    const stopTimeoutSeconds = props.shutdownTimeoutSeconds + STOP_TIMEOUT_MARGIN_SECONDS;
    if (props.shutdownTimeoutSeconds < 0 || stopTimeoutSeconds > MAX_STOP_TIMEOUT_SECONDS) {
      throw new Error(
        `WorkerService: shutdownTimeoutSeconds must be 0..${MAX_STOP_TIMEOUT_SECONDS - STOP_TIMEOUT_MARGIN_SECONDS} (ECS stops a container at most ${MAX_STOP_TIMEOUT_SECONDS} s after SIGTERM; got ${props.shutdownTimeoutSeconds})`,
      );
    }
    this.mode = props.mode;

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.vpc,
      // The dashboard's running, desired and pending task counts come from Container Insights (the scaling alarms read
      // the scaling-signal Lambda's exact counts instead).
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    this.image = new DockerImageAsset(this, 'Image', {
      directory: REPO_ROOT,
      file: props.dockerfile ?? WORKER_DOCKERFILES[props.mode],
      platform: Platform.LINUX_AMD64,
      // Besides these, DockerImageAsset applies the repository's .dockerignore, an allow-list of what the
      // Dockerfiles copy: README, infra or API edits leave the image's hash, and the image, as they were.
      exclude: IMAGE_EXCLUDES,
      buildArgs: { ...props.buildArgs, ...imageBuildArgs(props.models ?? DEFAULT_WORKER_IMAGE_MODELS) },
    });
    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention });
    this.webhookSecret = new secretsmanager.Secret(this, 'WebhookSecret', {
      description: 'Revive webhook signing secret (REVIVE_WEBHOOK_SECRET): the base64 of a Standard Webhooks key; receivers use whsec_<value>',
      // Letters and digits only (punctuation, + and / among it, excluded), and a multiple of 4 long: any such string is
      // canonical base64, here of a 36-byte key, so the value is the base64 part of a `whsec_` secret as it stands
      // (Secrets Manager cannot add the prefix; the worker and the Standard Webhooks libraries take it either way).
      // A change to these settings makes CloudFormation generate a new value on update: receivers would refuse every
      // webhook until they are given it.
      generateSecretString: { passwordLength: WEBHOOK_SECRET_CHARS, excludePunctuation: true },
    });
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Revive worker: no inbound; outbound for AWS APIs, URL sources and webhooks',
      allowAllOutbound: true,
    });

    const containerOptions: ecs.ContainerDefinitionOptions = {
      image: ecs.ContainerImage.fromDockerImageAsset(this.image),
      essential: true,
      environment: { ...props.environment },
      secrets: { REVIVE_WEBHOOK_SECRET: ecs.Secret.fromSecretsManager(this.webhookSecret) },
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'worker', mode: ecs.AwsLogDriverMode.NON_BLOCKING }),
      stopTimeout: Duration.seconds(stopTimeoutSeconds),
      healthCheck: {
        command: [...WORKER_HEALTHCHECK_COMMAND],
        interval: Duration.seconds(HEALTHCHECK_INTERVAL_SECONDS),
        timeout: Duration.seconds(HEALTHCHECK_TIMEOUT_SECONDS),
        retries: HEALTHCHECK_RETRIES,
        startPeriod: Duration.seconds(HEALTHCHECK_START_PERIOD_SECONDS),
      },
      readonlyRootFilesystem: false,
      // An init process reaps the health-check processes ECS starts every interval, and forwards SIGTERM.
      linuxParameters: new ecs.LinuxParameters(this, 'Linux', { initProcessEnabled: true }),
    };
    const cpuUnits = Math.round(props.vcpu * 1024);

    if (props.mode === 'cpu') {
      const taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
        cpu: cpuUnits,
        memoryLimitMiB: props.memoryMiB,
        ephemeralStorageGiB: FARGATE_EPHEMERAL_STORAGE_GIB,
        runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
      });
      this.taskDefinition = taskDefinition;
      this.container = taskDefinition.addContainer('worker', containerOptions);
      this.service = new ecs.FargateService(this, 'Service', {
        cluster: this.cluster,
        taskDefinition,
        // No DesiredCount in the template: on update CloudFormation keeps the count autoscaling set (a deploy would
        // otherwise reset it to minTasks); minTasks lives in the scalable target's MinCapacity.
        desiredCount: undefined,
        minHealthyPercent: 100,
        maxHealthyPercent: 200,
        assignPublicIp: props.assignPublicIp,
        vpcSubnets: props.subnets,
        securityGroups: [this.securityGroup],
        circuitBreaker: { rollback: true },
      });
    } else {
      const instanceRole = new iam.Role(this, 'GpuInstanceRole', {
        assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
        description: 'Revive GPU container instances (ECS agent)',
      });
      const warmPoolSize = props.gpuWarmPoolSize ?? 0;
      const userData = ec2.UserData.forLinux();
      const launchTemplate = new ec2.LaunchTemplate(this, 'GpuLaunchTemplate', {
        // The Amazon Linux 2023 ECS GPU AMI (AL2's ends 2026-06-30). Its NVIDIA driver (580 series in the 2026-11 AMIs)
        // runs Dockerfile.gpu's CUDA 12.8 natively; AL2's 535 driver (CUDA 12.2) needed forward compatibility.
        machineImage: ecs.EcsOptimizedImage.amazonLinux2023(ecs.AmiHardwareType.GPU),
        instanceType: new ec2.InstanceType(props.gpuInstanceType ?? DEFAULT_GPU_INSTANCE_TYPE),
        role: instanceRole.withoutPolicyUpdates(),
        securityGroup: this.securityGroup,
        userData,
        requireImdsv2: true,
        // One hop: the agent on the host reaches IMDS, bridge-mode containers (one hop further) do not, so a task
        // only ever has its task role's credentials, never the instance role's.
        httpPutResponseHopLimit: 1,
        // The warm pool's boot script reads its group's name from the instance's tags.
        ...(warmPoolSize > 0 ? { instanceMetadataTags: true } : {}),
        associatePublicIpAddress: props.assignPublicIp,
        blockDevices: [
          {
            deviceName: '/dev/xvda',
            volume: ec2.BlockDeviceVolume.ebs(GPU_ROOT_VOLUME_GIB, { encrypted: true, volumeType: ec2.EbsDeviceVolumeType.GP3 }),
          },
        ],
      });
      const autoScalingGroup = new autoscaling.AutoScalingGroup(this, 'GpuInstances', {
        vpc: props.vpc,
        vpcSubnets: props.subnets,
        launchTemplate,
        // The capacity provider scales the group, one GPU task per instance. A deploy at maxTasks starts every new task
        // before stopping its old one (GPU_DEPLOY_MAX_HEALTHY_PERCENT), so the group must be able to hold both for the
        // while; the scalable target still caps the service at maxTasks, so the extra room is used only by deploys.
        minCapacity: 0,
        maxCapacity: gpuGroupMaxInstances(props.maxTasks),
      });
      const capacityProvider = new ecs.AsgCapacityProvider(this, 'GpuCapacityProvider', {
        autoScalingGroup,
        enableManagedScaling: true,
        enableManagedTerminationProtection: true,
        enableManagedDraining: true,
        targetCapacityPercent: 100,
        machineImageType: ecs.MachineImageType.AMAZON_LINUX_2,
      });
      this.cluster.addAsgCapacityProvider(capacityProvider);
      if (warmPoolSize > 0) this.warmPool = addGpuWarmPool({ autoScalingGroup, userData, size: warmPoolSize, imageUri: this.image.imageUri });
      this.autoScalingGroup = autoScalingGroup;
      this.capacityProvider = capacityProvider;
      this.gpuInstanceRole = instanceRole;
      // Created after the group and its capacity provider, so deleted before them (see GpuInstanceRelease).
      this.gpuInstanceRelease = new GpuInstanceRelease(this, 'GpuInstanceRelease', { autoScalingGroup, logRetention: props.logRetention });
      this.gpuInstanceRelease.node.addDependency(autoScalingGroup, capacityProvider);

      // Bridge mode: the task shares the instance's (public) address, so it reaches AWS and the internet
      // without a NAT gateway; awsvpc tasks on EC2 never get a public IP.
      const taskDefinition = new ecs.Ec2TaskDefinition(this, 'Task', { networkMode: ecs.NetworkMode.BRIDGE });
      this.taskDefinition = taskDefinition;
      this.container = taskDefinition.addContainer('worker', {
        ...containerOptions,
        // Fargate always sets AWS_REGION; the ECS agent on EC2 does not on every version, and the SDK then has no region.
        environment: { ...containerOptions.environment, AWS_REGION: Stack.of(this).region },
        gpuCount: 1,
        cpu: cpuUnits,
        memoryReservationMiB: props.memoryMiB,
      });
      this.service = new ecs.Ec2Service(this, 'Service', {
        cluster: this.cluster,
        taskDefinition,
        desiredCount: undefined,
        // A deploy starts each new task before it stops an old one: the new task needs a GPU of its own, which the
        // capacity provider's managed scaling adds as an instance; at most twice the tasks for the deploy's length.
        minHealthyPercent: GPU_DEPLOY_MIN_HEALTHY_PERCENT,
        maxHealthyPercent: GPU_DEPLOY_MAX_HEALTHY_PERCENT,
        capacityProviderStrategies: [{ capacityProvider: capacityProvider.capacityProviderName, weight: 1 }],
        circuitBreaker: { rollback: true },
      });
      // The strategy names the capacity provider, but only the cluster's ClusterCapacityProviderAssociations makes it
      // usable: create the service after it, delete it before it. CDK adds that resource under the cluster in an
      // aspect at synth time, so the dependency is on the cluster construct, which covers its children then.
      this.service.node.addDependency(this.cluster);
      // Deleted before the release runs: no task is left to keep an instance protected.
      this.service.node.addDependency(this.gpuInstanceRelease);
    }

    this.scalableTarget = new appscaling.ScalableTarget(this, 'TaskCount', {
      serviceNamespace: appscaling.ServiceNamespace.ECS,
      scalableDimension: 'ecs:service:DesiredCount',
      resourceId: `service/${this.cluster.clusterName}/${this.service.serviceName}`,
      minCapacity: minTasks,
      maxCapacity: props.maxTasks,
    });

    this.scaling = new QueueDepthScaling(this, 'Scaling', {
      scalableTarget: this.scalableTarget,
      queue: props.queue,
      cluster: this.cluster,
      service: this.service,
      mode: props.mode,
      minTasks,
      maxTasks: props.maxTasks,
      secondsPerJob: props.secondsPerJob,
      drainSeconds: props.drainSeconds,
      senderServices: props.senderServices,
      desiredTaskCount: this.taskCountMetric('DesiredTaskCount', 'Maximum'),
      concurrency: Number(props.environment.REVIVE_CONCURRENCY ?? DEFAULT_SIGNAL_CONCURRENCY),
      logRetention: props.logRetention,
      ...(props.scalingCooldownSeconds !== undefined ? { cooldownSeconds: props.scalingCooldownSeconds } : {}),
      ...(props.scaleInEvaluationPeriods !== undefined ? { scaleInEvaluationPeriods: props.scaleInEvaluationPeriods } : {}),
      scaleToZeroQuietMinutes: props.scaleToZeroQuietMinutes ?? DEFAULT_SCALE_TO_ZERO_QUIET_MINUTES[props.mode],
      // The window the tasks hold is the one their environment gives them (the worker's default, 0, when unset).
      idleProtectionSeconds: Number(props.environment.REVIVE_IDLE_PROTECTION_SECONDS ?? DEFAULT_WORKER_IDLE_PROTECTION_SECONDS),
    });
  }

  /** A task count of this service from Container Insights (RunningTaskCount, DesiredTaskCount, PendingTaskCount). */
  taskCountMetric(metricName: 'RunningTaskCount' | 'DesiredTaskCount' | 'PendingTaskCount', statistic = 'Average'): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: CONTAINER_INSIGHTS_NAMESPACE,
      metricName,
      dimensionsMap: { ClusterName: this.cluster.clusterName, ServiceName: this.service.serviceName },
      statistic,
      period: Duration.seconds(SCALING_PERIOD_SECONDS),
    });
  }
}

/** The Dockerfiles' build arguments for the models (REVIVE_BG_UPSAMPLER only when there is one). */
export function imageBuildArgs(models: WorkerImageModels): Record<string, string> {
  return {
    REVIVE_RESTORER: models.restorer,
    REVIVE_DETECTOR: models.detector,
    ...(models.bgUpsampler === undefined ? {} : { REVIVE_BG_UPSAMPLER: models.bgUpsampler }),
  };
}
