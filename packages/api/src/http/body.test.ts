import { createJobRequestSchema } from '@revive/contract';
import { describe, expect, it } from 'vitest';
import { apiEvent } from '../../test/helpers.js';
import { ApiError } from '../errors.js';
import { parseJsonBody } from './body.js';
import { header } from './event.js';

const body = { source: { uploadKey: 'uploads/t/x' } };

/** The ApiError `run` throws, as status and code. */
function refusal(run: () => unknown): { status: number; code: string; headers?: Record<string, string> | undefined } {
  try {
    run();
  } catch (error) {
    if (error instanceof ApiError) return { status: error.status, code: error.code, headers: error.headers };
    throw error;
  }
  throw new Error('expected a refusal');
}

const parse = (headers: Record<string, string>, raw: unknown = body) => parseJsonBody(apiEvent({ method: 'POST', path: '/jobs', body: raw, headers }), createJobRequestSchema);

describe('parseJsonBody: how the body is encoded', () => {
  it('refuses any Content-Encoding but identity with 415 UNSUPPORTED_CONTENT_ENCODING', () => {
    for (const encoding of ['gzip', 'br', 'deflate', 'GZIP', 'gzip, identity']) {
      expect(refusal(() => parse({ 'content-encoding': encoding })), encoding).toMatchObject({
        status: 415,
        code: 'UNSUPPORTED_CONTENT_ENCODING',
        headers: { 'accept-encoding': 'identity' },
      });
    }
    expect(parse({ 'content-encoding': 'identity' })).toMatchObject(body);
  });

  it('refuses JSON in a charset other than UTF-8 with 415 UNSUPPORTED_MEDIA_TYPE', () => {
    for (const type of ['application/json; charset=utf-16', 'application/json;charset=UTF-16LE', 'application/json; charset="iso-8859-1"', 'application/json; charset=us-ascii']) {
      expect(refusal(() => parse({ 'content-type': type })), type).toMatchObject({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
    }
    for (const type of ['application/json', 'application/json; charset=utf-8', 'application/json; charset="UTF-8"', 'application/json;charset=utf8', 'application/problem+json']) {
      expect(parse({ 'content-type': type }), type).toMatchObject(body);
    }
  });

  it('refuses bytes that are not UTF-8 (400 MALFORMED_JSON) and reads a UTF-8 byte order mark', () => {
    const bytes = (b: Buffer) => ({ ...apiEvent({ method: 'POST', path: '/jobs' }), body: b.toString('base64'), isBase64Encoded: true });
    const json = Buffer.from(JSON.stringify(body));
    // UTF-16LE of the same JSON: what charset=utf-16 would have sent.
    for (const b of [Buffer.from(JSON.stringify(body), 'utf16le'), Buffer.concat([json.subarray(0, 20), Buffer.from([0xff]), json.subarray(20)])]) {
      expect(refusal(() => parseJsonBody(bytes(b), createJobRequestSchema))).toMatchObject({ status: 400, code: 'MALFORMED_JSON' });
    }
    expect(parseJsonBody(bytes(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), json])), createJobRequestSchema)).toMatchObject(body);
  });

  it('refuses lone surrogates in keys and URLs with 400 VALIDATION_FAILED', () => {
    for (const raw of [
      '{"source":{"uploadKey":"uploads/demo/\\ud800"}}',
      '{"source":{"uploadKey":"uploads/demo/\\udfff"}}',
      '{"source":{"url":"https://example.com/\\ud800.jpg"}}',
      '{"source":{"uploadKey":"uploads/demo/x"},"webhookUrl":"https://example.com/\\udfff"}',
    ]) {
      expect(refusal(() => parse({}, raw)), raw).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
    }
    expect(parse({}, '{"source":{"uploadKey":"uploads/demo/\\ud83d\\udcf7"}}')).toEqual({ source: { uploadKey: 'uploads/demo/\u{1f4f7}' } });
  });
});

describe('header', () => {
  it('refuses a value with a lone surrogate (400 VALIDATION_FAILED) and finds names whatever their case', () => {
    const event = apiEvent({ method: 'GET', path: '/jobs', headers: { 'Idempotency-Key': 'key-\ud800', 'X-Other': 'fine' } });
    expect(refusal(() => header(event, 'idempotency-key'))).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
    expect(header(event, 'x-other')).toBe('fine');
    expect(header(event, 'absent')).toBeUndefined();
  });
});
