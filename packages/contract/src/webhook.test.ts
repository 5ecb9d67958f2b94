import { describe, expect, it } from 'vitest';
import { jobResponseSchema } from './api.js';
import type { JobRecord } from './job.js';
import { jobResponseFromRecord, signWebhook, verifyWebhook, webhookEvent } from './webhook.js';

const SECRET = 'whsec-0123456789abcdef';
const BODY = '{"id":"x","status":"SUCCEEDED"}';

describe('webhook signatures', () => {
  it('verifies what it signed, within the tolerance only', () => {
    const header = signWebhook(SECRET, BODY, 1_700_000_000);
    expect(header).toMatch(/^t=1700000000,v1=[0-9a-f]{64}$/);
    expect(verifyWebhook(SECRET, BODY, header, { nowSeconds: 1_700_000_100 })).toBe(true);
    expect(verifyWebhook(SECRET, BODY, header, { nowSeconds: 1_700_001_000 })).toBe(false);
    expect(verifyWebhook(SECRET, `${BODY} `, header, { nowSeconds: 1_700_000_000 })).toBe(false);
    expect(verifyWebhook('whsec-another-secret-000', BODY, header, { nowSeconds: 1_700_000_000 })).toBe(false);
    expect(verifyWebhook(SECRET, BODY, header.replace('t=1700000000', 't=1700000001'), { nowSeconds: 1_700_000_000 })).toBe(false);
    expect(verifyWebhook(SECRET, BODY, undefined)).toBe(false);
    expect(verifyWebhook(SECRET, BODY, 'v1=abc')).toBe(false);
  });

  it('accepts any of several v1 entries (secret rotation)', () => {
    const old = signWebhook('whsec-old-secret-0000000', BODY, 1_700_000_000);
    const current = signWebhook(SECRET, BODY, 1_700_000_000);
    const both = `${old},${current.split(',')[1]!}`;
    expect(verifyWebhook(SECRET, BODY, both, { nowSeconds: 1_700_000_000 })).toBe(true);
  });
});

describe('jobResponseFromRecord', () => {
  const record: JobRecord = {
    jobId: '0b6e8f0e-5f2c-4f5e-9a7e-2d7c7d1f0a11',
    tenantId: 'tenant-a',
    status: 'SUCCEEDED',
    source: { kind: 's3', key: 'uploads/tenant-a/u1' },
    options: { upscale: 2, onlyCenterFace: false, blend: 1, ext: 'auto', requireFace: false },
    attempts: 1,
    createdAt: '2026-01-01T00:00:00.000Z',
    startedAt: '2026-01-01T00:00:01.000Z',
    finishedAt: '2026-01-01T00:00:03.500Z',
    resultKey: 'results/tenant-a/x.jpg',
    resultWidth: 800,
    resultHeight: 600,
    facesFound: 2,
    timingsMs: { detect: 12 },
    webhookUrl: 'https://hooks.example.com/r',
    expiresAt: 1_800_000_000,
  };

  it('gives the API shape, with the output only for a SUCCEEDED job with a URL', () => {
    const response = jobResponseFromRecord(record, { resultUrl: 'https://s3/x', apiBaseUrl: 'https://api.example.com' });
    expect(jobResponseSchema.parse(response)).toEqual(response);
    expect(response.output).toMatchObject({ url: 'https://s3/x', width: 800, height: 600 });
    expect(response.metrics.predict_time_ms).toBe(2_500);
    expect(response.input.source).toEqual({ uploadKey: 'uploads/tenant-a/u1' });
    expect(response.urls.get).toBe(`https://api.example.com/jobs/${record.jobId}`);
    const failed = jobResponseFromRecord({ ...record, status: 'FAILED', errorCode: 'NO_FACE', errorMessage: 'none' });
    expect(jobResponseSchema.parse(failed).output).toBeNull();
    expect(failed.error).toEqual({ code: 'NO_FACE', message: 'none' });
    expect(webhookEvent('FAILED')).toBe('job.failed');
  });

  it('returns the faces in input pixels once SUCCEEDED, and null before or on failure', () => {
    const face = { box: [10.5, 20, 110, 140] as [number, number, number, number], score: 0.93, landmarks: [[40, 60], [80, 60], [60, 90], [45, 115], [75, 115]] as [number, number][] };
    const done = jobResponseFromRecord({ ...record, faces: [face] }, { resultUrl: 'https://s3/x' });
    expect(jobResponseSchema.parse(done).faces).toEqual([face]);
    // A record written before faces were recorded still parses: no faces listed rather than a broken body.
    expect(jobResponseFromRecord(record, { resultUrl: 'https://s3/x' }).faces).toEqual([]);
    expect(jobResponseFromRecord({ ...record, status: 'RUNNING', faces: [face] }).faces).toBeNull();
    expect(jobResponseFromRecord({ ...record, status: 'FAILED', errorCode: 'NO_FACE', faces: [face] }).faces).toBeNull();
  });
});
