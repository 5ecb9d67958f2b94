import { join } from 'node:path';
import { CustomResource, Duration } from 'aws-cdk-lib';
import type * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { putLocalEsbuildOnPath, LAMBDA_BUNDLING } from './esbuild.js';
import { REPO_ROOT } from './paths.js';

/** A few Auto Scaling calls; the framework retries nothing, so this only bounds a slow API. @default 120 */
export const GPU_RELEASE_TIMEOUT_SECONDS = 120;

export interface GpuInstanceReleaseProps {
  /** The GPU group whose instances the capacity provider protects from scale-in. */
  readonly autoScalingGroup: autoscaling.AutoScalingGroup;
  readonly logRetention: logs.RetentionDays;
}

/**
 * Lets `cdk destroy` finish in gpu mode. The capacity provider's managed termination protection keeps every GPU
 * instance protected from scale-in, and CloudFormation's delete of the group waits for ever on protected instances.
 * This custom resource, on Delete, empties the group and lifts the protection (handlers/release-gpu-instances.ts).
 * It must run after the service is gone and before the group is deleted: WorkerService makes it depend on the group
 * and the capacity provider, and the service depend on it, so CloudFormation deletes the service, then this, then
 * the capacity provider and the group. Grants are in grants.ts.
 */
export class GpuInstanceRelease extends Construct {
  public readonly function: NodejsFunction;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;
  /** The Provider framework's own function's role and log group (instead of CDK's, which attach AWS managed policies). */
  public readonly providerRole: iam.Role;
  public readonly providerLogGroup: logs.LogGroup;
  public readonly provider: cr.Provider;
  public readonly resource: CustomResource;

  constructor(scope: Construct, id: string, props: GpuInstanceReleaseProps) {
    super(scope, id);
    putLocalEsbuildOnPath();
    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Revive: lifts scale-in protection of the GPU instances when the stack is deleted',
    });
    this.function = new NodejsFunction(this, 'Function', {
      role: this.role,
      entry: join(REPO_ROOT, 'packages/infra/src/handlers/release-gpu-instances.ts'),
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      timeout: Duration.seconds(GPU_RELEASE_TIMEOUT_SECONDS),
      logGroup: this.logGroup,
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'pnpm-lock.yaml'),
      bundling: LAMBDA_BUNDLING,
    });
    this.providerRole = new iam.Role(this, 'ProviderRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Revive: the custom resource framework that calls the GPU instance release',
    });
    this.providerLogGroup = new logs.LogGroup(this, 'ProviderLogs', { retention: props.logRetention });
    // The framework grants its role the invoke of this.function itself.
    this.provider = new cr.Provider(this, 'Provider', {
      onEventHandler: this.function,
      frameworkOnEventRole: this.providerRole,
      logGroup: this.providerLogGroup,
    });
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: this.provider.serviceToken,
      resourceType: 'Custom::ReviveGpuInstanceRelease',
      properties: { AutoScalingGroupName: props.autoScalingGroup.autoScalingGroupName },
    });
  }
}
