// The delete-time clean-up of the GPU Auto Scaling group (GpuInstanceRelease in gpu-release.ts): the capacity
// provider's managed termination protection leaves every instance protected from scale-in, and CloudFormation's
// delete of the group (desired 0, then wait) never ends while any instance is protected. On Delete this lifts the
// protection and empties the group; Create and Update do nothing.
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  SetInstanceProtectionCommand,
  UpdateAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import { z } from 'zod';

/** SetInstanceProtection takes at most this many instance ids per call. */
export const MAX_INSTANCES_PER_PROTECTION_CALL = 50;

/** What the clean-up needs from EC2 Auto Scaling; the handler passes the SDK, tests a recording fake. */
export interface AutoScalingGroupApi {
  /** Ids of the group's instances (none when the group is already gone). */
  instanceIds(groupName: string): Promise<string[]>;
  /** Minimum and desired capacity 0, and no protection for instances launched from now on. */
  empty(groupName: string): Promise<void>;
  unprotect(groupName: string, instanceIds: readonly string[]): Promise<void>;
}

/**
 * Empties the group and lifts the scale-in protection of each of its instances, so that the group's own delete can
 * terminate them. The group is emptied first: an instance launched in between is then unprotected from the start.
 * @returns the instances it unprotected
 */
export async function releaseGroup(groupName: string, api: AutoScalingGroupApi): Promise<string[]> {
  const ids = await api.instanceIds(groupName);
  if (ids.length === 0) return ids;
  await api.empty(groupName);
  for (let i = 0; i < ids.length; i += MAX_INSTANCES_PER_PROTECTION_CALL) {
    await api.unprotect(groupName, ids.slice(i, i + MAX_INSTANCES_PER_PROTECTION_CALL));
  }
  return ids;
}

/** The custom resource's event, as the Provider framework passes it on. */
const eventSchema = z.object({
  RequestType: z.enum(['Create', 'Update', 'Delete']),
  PhysicalResourceId: z.string().optional(),
  ResourceProperties: z.object({ AutoScalingGroupName: z.string().min(1) }),
});

function sdkApi(client: AutoScalingClient): AutoScalingGroupApi {
  return {
    async instanceIds(groupName) {
      const out = await client.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [groupName] }));
      return (out.AutoScalingGroups?.[0]?.Instances ?? []).flatMap((instance) => (instance.InstanceId === undefined ? [] : [instance.InstanceId]));
    },
    async empty(groupName) {
      await client.send(
        new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: groupName, MinSize: 0, DesiredCapacity: 0, NewInstancesProtectedFromScaleIn: false }),
      );
    },
    async unprotect(groupName, instanceIds) {
      await client.send(new SetInstanceProtectionCommand({ AutoScalingGroupName: groupName, InstanceIds: [...instanceIds], ProtectedFromScaleIn: false }));
    },
  };
}

let client: AutoScalingClient | undefined;

/** The Provider framework's onEvent handler. The physical id is the group's name. */
export async function handler(raw: unknown): Promise<{ PhysicalResourceId: string }> {
  const event = eventSchema.parse(raw);
  const groupName = event.ResourceProperties.AutoScalingGroupName;
  if (event.RequestType === 'Delete') {
    client ??= new AutoScalingClient({});
    const released = await releaseGroup(event.PhysicalResourceId ?? groupName, sdkApi(client));
    console.log(JSON.stringify({ message: 'released GPU instances for the group delete', groupName, instanceIds: released }));
  }
  return { PhysicalResourceId: groupName };
}
