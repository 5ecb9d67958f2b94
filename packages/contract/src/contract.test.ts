import { describe, expect, it } from 'vitest';
import {
  apiEnvSchema,
  createJobRequestSchema,
  formatAvailableModels,
  isWellFormedText,
  servedModelIds,
  DEFAULT_JOB_TIMEOUT_PER_FACE_SECONDS,
  DEFAULT_JOB_TIMEOUT_PER_MEGAPIXEL_SECONDS,
  DEFAULT_JOB_TIMEOUT_SECONDS,
  DEFAULT_MAX_FACES,
  DEFAULT_SOURCE_DEADLINE_SECONDS,
  DEFAULT_SOURCE_MIN_BYTES_PER_SECOND,
  MAX_FACES_LIMIT,
  isTenantUploadKey,
  jobMessageSchema,
  jobOptionsSchema,
  jobRecordSchema,
  LEGACY_PENDING_PARTITION,
  pendingShardKey,
  pendingShardKeys,
  resultKey,
  TABLE_SCHEMA,
  tenantIndexItemSchema,
  uploadKey,
  workerEnvSchema,
} from './index.js';

const message = {
  version: 1,
  jobId: '0b6f5f1e-8a52-4a43-9d55-1c1f0e7b8a01',
  tenantId: 'auth0|abc',
  source: { kind: 's3', key: 'uploads/auth0%7Cabc/x' },
  options: {},
  enqueuedAt: '2026-11-25T02:00:00.000Z',
};

describe('job message', () => {
  it('applies option defaults', () => {
    const parsed = jobMessageSchema.parse(message);
    expect(parsed.options).toEqual({ upscale: 2, onlyCenterFace: false, blend: 1, ext: 'auto', requireFace: false });
  });

  it.each([
    ['an unknown option', { ...message, options: { upscale: 2, sharpen: true } }],
    ['upscale out of range', { ...message, options: { upscale: 8 } }],
    ['a non-http URL source', { ...message, source: { kind: 'url', url: 'file:///etc/passwd' } }],
    ['a tenant id with a slash', { ...message, tenantId: 'a/b' }],
    ['a missing job id', { ...message, jobId: undefined }],
  ])('rejects %s', (_name, body) => {
    expect(jobMessageSchema.safeParse(body).success).toBe(false);
  });

  it('rejects blend outside 0..1', () => {
    expect(jobOptionsSchema.safeParse({ blend: 1.5 }).success).toBe(false);
  });

  it('takes maxFaces from 1 to MAX_FACES_LIMIT, and leaves it unset (the worker decides) when absent', () => {
    expect(jobOptionsSchema.parse({ maxFaces: 2 }).maxFaces).toBe(2);
    expect(jobOptionsSchema.parse({ maxFaces: MAX_FACES_LIMIT }).maxFaces).toBe(MAX_FACES_LIMIT);
    expect(jobOptionsSchema.parse({}).maxFaces).toBeUndefined();
    for (const bad of [0, -1, 2.5, MAX_FACES_LIMIT + 1, '3']) expect(jobOptionsSchema.safeParse({ maxFaces: bad }).success, String(bad)).toBe(false);
  });
});

describe('storage keys', () => {
  it('keeps tenants apart even when ids share a prefix or carry key syntax', () => {
    const key = uploadKey('auth0|abc', 'photo-1');
    expect(isTenantUploadKey('auth0|abc', key)).toBe(true);
    expect(isTenantUploadKey('auth0|ab', key)).toBe(false);
    expect(isTenantUploadKey('auth0|abc', `${uploadKey('auth0|abc', '')}../other/x`)).toBe(false);
    expect(resultKey('a:b', '0b6f5f1e-8a52-4a43-9d55-1c1f0e7b8a01', 'png')).toBe('results/a%3Ab/0b6f5f1e-8a52-4a43-9d55-1c1f0e7b8a01.png');
  });
});

describe('outbox shards and the tenant index projection', () => {
  it('spreads job ids over all 16 outbox shards, stably, and the record schema accepts only those keys', () => {
    const ids = Array.from({ length: 1600 }, () => crypto.randomUUID());
    const counts = new Map<string, number>();
    for (const id of ids) counts.set(pendingShardKey(id), (counts.get(pendingShardKey(id)) ?? 0) + 1);
    const shards = pendingShardKeys().filter((k) => k !== LEGACY_PENDING_PARTITION);
    expect([...counts.keys()].sort()).toEqual(shards.sort());
    expect(shards).toHaveLength(16);
    // The sweeper still reads the partition records used before sharding.
    expect(pendingShardKeys()).toContain(LEGACY_PENDING_PARTITION);
    // Roughly even: no shard takes more than twice its share.
    expect(Math.max(...counts.values())).toBeLessThan((2 * ids.length) / 16);
    expect(pendingShardKey(ids[0]!)).toBe(pendingShardKey(ids[0]!));
    const field = jobRecordSchema.shape.enqueuePending;
    expect(field.safeParse(pendingShardKey(ids[0]!)).success).toBe(true);
    expect(field.safeParse(LEGACY_PENDING_PARTITION).success).toBe(true);
    expect(field.safeParse('pending#16').success).toBe(false);
    expect(field.safeParse('other').success).toBe(false);
  });

  it('the tenant index item is exactly the keys plus the projected attributes', () => {
    const { partitionKey, sortKey, projected } = TABLE_SCHEMA.tenantIndex;
    expect(Object.keys(tenantIndexItemSchema.shape).sort()).toEqual([TABLE_SCHEMA.partitionKey, partitionKey, sortKey, ...projected].sort());
  });
});

