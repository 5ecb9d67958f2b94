// Issue 18, items 7 and 11: the GPU instances' lifecycle around the stack. `cdk destroy` ends (a custom resource
// lifts the capacity provider's scale-in protection before the group is deleted), warm-pool instances pull the
// worker image while they warm up, and the instance role's grants are what the agent needs, logs on one group only.
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { GPU_WARM_POOL_BOOT_SCRIPT, GPU_WARM_POOL_HOOK_NAME } from '../src/scaling.js';
import { CONCRETE_ENV, synthesize, type Synthesized } from './synth.js';

type Resource = { Type: string; Properties: Record<string, unknown>; DependsOn?: string[] };
type Statement = { Action: string | string[]; Resource: unknown; Effect: string; Condition?: unknown };

const resourcesOf = (t: Template) => (t.toJSON() as { Resources: Record<string, Resource> }).Resources;
const ofType = (t: Template, type: string) => Object.entries(resourcesOf(t)).filter(([, r]) => r.Type === type);
const onlyOf = (t: Template, type: string): [string, Resource] => {
  const found = ofType(t, type);
  expect(found, type).toHaveLength(1);
  return found[0]!;
};
const idOf = (s: Synthesized, construct: { node: { defaultChild?: unknown } }) =>
  s.stack.resolve((construct.node.defaultChild as { logicalId: string }).logicalId) as string;
