import { describe, expect, it } from 'vitest';
import { jobResponseSchema } from './api.js';
import type { JobRecord } from './job.js';
import { jobResponseFromRecord, signWebhook, webhookEvent, webhookKey, webhookMessageId, webhookSecretSchema } from './webhook.js';

describe('webhook signatures (Standard Webhooks)', () => {
  it("signs the spec's test vector to the spec's signature", () => {
    // The example of the Standard Webhooks specification (and of its reference libraries' tests).
    const signature = signWebhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1_614_265_330, '{"test": 2432232314}');
    expect(signature).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('signs the id, the timestamp and the body: changing any one changes the signature', () => {
    const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    const body = '{"id":"x","status":"SUCCEEDED"}';
    const base = signWebhook(secret, 'msg_a', 1_700_000_000, body);
    expect(base).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(signWebhook(secret, 'msg_b', 1_700_000_000, body)).not.toBe(base);
    expect(signWebhook(secret, 'msg_a', 1_700_000_001, body)).not.toBe(base);
    expect(signWebhook(secret, 'msg_a', 1_700_000_000, `${body} `)).not.toBe(base);
    // The prefix is optional: the bare base64 is the same key.
    expect(signWebhook(secret.slice('whsec_'.length), 'msg_a', 1_700_000_000, body)).toBe(base);
  });

  it('accepts whsec_ secrets of 24 to 64 bytes and explains what is wrong with others', () => {
    const of = (bytes: number) => `whsec_${Buffer.alloc(bytes, 1).toString('base64')}`;
    for (const ok of [of(24), of(32), of(64), 'A'.repeat(48)]) expect(webhookSecretSchema.safeParse(ok).success, ok).toBe(true);
    expect(webhookKey(of(32))).toEqual(Buffer.alloc(32, 1));
    const message = (secret: string) => webhookSecretSchema.safeParse(secret).error?.issues[0]?.message;
    expect(message(of(23))).toMatch(/24 to 64 bytes.*23/);
    expect(message(of(65))).toMatch(/24 to 64 bytes.*65/);
    for (const bad of ['', 'whsec_', 'revive-local-webhook-secret', `whsec_${'A'.repeat(47)}`, `whsec_${'A'.repeat(40)} `]) {
      expect(message(bad), bad).toMatch(/whsec_.*base64/);
    }
    expect(() => webhookKey('not a secret')).toThrow(TypeError);
  });

  it('gives one delivery id per job and event, the same however often it is computed', () => {
    const jobId = '0b6e8f0e-5f2c-4f5e-9a7e-2d7c7d1f0a11';
    expect(webhookMessageId(jobId, 'job.succeeded')).toBe(webhookMessageId(jobId, 'job.succeeded'));
    expect(webhookMessageId(jobId, 'job.succeeded')).toContain(jobId);
    expect(new Set([webhookMessageId(jobId, 'job.succeeded'), webhookMessageId(jobId, 'job.failed'), webhookMessageId(jobId, 'job.canceled')]).size).toBe(3);
    expect(webhookMessageId(jobId, 'job.failed')).not.toBe(webhookMessageId('1b6e8f0e-5f2c-4f5e-9a7e-2d7c7d1f0a11', 'job.failed'));
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
