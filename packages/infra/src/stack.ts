import type { ApiEnv, WorkerEnv } from '@revive/contract';
import { apiServiceName, jobMemoryBudgetMiB } from '@revive/contract';
import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { JobApi } from './api.js';
import { DEFAULT_API_5XX_ALARM_THRESHOLD, type ReviveConfig } from './config.js';
import { grantLeastPrivilege } from './grants.js';
import { DeadLetterConsumer } from './dead-letters.js';
import { Monitoring } from './monitoring.js';
import { WebhookRetries } from './webhook-retries.js';
import { acknowledgeNagFindings } from './nag.js';
import { JobQueue } from './queue.js';
import { JobStorage } from './storage.js';
import { WorkerService } from './worker.js';

export interface ReviveStackProps extends StackProps {
  /** Validated context settings (loadReviveConfig). */
  readonly config: ReviveConfig;
  /** @default RemovalPolicy.RETAIN for the bucket and table */
  readonly dataRemovalPolicy?: RemovalPolicy;
}

/** Environment variables set as strings; the keys are checked against the contract's env schemas. */
type EnvOf<T> = { readonly [K in keyof T]?: string };

/** Everything Revive deploys: storage, queue, API, worker, alarms and dashboard. */
export class ReviveStack extends Stack {
  public readonly vpc: ec2.Vpc;
  public readonly storage: JobStorage;
  public readonly jobQueue: JobQueue;
  public readonly deadLetters: DeadLetterConsumer;
  public readonly webhookRetries: WebhookRetries;
  public readonly api: JobApi;
  public readonly worker: WorkerService;
  public readonly monitoring: Monitoring;