describe('environment', () => {
  const base = { REVIVE_QUEUE_URL: 'http://127.0.0.1:1/q', REVIVE_TABLE_NAME: 't', REVIVE_BUCKET_NAME: 'b' };

  it('parses worker defaults and CIDR allow-lists', () => {
    const env = workerEnvSchema.parse({ ...base, REVIVE_URL_ALLOW_CIDRS: '127.0.0.2/32, 10.0.0.0/8', REVIVE_CONCURRENCY: '3' });
    expect(env.REVIVE_CONCURRENCY).toBe(3);
    expect(env.REVIVE_WAIT_TIME_SECONDS).toBe(20);
    expect(env.REVIVE_URL_ALLOW_CIDRS).toEqual(['127.0.0.2/32', '10.0.0.0/8']);
    expect(env.REVIVE_RESTORER).toBe('gfpgan-1.4');
    expect(env).toMatchObject({
      REVIVE_MAX_FACES: DEFAULT_MAX_FACES,
      REVIVE_JOB_TIMEOUT_SECONDS: DEFAULT_JOB_TIMEOUT_SECONDS,
      REVIVE_JOB_TIMEOUT_PER_FACE_SECONDS: DEFAULT_JOB_TIMEOUT_PER_FACE_SECONDS,
      REVIVE_JOB_TIMEOUT_PER_MEGAPIXEL_SECONDS: DEFAULT_JOB_TIMEOUT_PER_MEGAPIXEL_SECONDS,
      REVIVE_SOURCE_MIN_BYTES_PER_SECOND: DEFAULT_SOURCE_MIN_BYTES_PER_SECOND,
      REVIVE_SOURCE_DEADLINE_SECONDS: DEFAULT_SOURCE_DEADLINE_SECONDS,
    });
  });

  it('reads the work limits as numbers and refuses a REVIVE_MAX_FACES over what a job may ask', () => {
    const env = workerEnvSchema.parse({ ...base, REVIVE_MAX_FACES: '5', REVIVE_JOB_TIMEOUT_PER_MEGAPIXEL_SECONDS: '0.5', REVIVE_SOURCE_MIN_BYTES_PER_SECOND: '0' });
    expect(env).toMatchObject({ REVIVE_MAX_FACES: 5, REVIVE_JOB_TIMEOUT_PER_MEGAPIXEL_SECONDS: 0.5, REVIVE_SOURCE_MIN_BYTES_PER_SECOND: 0 });
    expect(workerEnvSchema.safeParse({ ...base, REVIVE_MAX_FACES: String(MAX_FACES_LIMIT + 1) }).success).toBe(false);
    expect(workerEnvSchema.safeParse({ ...base, REVIVE_MAX_FACES: '0' }).success).toBe(false);
  });

  it('rejects a bad CIDR and a missing queue URL with field names', () => {
    const bad = workerEnvSchema.safeParse({ ...base, REVIVE_URL_ALLOW_CIDRS: 'localhost' });
    expect(bad.success).toBe(false);
    const missing = apiEnvSchema.safeParse({ REVIVE_TABLE_NAME: 't', REVIVE_BUCKET_NAME: 'b' });
    expect(missing.success ? [] : missing.error.issues.map((i) => i.path.join('.'))).toContain('REVIVE_QUEUE_URL');
  });

  it('takes a presigned-URL lifetime under a minute only in local mode, and says why otherwise', () => {
    const api = { REVIVE_QUEUE_URL: 'http://127.0.0.1:1/q', REVIVE_TABLE_NAME: 't', REVIVE_BUCKET_NAME: 'b' };
    const deployed = apiEnvSchema.safeParse({ ...api, REVIVE_PRESIGN_TTL_SECONDS: '5' });
    expect(deployed.success ? [] : deployed.error.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['REVIVE_PRESIGN_TTL_SECONDS', expect.stringContaining('REVIVE_LOCAL_MODE')],
    ]);
    expect(apiEnvSchema.parse({ ...api, REVIVE_PRESIGN_TTL_SECONDS: '60' }).REVIVE_PRESIGN_TTL_SECONDS).toBe(60);
    expect(apiEnvSchema.parse({ ...api, REVIVE_LOCAL_MODE: 'true', REVIVE_PRESIGN_TTL_SECONDS: '1' }).REVIVE_PRESIGN_TTL_SECONDS).toBe(1);
    expect(apiEnvSchema.safeParse({ ...api, REVIVE_LOCAL_MODE: 'true', REVIVE_PRESIGN_TTL_SECONDS: '0' }).success).toBe(false);
  });
});

