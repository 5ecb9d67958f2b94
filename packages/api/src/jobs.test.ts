import { jobMessageSchema, jobRecordSchema, pendingShardKey, TABLE_SCHEMA, type JobRecord } from '@revive/contract';
import { describe, expect, it } from 'vitest';
import { idempotentJobId, jobMessageFromRecord, pendingEnqueueMark, requestHash } from './jobs.js';

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

describe('jobMessageFromRecord', () => {
  const record: JobRecord = {
    jobId: '0b5d3a4e-8f1c-4d2a-9e6b-7c1f2a3b4c5d',
    tenantId: 'tenant-a',
    status: 'QUEUED',
    source: { kind: 's3', key: 'uploads/tenant-a/u1' },
    options: { upscale: 3, onlyCenterFace: true, blend: 0.5, ext: 'png', requireFace: false, restorer: 'gfpgan-1.4' },
    requestHash: 'h',
    idempotencyKey: 'k',
    attempts: 0,
    createdAt: '2025-01-01T00:00:00.000Z',
    expiresAt: 1,
    ...pendingEnqueueMark('0b5d3a4e-8f1c-4d2a-9e6b-7c1f2a3b4c5d', 1_735_689_600_000),
  };

  it('is a contract message carrying the job, never the record-only fields', () => {
    const at = Date.parse('2025-01-01T00:01:00.000Z');
    const message = jobMessageFromRecord(record, at);
    expect(jobMessageSchema.parse(message)).toEqual(message);
    expect(message).toEqual({ version: 1, jobId: record.jobId, tenantId: record.tenantId, source: record.source, options: record.options, enqueuedAt: new Date(at).toISOString() });
    expect(jobMessageFromRecord({ ...record, webhookUrl: 'https://x.test/h' }, at).webhookUrl).toBe('https://x.test/h');
  });

  it('re-sends the work the record declares, so a swept message scales the fleet like the first', () => {
    const estimatedWork = { frames: 1, pixelsPerFrame: 12_000_000, outputPixelsPerFrame: 108_000_000 };
    const message = jobMessageFromRecord({ ...record, estimatedWork }, 0);
    expect(jobMessageSchema.parse(message).estimatedWork).toEqual(estimatedWork);
  });

  it('marks a record pending in the sparse index, in a shape the record schema accepts', () => {
    const mark = pendingEnqueueMark(record.jobId, 42);
    expect(mark).toEqual({ [TABLE_SCHEMA.pendingIndex.partitionKey]: pendingShardKey(record.jobId), [TABLE_SCHEMA.pendingIndex.sortKey]: 42 });
    expect(jobRecordSchema.parse(record)).toMatchObject(pendingEnqueueMark(record.jobId, 1_735_689_600_000));
    expect(jobRecordSchema.safeParse({ ...record, enqueuePending: 'other' }).success).toBe(false);
  });
});