  constructor(scope: Construct, id: string, props: ReviveStackProps) {
    super(scope, id, props);
    const c = props.config;
    const logRetention = c.logRetentionDays as logs.RetentionDays;
    const privateTasks = c.natGateways > 0;

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: c.maxAzs,
      natGateways: c.natGateways,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
        ...(privateTasks ? [{ name: 'workers', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 }] : []),
      ],
      // Keep S3 and DynamoDB traffic (every job's bytes) off the internet path and free of NAT charges.
      gatewayEndpoints: {
        S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
        DynamoDB: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
      },
      flowLogs: {
        // Rejected traffic only: the workers take no inbound connections, so that is what is worth keeping.
        rejected: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(new logs.LogGroup(this, 'VpcFlowLogs', { retention: logRetention })),
          trafficType: ec2.FlowLogTrafficType.REJECT,
        },
      },
    });

    this.storage = new JobStorage(this, 'Storage', {
      uploadExpiryDays: c.uploadExpiryDays,
      resultExpiryDays: c.resultExpiryDays,
      corsAllowedOrigins: c.corsAllowedOrigins,
      removalPolicy: props.dataRemovalPolicy ?? RemovalPolicy.RETAIN,
      ...(c.tableWarmWritesPerSecond !== undefined ? { warmWritesPerSecond: c.tableWarmWritesPerSecond } : {}),
    });
    this.jobQueue = new JobQueue(this, 'Jobs');
    const names = {
      REVIVE_QUEUE_URL: this.jobQueue.queue.queueUrl,
      REVIVE_TABLE_NAME: this.storage.table.tableName,
      REVIVE_BUCKET_NAME: this.storage.bucket.bucketName,
      REVIVE_JOB_TTL_DAYS: String(c.jobTtlDays),
    };

    // What the image bakes and the worker loads; the API refuses jobs that ask for anything else.
    const models = { restorer: c.restorer, detector: c.detector, ...(c.bgUpsampler === undefined ? {} : { bgUpsampler: c.bgUpsampler }) };
    this.api = new JobApi(this, 'Api', {
      jwtIssuer: c.jwtIssuer,
      jwtAudience: c.jwtAudience,
      corsAllowedOrigins: c.corsAllowedOrigins,
      throttleRatePerSecond: c.apiThrottleRatePerSecond,
      throttleBurst: c.apiThrottleBurst,
      logRetention,
      environment: names satisfies EnvOf<ApiEnv>,
      workerModels: models,
    });

    this.worker = new WorkerService(this, 'Worker', {
      mode: c.workerMode,
      vpc: this.vpc,
      subnets: { subnetType: privateTasks ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PUBLIC },
      assignPublicIp: !privateTasks,
      queue: this.jobQueue.queue,
      environment: {
        ...names,
        REVIVE_RESTORER: c.restorer,
        REVIVE_DETECTOR: c.detector,
        ...(c.bgUpsampler === undefined ? {} : { REVIVE_BG_UPSAMPLER: c.bgUpsampler }),
        REVIVE_DEVICE: c.workerMode === 'gpu' ? 'cuda' : 'cpu',
        REVIVE_VISIBILITY_TIMEOUT_SECONDS: String(this.jobQueue.visibilityTimeoutSeconds),
        REVIVE_MAX_RECEIVE_COUNT: String(this.jobQueue.maxReceiveCount),
        REVIVE_SHUTDOWN_TIMEOUT_SECONDS: String(c.shutdownTimeoutSeconds),
        REVIVE_CONCURRENCY: String(c.workerConcurrency),
        // The rent-or-buy window each task holds itself; the scaling signal reads it from here (WorkerService).
        REVIVE_IDLE_PROTECTION_SECONDS: String(c.idleProtectionSeconds),
        // Each running job's share of the task's memory after the baseline: bigger jobs fail IMAGE_TOO_LARGE up front.
        REVIVE_JOB_MEMORY_MIB: String(jobMemoryBudgetMiB(c.workerMemoryMiB, c.workerConcurrency)),
      } satisfies EnvOf<WorkerEnv>,
      vcpu: c.workerVcpu,
      memoryMiB: c.workerMemoryMiB,
      models,
      // Config requires the checksum in gpu mode; the CPU image has no such build argument.
      ...(c.workerMode === 'gpu' && c.gpuProviderSha256 !== undefined ? { buildArgs: { ORT_GPU_NUPKG_SHA256: c.gpuProviderSha256 } } : {}),
      ...(c.workerMode === 'gpu' ? { gpuInstanceType: c.gpuInstanceType } : {}),
      minTasks: c.minTasks,
      maxTasks: c.maxTasks,
      secondsPerJob: c.secondsPerJob,
      drainSeconds: c.drainSeconds,
      senderServices: [apiServiceName('create-job')],
      scalingCooldownSeconds: c.scalingCooldownSeconds,
      scaleInEvaluationPeriods: c.scaleInEvaluationPeriods,
      scaleToZeroQuietMinutes: c.scaleToZeroQuietMinutes,
      ...(c.workerMode === 'gpu' ? { gpuWarmPoolSize: c.gpuWarmPoolSize } : {}),
      shutdownTimeoutSeconds: c.shutdownTimeoutSeconds,
      logRetention,
    });

    // Jobs whose message is dead-lettered end FAILED (DEAD_LETTERED) instead of waiting forever.
    this.deadLetters = new DeadLetterConsumer(this, 'DeadLetters', {
      deadLetterQueue: this.jobQueue.deadLetterQueue,
      tableName: this.storage.table.tableName,
      jobTtlDays: c.jobTtlDays,
      webhookSecret: this.worker.webhookSecret,
      logRetention,
    });
    // Webhooks the quick attempts left undelivered are retried from their own queue (not the job queue: scaling never sees it).
    this.webhookRetries = new WebhookRetries(this, 'WebhookRetries', {
      tableName: this.storage.table.tableName,
      bucketName: this.storage.bucket.bucketName,
      webhookSecret: this.worker.webhookSecret,
      logRetention,
    });
    this.worker.container.addEnvironment('REVIVE_WEBHOOK_RETRY_QUEUE_URL' satisfies keyof WorkerEnv, this.webhookRetries.queue.queueUrl);
    this.deadLetters.function.addEnvironment('REVIVE_WEBHOOK_RETRY_QUEUE_URL', this.webhookRetries.queue.queueUrl);
    grantLeastPrivilege({ storage: this.storage, queue: this.jobQueue, api: this.api, worker: this.worker, deadLetters: this.deadLetters, webhookRetries: this.webhookRetries });

    this.monitoring = new Monitoring(this, 'Monitoring', {
      queue: this.jobQueue,
      worker: this.worker,
      api: this.api,
      oldestMessageAlarmSeconds: c.oldestMessageAlarmSeconds,
      fleetJobsPerSecond: c.maxTasks / c.secondsPerJob,
      drainTimeAlarmSeconds: c.drainTimeAlarmSeconds,
      api5xxThreshold: DEFAULT_API_5XX_ALARM_THRESHOLD,
      ...(c.alarmEmail !== undefined ? { alarmEmail: c.alarmEmail } : {}),
      logRetention,
    });

    this.webhookRetries.deadLetterAlarm.addAlarmAction(new SnsAction(this.monitoring.alarmTopic));
    this.webhookRetries.deadLetterAlarm.addOkAction(new SnsAction(this.monitoring.alarmTopic));

    acknowledgeNagFindings(this);

    new CfnOutput(this, 'ApiUrl', { value: this.api.url });
    new CfnOutput(this, 'BucketName', { value: this.storage.bucket.bucketName });
    new CfnOutput(this, 'QueueUrl', { value: this.jobQueue.queue.queueUrl });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.monitoring.alarmTopic.topicArn });
  }
}
