import { describe, expect, it } from 'vitest';
import { idempotentJobId, requestHash } from './jobs.js';

describe('idempotentJobId', () => {
  it('is a UUID determined by tenant and key', () => {
    const id = idempotentJobId('tenant-a', 'key-1');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(idempotentJobId('tenant-a', 'key-1')).toBe(id);
    expect(idempotentJobId('tenant-b', 'key-1')).not.toBe(id);
    expect(idempotentJobId('tenant-a', 'key-2')).not.toBe(id);
    // The separator keeps ("a\nb", "c") and ("a", "b\nc") apart only if tenants cannot hold newlines: they cannot.
    expect(idempotentJobId('ab', 'c')).not.toBe(idempotentJobId('a', 'bc'));
  });
});

describe('requestHash', () => {
  const options = { upscale: 2, onlyCenterFace: false, blend: 1, ext: 'auto' as const, requireFace: false };
  it('ignores key order and changes with any value', () => {
    const a = requestHash({ source: { uploadKey: 'uploads/t/1' }, options });
    const b = requestHash({ options: { ...options }, source: { uploadKey: 'uploads/t/1' } });
    expect(b).toBe(a);
    expect(requestHash({ source: { uploadKey: 'uploads/t/1' }, options: { ...options, upscale: 3 } })).not.toBe(a);
    expect(requestHash({ source: { uploadKey: 'uploads/t/2' }, options })).not.toBe(a);
    expect(requestHash({ source: { uploadKey: 'uploads/t/1' }, options, webhookUrl: 'https://x.test/h' })).not.toBe(a);
  });
});
