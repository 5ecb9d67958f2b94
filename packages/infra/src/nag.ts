import { BUCKET_PREFIXES } from '@revive/contract';
import { Stack, Validations } from 'aws-cdk-lib';
import type { CfnResource } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';
import { clusterTasksArn, GPU_WARM_POOL_BOOT_POLICY_ID } from './grants.js';
import type { ReviveStack } from './stack.js';

/** cdk-nag v3 reports under this plugin namespace; acknowledgements carry it as a prefix. */
const PACK = 'AwsSolutions::';

function roleOf(fn: lambda.IFunction): IConstruct {
  if (fn.role === undefined) throw new Error(`${fn.node.path} has no role`);
  return fn.role;
}

/**
 * An IAM resource as cdk-nag writes it in a finding: literals as they are, `Ref`s as `<Name>`, `Fn::GetAtt`s as
 * `<LogicalId.Attribute>`, `Fn::Join`s joined.
 */
export function nagResourceString(scope: IConstruct, value: string): string {
  const render = (part: unknown): string => {
    if (typeof part === 'string') return part;
    const obj = (part ?? {}) as Record<string, unknown>;
    if (typeof obj.Ref === 'string') return `<${obj.Ref}>`;
    if (Array.isArray(obj['Fn::GetAtt'])) return `<${(obj['Fn::GetAtt'] as string[]).join('.')}>`;
    if (Array.isArray(obj['Fn::Join'])) {
      const [separator, parts] = obj['Fn::Join'] as [string, unknown[]];
      return parts.map(render).join(separator);
    }
    throw new Error(`nagResourceString: cannot render ${JSON.stringify(part)}`);
  };
  return render(Stack.of(scope).resolve(value));
}

function ack(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `${PACK}${id}`, reason });
}

/**
 * Acknowledges the cdk-nag findings Revive accepts, each on the narrowest construct and, for wildcard
 * resources, on the exact resource string (RuleId[Resource::...]), with its reason. Everything else is fixed.
 */
