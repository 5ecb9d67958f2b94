import { API_ERROR_CODES as CONTRACT_CODES } from '@revive/contract';
import { describe, expect, it } from 'vitest';
import { API_ERROR_CODES, errorFromResponse, parseRetryAfter, ReviveError } from './errors.js';

describe('ReviveError', () => {
  it("knows every code of the contract's list, and nothing else", () => {
    expect([...API_ERROR_CODES].sort()).toEqual([...CONTRACT_CODES].sort());
  });

  it('reads problem+json: code, detail, per-field errors, Retry-After, retryable', async () => {
    const res = new Response(JSON.stringify({ type: 'about:blank', title: 'Service Unavailable', status: 503, code: 'ENQUEUE_FAILED', detail: 'queue down' }), {
      status: 503,
      headers: { 'content-type': 'application/problem+json', 'retry-after': '2' },
    });
    const error = await errorFromResponse(res);
    expect(error).toBeInstanceOf(ReviveError);
    expect(error).toMatchObject({ status: 503, code: 'ENQUEUE_FAILED', detail: 'queue down', retryable: true, retryAfterSeconds: 2 });
    const invalid = await errorFromResponse(
      new Response(JSON.stringify({ title: 'Bad', status: 400, code: 'VALIDATION_FAILED', errors: [{ path: 'options.upscale', message: 'too big' }] }), { status: 400 }),
    );
    expect(invalid).toMatchObject({ code: 'VALIDATION_FAILED', detail: 'Bad', retryable: false });
    expect(invalid.errors).toEqual([{ path: 'options.upscale', message: 'too big' }]);
  });

  it("maps API Gateway's own bodies (authorizer, throttling) and non-JSON answers by status", async () => {
    expect(await errorFromResponse(new Response('{"message":"Unauthorized"}', { status: 401 }))).toMatchObject({ code: 'UNAUTHENTICATED', detail: 'Unauthorized' });
    expect(await errorFromResponse(new Response('{"message":"Too Many Requests"}', { status: 429 }))).toMatchObject({ code: 'RATE_LIMITED', retryable: true });
    expect(await errorFromResponse(new Response('<html>Bad Gateway</html>', { status: 502 }))).toMatchObject({ code: 'HTTP_ERROR', retryable: true });
    expect(await errorFromResponse(new Response('{"code":"SOMETHING_NEW"}', { status: 400 }))).toMatchObject({ code: 'HTTP_ERROR', retryable: false });
  });

  it('calls every 502/503/504 retryable whatever its code (a DynamoDB throttle is 503 INTERNAL), and a 500 not', async () => {
    const answer = (status: number, code: string) =>
      errorFromResponse(new Response(JSON.stringify({ title: 't', status, code }), { status, headers: { 'content-type': 'application/problem+json', 'retry-after': '1' } }));
    expect(await answer(503, 'INTERNAL')).toMatchObject({ code: 'INTERNAL', status: 503, retryable: true, retryAfterSeconds: 1 });
    expect(await answer(502, 'INTERNAL')).toMatchObject({ code: 'INTERNAL', retryable: true });
    expect(await answer(504, 'INTERNAL')).toMatchObject({ code: 'INTERNAL', retryable: true });
    expect(await answer(500, 'INTERNAL')).toMatchObject({ code: 'INTERNAL', retryable: false });
  });

  it('retries a stalled service: SERVICE_UNAVAILABLE, and JOB_STATE_UNKNOWN (jobs.create sends the same Idempotency-Key)', async () => {
    const answer = (status: number, code: string) => errorFromResponse(new Response(JSON.stringify({ title: 't', status, code, retryable: true }), { status }));
    expect(await answer(503, 'SERVICE_UNAVAILABLE')).toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryable: true });
    expect(await answer(503, 'JOB_STATE_UNKNOWN')).toMatchObject({ code: 'JOB_STATE_UNKNOWN', retryable: true });
    expect(await answer(422, 'UNSUPPORTED_MODEL')).toMatchObject({ code: 'UNSUPPORTED_MODEL', retryable: false });
    expect(await answer(415, 'UNSUPPORTED_CONTENT_ENCODING')).toMatchObject({ code: 'UNSUPPORTED_CONTENT_ENCODING', retryable: false });
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('3')).toBe(3);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5);
  });
});