describe('the models the worker serves (REVIVE_AVAILABLE_MODELS)', () => {
  const base = { REVIVE_QUEUE_URL: 'http://127.0.0.1:1/q', REVIVE_TABLE_NAME: 't', REVIVE_BUCKET_NAME: 'b' };

  it('lists the names a job may use for the configured models, catalogue ids and paths alike', () => {
    expect(formatAvailableModels({ restorer: 'gfpgan-1.4' })).toBe('restorer:gfpgan-1.4');
    expect(formatAvailableModels({ restorer: 'gfpgan-1.4', bgUpsampler: 'efrlfn-x2' })).toBe('restorer:gfpgan-1.4,bgUpsampler:efrlfn-x2');
    // A path: the worker answers to its file name with or without .onnx; no job option can name the path itself.
    expect(formatAvailableModels({ restorer: '/tmp/revive-local-models/identity-restorer.onnx' })).toBe(
      'restorer:identity-restorer.onnx,restorer:identity-restorer',
    );
    expect(servedModelIds('/m/restorers/gfpgan-v1.4.onnx')).toEqual(['/m/restorers/gfpgan-v1.4.onnx', 'gfpgan-v1.4.onnx', 'gfpgan-v1.4']);
  });

  it('parses per job option, and is optional', () => {
    const env = apiEnvSchema.parse({ ...base, REVIVE_AVAILABLE_MODELS: formatAvailableModels({ restorer: 'gfpgan-1.4', bgUpsampler: 'efrlfn-x4' }) });
    expect(env.REVIVE_AVAILABLE_MODELS).toEqual({ restorer: ['gfpgan-1.4'], bgUpsampler: ['efrlfn-x4'] });
    expect(apiEnvSchema.parse({ ...base, REVIVE_AVAILABLE_MODELS: 'restorer:codeformer' }).REVIVE_AVAILABLE_MODELS).toEqual({ restorer: ['codeformer'], bgUpsampler: [] });
    expect(apiEnvSchema.parse(base).REVIVE_AVAILABLE_MODELS).toBeUndefined();
    // A restorer file whose name is no model id: no job can name it, only leave options.restorer out.
    expect(formatAvailableModels({ restorer: '/models/My Restorer.onnx' })).toBe('');
    expect(apiEnvSchema.parse({ ...base, REVIVE_AVAILABLE_MODELS: '' }).REVIVE_AVAILABLE_MODELS).toEqual({ restorer: [], bgUpsampler: [] });
  });

  it.each([
    ['an unknown option', 'restorer:gfpgan-1.4,detector:yunet'],
    ['an entry without an option', 'gfpgan-1.4'],
    ['a path', 'restorer:/models/gfpgan.onnx'],
  ])('refuses %s', (_name, value) => {
    expect(apiEnvSchema.safeParse({ ...base, REVIVE_AVAILABLE_MODELS: value }).success).toBe(false);
  });
});

describe('strings that become keys, URLs and message fields', () => {
  const parse = (body: unknown) => createJobRequestSchema.safeParse(body).success;

  it('refuses lone surrogates, control characters and spaces; takes any other Unicode text', () => {
    for (const bad of ['\ud800', '\udfff', 'a\ud800b', '\u0000', '\u0007', '\u007f', '\u0085', ' ', '\ufffe', '\uffff']) {
      expect(parse({ source: { uploadKey: `uploads/t/x${bad}y` } }), JSON.stringify(bad)).toBe(false);
      expect(parse({ source: { url: `https://example.com/x${bad}y` } }), JSON.stringify(bad)).toBe(false);
      expect(parse({ source: { uploadKey: 'uploads/t/x' }, webhookUrl: `https://example.com/h?q=${bad}y` }), JSON.stringify(bad)).toBe(false);
    }
    for (const good of ['\u{1f4f7}', '写真', 'é', '%20']) {
      expect(parse({ source: { uploadKey: `uploads/t/${good}` } }), good).toBe(true);
      expect(parse({ source: { url: `https://example.com/${good}` } }), good).toBe(true);
    }
    expect(isWellFormedText('\ud83d\udcf7')).toBe(true);
    expect(isWellFormedText('\udcf7\ud83d')).toBe(false);
  });
});