const asList = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);
/** Statements of every AWS::IAM::Policy attached to the role. */
function statementsOf(t: Template, roleId: string): Statement[] {
  return ofType(t, 'AWS::IAM::Policy')
    .filter(([, r]) => JSON.stringify(r.Properties.Roles).includes(`"${roleId}"`))
    .flatMap(([, r]) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}
/** Whether a resource is the group's ARN: named by its Ref, the id EC2 Auto Scaling assigns the only wildcard. */
function isGroupArn(resource: unknown, groupId: string): boolean {
  const parts = (resource as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join']?.[1] ?? [];
  const last = parts.at(-1);
  const prefix = parts.slice(0, -1).map((part) => (typeof part === 'string' ? part : '<token>')).join('');
  return JSON.stringify(last) === JSON.stringify({ Ref: groupId }) && /:autoscaling:[^*]*:autoScalingGroup:\*:autoScalingGroupName\/$/.test(prefix);
}
/** A Fn::Join as text, with every other token as its JSON. */
function render(value: unknown): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  return join === undefined ? JSON.stringify(value) : join[1].map(render).join(join[0]);
}

let cpu: Synthesized;
let gpu: Synthesized;
/** With a warm pool, with a concrete region as the CLI synthesizes (cdk-nag acknowledgements must match there too). */
let warm: Synthesized;
beforeAll(() => {
  cpu = synthesize({ workerMode: 'cpu' });
  gpu = synthesize({ workerMode: 'gpu', gpuWarmPoolSize: 0 });
  warm = synthesize({ workerMode: 'gpu', gpuWarmPoolSize: 1 }, CONCRETE_ENV);
}, 600_000);

describe('cdk destroy in gpu mode: the scale-in-protected GPU instances are released', () => {
  it.each(['gpu', 'warm'] as const)('%s: a custom resource releases the group, deleted after the service and before the group and its capacity provider', (name) => {
    const s = name === 'gpu' ? gpu : warm;
    const t = s.template;
    const [releaseId, release] = onlyOf(t, 'Custom::ReviveGpuInstanceRelease');
    const [groupId] = onlyOf(t, 'AWS::AutoScaling::AutoScalingGroup');
    const [providerId] = onlyOf(t, 'AWS::ECS::CapacityProvider');
    expect(release.Properties.AutoScalingGroupName).toEqual({ Ref: groupId });
    // CloudFormation deletes in reverse dependency order: the release runs before the group and the capacity provider go...
    expect(release.DependsOn).toEqual(expect.arrayContaining([groupId, providerId]));
    // ...and after the service is gone, so no running task keeps an instance protected.
    const [, service] = onlyOf(t, 'AWS::ECS::Service');
    expect(service.DependsOn).toContain(releaseId);
    // The framework calls the release function, which runs with its own role (and the policy it needs still there).
    const fnId = idOf(s, s.stack.worker.gpuInstanceRelease!.function);
    const [, fn] = ofType(t, 'AWS::Lambda::Function').find(([id]) => id === fnId)!;
    const roleId = idOf(s, s.stack.worker.gpuInstanceRelease!.role);
    expect(fn.DependsOn).toEqual(expect.arrayContaining([roleId]));
    expect(fn.DependsOn!.some((id) => id.startsWith(roleId.replace(/[0-9A-F]{8}$/, '')) && id.includes('DefaultPolicy'))).toBe(true);
  });

  it('grants the release function only the group calls it makes, on the group', () => {
    const s = gpu;
    const t = s.template;
    const [groupId] = onlyOf(t, 'AWS::AutoScaling::AutoScalingGroup');
    const release = s.stack.worker.gpuInstanceRelease!;
    const statements = statementsOf(t, idOf(s, release.role));
    const byAction = (action: string) => statements.filter((st) => asList(st.Action).includes(action));
    expect(statements.flatMap((st) => asList(st.Action)).sort()).toEqual(
      ['autoscaling:DescribeAutoScalingGroups', 'autoscaling:SetInstanceProtection', 'autoscaling:UpdateAutoScalingGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'].sort(),
    );
    for (const action of ['autoscaling:SetInstanceProtection', 'autoscaling:UpdateAutoScalingGroup']) {
      const resources = byAction(action).map((st) => st.Resource);
      expect(resources).toHaveLength(1);
      expect(isGroupArn(resources[0], groupId), JSON.stringify(resources)).toBe(true);
    }
    // DescribeAutoScalingGroups has no resource-level permissions.
    expect(byAction('autoscaling:DescribeAutoScalingGroups').map((st) => st.Resource)).toEqual(['*']);
    expect(byAction('logs:PutLogEvents').map((st) => st.Resource)).toEqual([{ 'Fn::GetAtt': [idOf(s, release.logGroup), 'Arn'] }]);
    // No AWS managed policy on either role (the framework's default would be AWSLambdaBasicExecutionRole).
    for (const role of [release.role, release.providerRole]) {
      const [, r] = ofType(t, 'AWS::IAM::Role').find(([id]) => id === idOf(s, role))!;
      expect(r.Properties.ManagedPolicyArns).toBeUndefined();
    }
  });

  it('cpu mode has nothing to release', () => {
    expect(ofType(cpu.template, 'Custom::ReviveGpuInstanceRelease')).toEqual([]);
  });
});

describe('the GPU instance role is least-privilege', () => {
  it.each(['gpu', 'warm'] as const)('%s: grants the ECS agent its calls, and logs only on the worker log group', (name) => {
    const s = name === 'gpu' ? gpu : warm;
    const statements = statementsOf(s.template, idOf(s, s.stack.worker.gpuInstanceRole!));
    const logs = statements.filter((st) => asList(st.Action).some((a) => a.startsWith('logs:')));
    expect(logs.map((st) => st.Resource)).toEqual([{ 'Fn::GetAtt': [idOf(s, s.stack.worker.logGroup), 'Arn'] }]);
    // Everything on "*" is an action without resource-level permissions, or kept to this cluster by a condition.
    for (const st of statements.filter((candidate) => candidate.Resource === '*')) {
      const actions = asList(st.Action);
      if (st.Condition === undefined) expect(actions.every((a) => ['ecs:DiscoverPollEndpoint', 'ecr:GetAuthorizationToken'].includes(a)), actions.join()).toBe(true);
      else expect(st.Condition).toEqual({ ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [idOf(s, s.stack.worker.cluster), 'Arn'] } } });
    }
    const actions = statements.flatMap((st) => asList(st.Action));
    for (const needed of ['ecs:RegisterContainerInstance', 'ecs:DeregisterContainerInstance', 'ecs:Submit*', 'ecs:Poll', 'ecs:StartTelemetrySession', 'ecs:DiscoverPollEndpoint']) {
      expect(actions).toContain(needed);
    }
    // ECR pulls and the launch hook only with a warm pool.
    expect(actions.includes('ecr:BatchGetImage')).toBe(name === 'warm');
    expect(actions.includes('autoscaling:CompleteLifecycleAction')).toBe(name === 'warm');
  });

  it('no cdk-nag acknowledgement says the logs calls need Resource "*"', () => {
    for (const s of [gpu, warm]) {
      const nag = s.validationReport.pluginReports.find((p) => p.pluginName === 'AwsSolutions')!;
      expect(nag.violations).toEqual([]);
      for (const v of nag.suppressedViolations ?? []) expect(v.reason ?? '').not.toMatch(/logs[^.]*only Resource/);
    }
  });
});

