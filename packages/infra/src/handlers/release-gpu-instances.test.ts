import { describe, expect, it } from 'vitest';
import { type AutoScalingGroupApi, handler, MAX_INSTANCES_PER_PROTECTION_CALL, releaseGroup } from './release-gpu-instances.js';

/** A group held in memory that records the calls, in order. */
function fakeGroup(instanceIds: string[]) {
  const calls: string[] = [];
  const state = { protectedIds: new Set(instanceIds), desired: instanceIds.length, protectNew: true };
  const api: AutoScalingGroupApi = {
    async instanceIds(group) {
      calls.push(`describe ${group}`);
      return [...instanceIds];
    },
    async empty(group) {
      calls.push(`empty ${group}`);
      state.desired = 0;
      state.protectNew = false;
    },
    async unprotect(group, ids) {
      calls.push(`unprotect ${group} ${ids.length}`);
      if (ids.length > MAX_INSTANCES_PER_PROTECTION_CALL) throw new Error('ValidationError: at most 50 instance ids');
      for (const id of ids) state.protectedIds.delete(id);
    },
  };
  return { api, calls, state };
}

describe('releaseGroup', () => {
  it('empties the group, then lifts the protection of every instance in calls of at most 50', async () => {
    const ids = Array.from({ length: 120 }, (_, i) => `i-${String(i).padStart(17, '0')}`);
    const { api, calls, state } = fakeGroup(ids);
    expect(await releaseGroup('gpu', api)).toEqual(ids);
    expect(calls).toEqual(['describe gpu', 'empty gpu', 'unprotect gpu 50', 'unprotect gpu 50', 'unprotect gpu 20']);
    expect(state).toMatchObject({ desired: 0, protectNew: false });
    expect(state.protectedIds.size).toBe(0);
  });

  it('does nothing to an empty or already deleted group', async () => {
    const { api, calls } = fakeGroup([]);
    expect(await releaseGroup('gpu', api)).toEqual([]);
    expect(calls).toEqual(['describe gpu']);
  });
});

describe('handler', () => {
  it('answers Create and Update with the group name as physical id, calling nothing', async () => {
    for (const RequestType of ['Create', 'Update'] as const) {
      // No credentials or region are set here: a call to Auto Scaling would fail.
      await expect(handler({ RequestType, ResourceProperties: { ServiceToken: 'arn', AutoScalingGroupName: 'gpu-asg' } })).resolves.toEqual({
        PhysicalResourceId: 'gpu-asg',
      });
    }
  });

  it('refuses an event without the group name', async () => {
    await expect(handler({ RequestType: 'Delete', ResourceProperties: {} })).rejects.toThrow(/AutoScalingGroupName/);
  });
});
