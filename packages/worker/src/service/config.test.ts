import { describe, expect, it } from 'vitest';
import { PermanentError } from '@revive/pipeline/errors';
import { heartbeatIntervalMs, loadWorkerConfig } from './config.js';

const base = { REVIVE_QUEUE_URL: 'http://127.0.0.1:1/000000000000/q', REVIVE_TABLE_NAME: 't', REVIVE_BUCKET_NAME: 'b' };

describe('loadWorkerConfig', () => {
  it('defaults the heartbeat to a third of the visibility timeout', () => {
    expect(heartbeatIntervalMs(loadWorkerConfig({ ...base, REVIVE_VISIBILITY_TIMEOUT_SECONDS: '90' }))).toBe(30_000);
  });

  it('refuses a heartbeat slower than half the visibility timeout, naming both variables', () => {
    expect(loadWorkerConfig({ ...base, REVIVE_VISIBILITY_TIMEOUT_SECONDS: '120', REVIVE_HEARTBEAT_INTERVAL_SECONDS: '60' }).REVIVE_HEARTBEAT_INTERVAL_SECONDS).toBe(60);
    const attempt = () => loadWorkerConfig({ ...base, REVIVE_VISIBILITY_TIMEOUT_SECONDS: '120', REVIVE_HEARTBEAT_INTERVAL_SECONDS: '61' });
    expect(attempt).toThrow(PermanentError);
    expect(attempt).toThrow(/REVIVE_HEARTBEAT_INTERVAL_SECONDS.*REVIVE_VISIBILITY_TIMEOUT_SECONDS/);
  });

  it('takes a whsec_ webhook secret and refuses any other, saying how to convert it', () => {
    const secret = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
    expect(loadWorkerConfig({ ...base, REVIVE_WEBHOOK_SECRET: secret }).REVIVE_WEBHOOK_SECRET).toBe(secret);
    const attempt = () => loadWorkerConfig({ ...base, REVIVE_WEBHOOK_SECRET: 'a-raw-passphrase-of-some-length' });
    expect(attempt).toThrow(PermanentError);
    expect(attempt).toThrow(/REVIVE_WEBHOOK_SECRET.*whsec_.*base64/);
  });

  it('lists every invalid variable at once', () => {
    expect(() => loadWorkerConfig({ REVIVE_CONCURRENCY: '0' })).toThrow(/REVIVE_QUEUE_URL[\s\S]*REVIVE_CONCURRENCY|REVIVE_CONCURRENCY[\s\S]*REVIVE_QUEUE_URL/);
  });
});