export function acknowledgeNagFindings(stack: ReviveStack): void {
  const bucketId = Stack.of(stack).resolve((stack.storage.bucket.node.defaultChild as CfnResource).logicalId) as string;
  const objects = (prefix: string) => `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${prefix}*]`;
  const prefixReason = (what: string) =>
    `${what}: object keys carry the tenant and job ids, so the grant is scoped to the key prefix, the narrowest ARN known at deploy time.`;

  const fns = stack.api.functions;
  ack(roleOf(fns['create-upload']), objects(BUCKET_PREFIXES.uploads), prefixReason('Presigned uploads to uploads/'));
  ack(roleOf(fns['create-multipart-upload']), objects(BUCKET_PREFIXES.uploads), prefixReason('A video\'s multipart upload, and its presigned parts, to uploads/'));
  ack(roleOf(fns['complete-multipart-upload']), objects(BUCKET_PREFIXES.uploads), prefixReason('Completing the tenant\'s video upload in uploads/'));
  ack(roleOf(fns['sign-multipart-upload-parts']), objects(BUCKET_PREFIXES.uploads), prefixReason('Listing and presigning again the parts of the tenant\'s video upload in uploads/'));
  ack(roleOf(fns['abort-multipart-upload']), objects(BUCKET_PREFIXES.uploads), prefixReason('Aborting the tenant\'s video upload in uploads/'));
  ack(roleOf(fns['create-job']), objects(BUCKET_PREFIXES.uploads), prefixReason('HeadObject of the tenant\'s upload'));
  ack(roleOf(fns['create-video']), objects(BUCKET_PREFIXES.uploads), prefixReason('The first bytes and size of the tenant\'s video upload'));
  ack(roleOf(fns['create-album']), objects(BUCKET_PREFIXES.uploads), prefixReason('The first bytes of the tenant\'s photo uploads'));
  ack(roleOf(fns['list-children']), objects(BUCKET_PREFIXES.results), prefixReason('Presigned GETs of the listed children\'s results'));
  ack(roleOf(fns['get-job']), objects(BUCKET_PREFIXES.results), prefixReason('Presigned GET of the job\'s result'));
  ack(roleOf(fns['list-jobs']), objects(BUCKET_PREFIXES.results), prefixReason('Presigned GETs of the listed jobs\' results'));
  ack(stack.worker.taskDefinition.taskRole, objects(BUCKET_PREFIXES.uploads), prefixReason('The worker reads uploads'));
  ack(stack.worker.taskDefinition.taskRole, objects(BUCKET_PREFIXES.results), prefixReason('The worker writes results'));
  ack(stack.worker.taskDefinition.taskRole, objects(BUCKET_PREFIXES.segments), prefixReason('The worker writes, reads and deletes a video\'s segments'));
  ack(roleOf(stack.webhookRetries.function), objects(BUCKET_PREFIXES.results), prefixReason('Presigned GET of the job\'s result in a retried webhook'));
  // Rendered from the granted ARN itself: with a concrete env (what the CLI always gives) the region and account are
  // literals, without one they are <AWS::Region> and <AWS::AccountId>; a hand-written string matches only one of them.
  ack(
    stack.worker.taskDefinition.taskRole,
    `AwsSolutions-IAM5[Resource::${nagResourceString(stack, clusterTasksArn(stack.worker))}]`,
    'ecs:UpdateTaskProtection (scale-in protection while jobs run) for the worker\'s own task, whose id exists only at run time; the wildcard is limited to the tasks of this cluster.',
  );

  ack(
    roleOf(stack.worker.scaling.signalFunction),
    'AwsSolutions-IAM5[Resource::*]',
    'cloudwatch:GetMetricData (the scaling signal reads its own recent points, SQS NumberOfMessagesSent and the senders\' EnqueuedWork* sums) accepts only Resource "*"; it reads metrics, nothing else.',
  );

  const releaseFunctions = stack.worker.gpuInstanceRelease === undefined ? [] : [stack.worker.gpuInstanceRelease.function];
  for (const fn of [...Object.values(fns), stack.deadLetters.function, stack.webhookRetries.function, stack.worker.scaling.signalFunction, ...releaseFunctions]) {
    ack(fn, 'AwsSolutions-L1', 'Revive targets nodejs22.x on purpose (the worker image and the tests run Node 22); move to the next LTS with the whole repo.');
  }

  const openapiRoute = stack.api.httpApi.node.findChild('GET--openapi.json');
  ack(openapiRoute, 'AwsSolutions-APIG4', 'GET /openapi.json is the public API description; it returns a static document and touches no data.');

  ack(
    stack.worker.webhookSecret,
    'AwsSolutions-SMG4',
    'Webhook receivers verify signatures with this key; rotating it needs a coordinated hand-over with every receiver, done manually (put a new value, tell receivers).',
  );
  ack(
    stack.worker.taskDefinition,
    'AwsSolutions-ECS2',
    'The environment holds only resource names and tuning values; the one secret (REVIVE_WEBHOOK_SECRET) is injected from Secrets Manager.',
  );
  const executionRole = stack.worker.taskDefinition.executionRole;
  if (executionRole !== undefined) {
    ack(executionRole, 'AwsSolutions-IAM5[Resource::*]', 'ecr:GetAuthorizationToken only accepts Resource "*" (the CDK-generated image pull grant); the repository actions are scoped.');
  }
  const { autoScalingGroup, gpuInstanceRole: instanceRole } = stack.worker;
  if (autoScalingGroup !== undefined && instanceRole !== undefined) {
    const agent = 'The ECS container agent policy CDK attaches to capacity-provider instances';
    ack(instanceRole, 'AwsSolutions-IAM5[Action::ecs:Submit*]', `${agent}: ecs:Submit* reports container and task state for this cluster's tasks.`);
    ack(
      instanceRole,
      'AwsSolutions-IAM5[Resource::*]',
      'The ECS container agent on the GPU instances (and the warm pool\'s image pre-pull): ecs:DiscoverPollEndpoint and ecr:GetAuthorizationToken accept only Resource "*"; ecs:Poll and ecs:StartTelemetrySession act on container instances that exist only once registered, and an ecs:cluster condition keeps them to this cluster. Logs are granted on the worker\'s log group only (grants.ts).',
    );
    // An Auto Scaling group's ARN carries an id assigned at creation, which CloudFormation does not return.
    const groupArn = `AwsSolutions-IAM5[Resource::${nagResourceString(stack, autoScalingGroup.autoScalingGroupArn)}]`;
    const groupReason = (what: string) =>
      `${what} on this stack's GPU Auto Scaling group, by name; the ARN's wildcard stands only for the group id that EC2 Auto Scaling assigns at creation.`;
    const bootPolicy = stack.worker.node.tryFindChild(GPU_WARM_POOL_BOOT_POLICY_ID);
    if (bootPolicy !== undefined) {
      ack(bootPolicy, groupArn, groupReason('autoscaling:CompleteLifecycleAction (the warm-pool boot script ends its launch hook)'));
    }
    const release = stack.worker.gpuInstanceRelease;
    if (release !== undefined) {
      ack(release.role, groupArn, groupReason('autoscaling:SetInstanceProtection and UpdateAutoScalingGroup (the delete-time release of the instances)'));
      ack(release.role, 'AwsSolutions-IAM5[Resource::*]', 'autoscaling:DescribeAutoScalingGroups (lists the GPU group\'s instances at stack delete) accepts only Resource "*".');
      ack(
        release.providerRole,
        `AwsSolutions-IAM5[Resource::${nagResourceString(stack, `${release.function.functionArn}:*`)}]`,
        'The custom resource framework invokes the release function only; CDK\'s grantInvoke adds the function\'s versions and aliases (":*") to its ARN.',
      );
    }
    ack(
      autoScalingGroup,
      'AwsSolutions-AS3',
      'The ECS capacity provider scales this group to and from zero with every burst of jobs; instance events would page for normal operation. Failures surface through the queue-age and health-check alarms.',
    );
  }
  ack(
    stack.storage.accessLogsBucket,
    'AwsSolutions-S1',
    'This is the server access log bucket of the job bucket; logging it into itself (or another bucket) adds nothing.',
  );
}
