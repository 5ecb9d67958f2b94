import { describe, expect, it } from 'vitest';
import { albumZipKey, childJobId, jobIdSchema, jobMessageSchema, jobResponseFromRecord, jobResponseSchema, segmentKey, sniffVideoContainer, type JobRecord } from './index.js';

const parent = '0b8f8c2e-5d0c-4d0e-9a3f-6c1f0e2a7b11';

describe('childJobId', () => {
  it('gives each child of a parent its own stable job id', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => childJobId(parent, i));
    expect(new Set(ids).size).toBe(1000);
    for (const id of ids.slice(0, 5)) expect(jobIdSchema.safeParse(id).success).toBe(true);
    expect(childJobId(parent, 7)).toBe(ids[7]);
    expect(childJobId('1b8f8c2e-5d0c-4d0e-9a3f-6c1f0e2a7b11', 7)).not.toBe(ids[7]);
  });
});

describe('storage keys of parents', () => {
  it('puts segments under segments/<tenant>/<job>/ and an album ZIP beside the results', () => {
    expect(segmentKey('t|1', parent, 3, 2)).toBe(`segments/t%7C1/${parent}/00003-2.mp4`);
    expect(albumZipKey('t|1', parent, 1)).toBe(`results/t%7C1/${parent}-1.zip`);
  });
});

describe('sniffVideoContainer', () => {
  it('tells ISO BMFF and Matroska from a photo or text', () => {
    expect(sniffVideoContainer(Uint8Array.from([0, 0, 0, 0x20, ...Buffer.from('ftypisom')]))).toBe('iso-bmff');
    expect(sniffVideoContainer(Uint8Array.from([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81]))).toBe('matroska');
    expect(sniffVideoContainer(Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46]))).toBeUndefined();
    expect(sniffVideoContainer(Buffer.from('hello world!'))).toBeUndefined();
  });
});

describe('a segment message', () => {
  it('validates its frames and refuses a segment of no frames', () => {
    const base = { version: 1, jobId: parent, tenantId: 't', source: { kind: 's3', key: 'uploads/t/x' }, options: {}, enqueuedAt: new Date().toISOString(), kind: 'video-segment', parentJobId: parent };
    expect(jobMessageSchema.safeParse({ ...base, segment: { index: 0, startFrame: 0, frameCount: 60, warmupFrames: 0 } }).success).toBe(true);
    expect(jobMessageSchema.safeParse({ ...base, segment: { index: 0, startFrame: 0, frameCount: 0, warmupFrames: 0 } }).success).toBe(false);
  });
});

describe('a parent as the API shows it', () => {
  const record: JobRecord = {
    jobId: parent,
    tenantId: 't',
    status: 'RUNNING',
    kind: 'album',
    source: { kind: 'album', photos: 10 },
    options: { upscale: 2, onlyCenterFace: false, blend: 1, ext: 'auto', requireFace: false },
    attempts: 0,
    createdAt: '2026-01-01T00:00:00.000Z',
    startedAt: '2026-01-01T00:00:00.000Z',
    childrenTotal: 10,
    childrenSucceeded: 3,
    childrenFailed: 1,
    childrenCanceled: 0,
    expiresAt: 0,
  };

  it('counts its children and estimates the time left from the rate so far', () => {
    const shown = jobResponseSchema.parse(jobResponseFromRecord(record, { apiBaseUrl: 'https://api', nowMs: Date.parse('2026-01-01T00:00:40.000Z') }));
    expect(shown.kind).toBe('album');
    expect(shown.input.source).toBeNull();
    // 4 ended in 40 s: 6 left take 60 s.
    expect(shown.progress).toEqual({ total: 10, done: 3, failed: 1, frames_total: null, frames_done: null, eta_seconds: 60 });
    expect(shown.urls.children).toBe(`https://api/jobs/${parent}/children`);
  });

  it('shows a photo with no progress and its album as parent', () => {
    const child = jobResponseFromRecord({ ...record, kind: 'photo', source: { kind: 's3', key: 'uploads/t/a' }, parentJobId: parent });
    expect(child.progress).toBeNull();
    expect(child.parent_id).toBe(parent);
    expect(child.urls.children).toBeUndefined();
  });
});
