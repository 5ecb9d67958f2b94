import { BUCKET_PREFIXES, TABLE_SCHEMA } from '@revive/contract';
import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { JobApi } from './api.js';
import type { DeadLetterConsumer } from './dead-letters.js';
import type { JobQueue } from './queue.js';
import type { JobStorage } from './storage.js';
import type { WebhookRetries } from './webhook-retries.js';
import type { WorkerService } from './worker.js';

/** What each role may do, per resource. The only place the stack grants data access. */
export interface LeastPrivilegeTargets {
  readonly storage: JobStorage;
  readonly queue: JobQueue;
  readonly api: JobApi;
  readonly worker: WorkerService;
  readonly deadLetters?: DeadLetterConsumer;
  readonly webhookRetries?: WebhookRetries;
}

/**
 * Grants every API handler and the worker exactly the actions it calls, on the narrowest resource
 * (object prefixes, the tenant and pending-enqueue indexes). No wildcard actions.
 *
 * Note: only create-job gets s3:ListBucket, so that its HeadObject of a missing upload answers 404 (refused as
 * UPLOAD_NOT_FOUND) rather than 403 (a 5xx); for every other role a missing key answers 403.
 */
export function grantLeastPrivilege({ storage, queue, api, worker, deadLetters, webhookRetries }: LeastPrivilegeTargets): void {
  const { bucket, table } = storage;
  const uploads = bucket.arnForObjects(`${BUCKET_PREFIXES.uploads}*`);
  const results = bucket.arnForObjects(`${BUCKET_PREFIXES.results}*`);
  const segments = bucket.arnForObjects(`${BUCKET_PREFIXES.segments}*`);
  const tenantIndex = `${table.tableArn}/index/${TABLE_SCHEMA.tenantIndex.name}`;
  const pendingIndex = `${table.tableArn}/index/${TABLE_SCHEMA.pendingIndex.name}`;
  const allow = (sid: string, actions: string[], resources: string[]) =>
    new iam.PolicyStatement({ sid, effect: iam.Effect.ALLOW, actions, resources });
  const fns = api.functions;

  for (const name of Object.keys(fns) as (keyof typeof fns)[]) {
    fns[name].addToRolePolicy(
      allow('WriteOwnLogs', ['logs:CreateLogStream', 'logs:PutLogEvents'], [api.functionLogGroups[name].logGroupArn]),
    );
  }

  // Signing a presigned POST needs the permission the POST itself will use.
  fns['create-upload'].addToRolePolicy(allow('PresignUpload', ['s3:PutObject'], [uploads]));

  // A video's multipart upload: CreateMultipartUpload, the presigned UploadParts and CompleteMultipartUpload are all
  // authorized as s3:PutObject; complete reads the object's size (HeadObject is s3:GetObject) and deletes one over
  // the limit; abort is its own action. Re-signing parts checks that the upload is open with ListParts
  // (s3:ListMultipartUploadParts) and signs UploadParts, which need the s3:PutObject they will use.
  fns['create-multipart-upload'].addToRolePolicy(allow('StartVideoUpload', ['s3:PutObject'], [uploads]));
  fns['complete-multipart-upload'].addToRolePolicy(allow('CompleteVideoUpload', ['s3:PutObject', 's3:GetObject', 's3:DeleteObject'], [uploads]));
  fns['sign-multipart-upload-parts'].addToRolePolicy(allow('ResignVideoUpload', ['s3:ListMultipartUploadParts', 's3:PutObject'], [uploads]));
  fns['abort-multipart-upload'].addToRolePolicy(allow('AbortVideoUpload', ['s3:AbortMultipartUpload'], [uploads]));

  fns['create-job'].addToRolePolicy(allow('JobRecord', ['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'], [table.tableArn]));
  fns['create-job'].addToRolePolicy(allow('Enqueue', ['sqs:SendMessage'], [queue.queue.queueArn]));
  // A ranged GET of the upload's first 256 KiB before the job is created, for its header (size limits). Without
  // s3:ListBucket, S3 answers a GET of a missing key with 403, which the handler could only report as a 500; with
  // it, a 404 (UPLOAD_NOT_FOUND, a 4xx the client can act on). The cost: create-job's role may list the bucket, so it
  // could read every tenant's upload key names (not their contents). docs/deploy.md (Upgrades and deletion) says so.
  fns['create-job'].addToRolePolicy(allow('CheckUpload', ['s3:GetObject'], [uploads]));
  fns['create-job'].addToRolePolicy(allow('MissingUploadIs404', ['s3:ListBucket'], [bucket.bucketArn]));

  // POST /videos: as POST /jobs (its ranged GET reads the container's first bytes and, from Content-Range, the size).
  fns['create-video'].addToRolePolicy(allow('JobRecord', ['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'], [table.tableArn]));
  fns['create-video'].addToRolePolicy(allow('Enqueue', ['sqs:SendMessage'], [queue.queue.queueArn]));
  fns['create-video'].addToRolePolicy(allow('CheckUpload', ['s3:GetObject'], [uploads]));
  fns['create-video'].addToRolePolicy(allow('MissingUploadIs404', ['s3:ListBucket'], [bucket.bucketArn]));
  // POST /albums: the children's and the album's puts, the children's messages (SendMessageBatch is authorized as
  // sqs:SendMessage), each photo's first bytes.
  fns['create-album'].addToRolePolicy(allow('JobRecords', ['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'], [table.tableArn]));
  fns['create-album'].addToRolePolicy(allow('Enqueue', ['sqs:SendMessage'], [queue.queue.queueArn]));
  fns['create-album'].addToRolePolicy(allow('CheckUploads', ['s3:GetObject'], [uploads]));
  fns['create-album'].addToRolePolicy(allow('MissingUploadIs404', ['s3:ListBucket'], [bucket.bucketArn]));

  fns['list-children'].addToRolePolicy(allow('ReadJobs', ['dynamodb:GetItem', 'dynamodb:BatchGetItem'], [table.tableArn]));
  fns['list-children'].addToRolePolicy(allow('PresignResults', ['s3:GetObject'], [results]));

  fns['get-job'].addToRolePolicy(allow('ReadJob', ['dynamodb:GetItem'], [table.tableArn]));
  fns['get-job'].addToRolePolicy(allow('PresignResult', ['s3:GetObject'], [results]));

  fns['list-jobs'].addToRolePolicy(allow('ListTenantJobs', ['dynamodb:Query'], [tenantIndex]));
  // The page's records, for what the index does not project (an album's or a video's kind and progress).
  fns['list-jobs'].addToRolePolicy(allow('ReadListedJobs', ['dynamodb:BatchGetItem'], [table.tableArn]));
  // Each listed job that is done carries a presigned result URL (outputLinks), signed with this role.
  fns['list-jobs'].addToRolePolicy(allow('PresignResults', ['s3:GetObject'], [results]));

  fns['cancel-job'].addToRolePolicy(allow('CancelJob', ['dynamodb:GetItem', 'dynamodb:UpdateItem'], [table.tableArn]));

  // openapi: nothing.

  // The outbox sweeper reads the sparse pending index, re-reads each record, resends its message and clears the mark.
  fns['sweep-enqueue'].addToRolePolicy(allow('FindPendingEnqueue', ['dynamodb:Query'], [pendingIndex]));
  fns['sweep-enqueue'].addToRolePolicy(allow('SweepJobRecord', ['dynamodb:GetItem', 'dynamodb:UpdateItem'], [table.tableArn]));
  fns['sweep-enqueue'].addToRolePolicy(allow('Reenqueue', ['sqs:SendMessage'], [queue.queue.queueArn]));

  const task = worker.taskDefinition.taskRole;
  task.addToPrincipalPolicy(
    allow(
      'ConsumeQueue',
      ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'],
      [queue.queue.queueArn],
    ),
  );
  task.addToPrincipalPolicy(allow('ReadUploads', ['s3:GetObject'], [uploads]));
  // Large results go up in parts (lib-storage): s3:PutObject covers each part; a failed upload is aborted.
  task.addToPrincipalPolicy(allow('WriteResults', ['s3:PutObject', 's3:AbortMultipartUpload'], [results]));
  // The webhook body carries a presigned result URL, signed with the task role's credentials; an album's finisher
  // reads its photos' results into the ZIP.
  task.addToPrincipalPolicy(allow('PresignResults', ['s3:GetObject'], [results]));
  task.addToPrincipalPolicy(allow('UpdateJobs', ['dynamodb:GetItem', 'dynamodb:UpdateItem'], [table.tableArn]));
  // Parents: a child's end is counted in a transaction (TransactWriteItems is authorized as UpdateItem on each
  // item), an album's or video's children are read in batches, a video's segments are written as records, and the
  // last child (or the planner) sends the parent's and the segments' messages on the job queue.
  task.addToPrincipalPolicy(allow('ParentJobs', ['dynamodb:BatchGetItem', 'dynamodb:PutItem'], [table.tableArn]));
  task.addToPrincipalPolicy(allow('FanOutAndIn', ['sqs:SendMessage'], [queue.queue.queueArn]));
  // A video's restored segments wait under segments/ for the finisher, which reads and then deletes them.
  task.addToPrincipalPolicy(allow('Segments', ['s3:PutObject', 's3:GetObject', 's3:DeleteObject', 's3:AbortMultipartUpload'], [segments]));
  // Scale-in protection while jobs run: the ECS agent calls UpdateTaskProtection with the task role's credentials.
  // Task ids are only known at run time, so the grant stops at this cluster's tasks.
  task.addToPrincipalPolicy(allow('ProtectOwnTask', ['ecs:UpdateTaskProtection'], [clusterTasksArn(worker)]));
  // REVIVE_WEBHOOK_SECRET is injected by ECS at start, so only the execution role reads the secret
  // (ecs.Secret.fromSecretsManager grants that); the running worker needs no Secrets Manager access.

  // The scaling signal reads the job queue's two counts, the worker service's task counts and recent metric points,
  // and sets the service's desired count. Its metrics go out as EMF lines in its own log stream, so it needs no
  // cloudwatch:PutMetricData.
  const signal = worker.scaling.signalFunction;
  signal.addToRolePolicy(allow('WriteOwnLogs', ['logs:CreateLogStream', 'logs:PutLogEvents'], [worker.scaling.signalLogGroup.logGroupArn]));
  signal.addToRolePolicy(allow('ReadQueueDepth', ['sqs:GetQueueAttributes'], [queue.queue.queueArn]));
  signal.addToRolePolicy(allow('ReadTaskCounts', ['ecs:DescribeServices'], [worker.service.serviceArn]));
  signal.addToRolePolicy(allow('SetTaskCount', ['ecs:UpdateService'], [worker.service.serviceArn]));
  // GetMetricData supports no resource-level permissions.
  signal.addToRolePolicy(allow('ReadRecentPoints', ['cloudwatch:GetMetricData'], ['*']));

  const instanceRole = worker.gpuInstanceRole;
  if (instanceRole !== undefined) grantGpuInstances(worker, instanceRole, allow);

  if (deadLetters) {
    const fn = deadLetters.function;
    fn.addToRolePolicy(allow('WriteOwnLogs', ['logs:CreateLogStream', 'logs:PutLogEvents'], [deadLetters.logGroup.logGroupArn]));
    // The SQS event source polls the DLQ with the function's role.
    fn.addToRolePolicy(allow('ConsumeDeadLetters', ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'], [queue.deadLetterQueue.queueArn]));
    fn.addToRolePolicy(allow('FailDeadLetteredJobs', ['dynamodb:GetItem', 'dynamodb:UpdateItem'], [table.tableArn]));
    fn.addToRolePolicy(allow('ReadWebhookSecret', ['secretsmanager:GetSecretValue'], [worker.webhookSecret.secretArn]));
  }

  if (webhookRetries) {
    const retryQueue = webhookRetries.queue.queueArn;
    // A webhook the quick attempts left undelivered is scheduled on the retry queue by whoever sent it.
    task.addToPrincipalPolicy(allow('ScheduleWebhookRetries', ['sqs:SendMessage'], [retryQueue]));
    deadLetters?.function.addToRolePolicy(allow('ScheduleWebhookRetries', ['sqs:SendMessage'], [retryQueue]));
    const fn = webhookRetries.function;
    fn.addToRolePolicy(allow('WriteOwnLogs', ['logs:CreateLogStream', 'logs:PutLogEvents'], [webhookRetries.logGroup.logGroupArn]));
    // The SQS event source polls the queue with the function's role; the function itself re-sends a message that is
    // not due yet (waits past SQS's 15-minute delay) and sends the next retry.
    fn.addToRolePolicy(allow('ConsumeWebhookRetries', ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'], [retryQueue]));
    fn.addToRolePolicy(allow('ScheduleWebhookRetries', ['sqs:SendMessage'], [retryQueue]));
    // Reads the job (the body is the job as GET /jobs/{id} shows it) and records each attempt on it.
    fn.addToRolePolicy(allow('RecordWebhookDelivery', ['dynamodb:GetItem', 'dynamodb:UpdateItem'], [table.tableArn]));
    // A SUCCEEDED job's body carries a presigned result URL, signed now (the worker's has expired by a late retry).
    fn.addToRolePolicy(allow('PresignResults', ['s3:GetObject'], [results]));
    fn.addToRolePolicy(allow('ReadWebhookSecret', ['secretsmanager:GetSecretValue'], [worker.webhookSecret.secretArn]));
  }
}

/** Construct id (under the worker) of the instance role's policy for the warm pool's launch hook. */
export const GPU_WARM_POOL_BOOT_POLICY_ID = 'GpuWarmPoolBootPolicy';

type Allow = (sid: string, actions: string[], resources: string[]) => iam.PolicyStatement;

/**
 * The GPU instances' role: what the ECS agent calls (the statements CDK's capacity provider would attach, but with
 * logs limited to the worker's log group instead of every log group), the warm pool's image pull and launch hook, and
 * the delete-time release of the group's instances.
 */
function grantGpuInstances(worker: WorkerService, instanceRole: iam.Role, allow: Allow): void {
  const clusterArn = worker.cluster.clusterArn;
  instanceRole.addToPrincipalPolicy(
    allow('EcsAgentCluster', ['ecs:DeregisterContainerInstance', 'ecs:RegisterContainerInstance', 'ecs:Submit*'], [clusterArn]),
  );
  // Container instance ARNs exist only once registered: the condition keeps them to this cluster.
  instanceRole.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'EcsAgentPoll',
      actions: ['ecs:Poll', 'ecs:StartTelemetrySession'],
      resources: ['*'],
      conditions: { ArnEquals: { 'ecs:cluster': clusterArn } },
    }),
  );
  // Neither action supports resource-level permissions.
  instanceRole.addToPrincipalPolicy(allow('EcsAgentEndpoints', ['ecs:DiscoverPollEndpoint', 'ecr:GetAuthorizationToken'], ['*']));
  // The only containers on these instances are the worker's, and they log to its group.
  instanceRole.addToPrincipalPolicy(allow('WorkerLogs', ['logs:CreateLogStream', 'logs:PutLogEvents'], [worker.logGroup.logGroupArn]));
  const group = worker.autoScalingGroup;
  if (worker.warmPool !== undefined && group !== undefined) {
    // An instance entering the warm pool pulls the worker image, then completes the launch hook (scaling.ts).
    worker.image.repository.grantPull(instanceRole);
    // A policy of its own, not the role's default one: the launch template waits for the default policy, and this
    // statement names the group, which is created from the launch template. The warm pool waits for it instead.
    const boot = new iam.Policy(worker, GPU_WARM_POOL_BOOT_POLICY_ID, {
      roles: [instanceRole],
      statements: [allow('CompleteWarmPoolBoot', ['autoscaling:CompleteLifecycleAction'], [group.autoScalingGroupArn])],
    });
    worker.warmPool.node.addDependency(boot);
    // The pull's rights (ECR) are in the role's default policy, which the launch template does not wait for
    // (withoutPolicyUpdates): the pool's first instances must not boot before it, or their pre-pull is lost.
    worker.warmPool.node.addDependency(instanceRole);
  }
  const release = worker.gpuInstanceRelease;
  if (release !== undefined && group !== undefined) {
    release.role.addToPrincipalPolicy(allow('WriteOwnLogs', ['logs:CreateLogStream', 'logs:PutLogEvents'], [release.logGroup.logGroupArn]));
    release.providerRole.addToPrincipalPolicy(allow('WriteOwnLogs', ['logs:CreateLogStream', 'logs:PutLogEvents'], [release.providerLogGroup.logGroupArn]));
    // DescribeAutoScalingGroups supports no resource-level permissions.
    release.role.addToPrincipalPolicy(allow('FindGroupInstances', ['autoscaling:DescribeAutoScalingGroups'], ['*']));
    release.role.addToPrincipalPolicy(
      allow('ReleaseGroupInstances', ['autoscaling:SetInstanceProtection', 'autoscaling:UpdateAutoScalingGroup'], [group.autoScalingGroupArn]),
    );
  }
}

/** `arn:${partition}:ecs:${region}:${account}:task/${clusterName}/*`: every task of the worker's cluster. */
export function clusterTasksArn(worker: WorkerService): string {
  return Stack.of(worker).formatArn({
    service: 'ecs',
    resource: 'task',
    resourceName: `${worker.cluster.clusterName}/*`,
    arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
  });
}