describe('the warm pool pulls the image while it warms up', () => {
  let userData: string;
  beforeAll(() => {
    const [, template] = onlyOf(warm.template, 'AWS::EC2::LaunchTemplate');
    const data = template.Properties.LaunchTemplateData as { UserData: { 'Fn::Base64': unknown }; MetadataOptions: Record<string, unknown> };
    userData = render(warm.stack.resolve(data.UserData['Fn::Base64']));
  });

  it('logs in to ECR and pulls the task image, only when the instance is headed for the warm pool', () => {
    const text = userData;
    const start = text.indexOf('if [[ $state == Warmed:* ]]; then');
    expect(start).toBeGreaterThan(0);
    const branch = text.slice(start, text.indexOf('\nfi\n', start));
    expect(branch).toMatch(/aws ecr get-login-password --region "\$region" \| docker login --username AWS --password-stdin "\$\{image%%\/\*\}"/);
    expect(branch).toContain('docker pull "$image"');
    expect(text).toContain('ECS_IMAGE_PULL_BEHAVIOR=prefer-cached');
    // The image it pulls is the task's: the script gets the container definition's image as its argument.
    const [, task] = onlyOf(warm.template, 'AWS::ECS::TaskDefinition');
    const image = render((task.Properties.ContainerDefinitions as { Image: unknown }[])[0]!.Image);
    expect(image).toContain('cdk-hnb659fds-container-assets');
    expect(userData).toContain(`\n${GPU_WARM_POOL_BOOT_SCRIPT} '${image}'`);
  });

  it('holds each launching instance in a launch hook the script completes, on the first boot and on every resume', () => {
    const [hookId, hook] = onlyOf(warm.template, 'AWS::AutoScaling::LifecycleHook');
    expect(hook.Properties).toMatchObject({
      LifecycleHookName: GPU_WARM_POOL_HOOK_NAME,
      LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
      DefaultResult: 'CONTINUE',
    });
    expect(userData).toContain(`--lifecycle-hook-name ${GPU_WARM_POOL_HOOK_NAME}`);
    expect(userData).toContain('/var/lib/cloud/scripts/per-boot/');
    // The script finds its group in the instance's tags.
    const [, template] = onlyOf(warm.template, 'AWS::EC2::LaunchTemplate');
    expect((template.Properties.LaunchTemplateData as { MetadataOptions: Record<string, unknown> }).MetadataOptions).toMatchObject({
      InstanceMetadataTags: 'enabled',
      HttpPutResponseHopLimit: 1,
    });
    // The pool's first instances launch once both the hook and the instance's right to complete it exist.
    const [, pool] = onlyOf(warm.template, 'AWS::AutoScaling::WarmPool');
    expect(pool.DependsOn).toEqual(expect.arrayContaining([hookId]));
    // ...and the image pull's rights (the role's default policy, which the launch template does not wait for).
    expect(pool.DependsOn!.some((id) => id.includes('GpuInstanceRole') && id.includes('DefaultPolicy')), JSON.stringify(pool.DependsOn)).toBe(true);
    const [groupId] = onlyOf(warm.template, 'AWS::AutoScaling::AutoScalingGroup');
    const complete = statementsOf(warm.template, idOf(warm, warm.stack.worker.gpuInstanceRole!)).filter((st) =>
      asList(st.Action).includes('autoscaling:CompleteLifecycleAction'),
    );
    expect(complete).toHaveLength(1);
    expect(isGroupArn(complete[0]!.Resource, groupId), JSON.stringify(complete)).toBe(true);
  });

  it('the instance role may pull from the asset repository only', () => {
    const statements = statementsOf(warm.template, idOf(warm, warm.stack.worker.gpuInstanceRole!));
    const pull = statements.filter((st) => asList(st.Action).includes('ecr:BatchGetImage'));
    expect(pull).toHaveLength(1);
    expect(JSON.stringify(pull[0]!.Resource)).toContain(':repository/');
    expect(JSON.stringify(pull[0]!.Resource)).toContain('cdk-hnb659fds-container-assets');
  });

  it('without a warm pool: no hook, no boot script', () => {
    expect(ofType(gpu.template, 'AWS::AutoScaling::LifecycleHook')).toEqual([]);
    const [, template] = onlyOf(gpu.template, 'AWS::EC2::LaunchTemplate');
    expect(JSON.stringify(template.Properties)).not.toContain(GPU_WARM_POOL_BOOT_SCRIPT);
  });
});
