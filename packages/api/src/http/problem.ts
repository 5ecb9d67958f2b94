import { STATUS_CODES } from 'node:http';
import type { ApiErrorCode, Problem } from '@revive/contract';
import type { ApiError } from '../errors.js';
import type { ApiResult } from './event.js';

/** RFC 9457's media type. */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** The problem type URI of a code: stable, so clients may also branch on `type`. */
export function problemType(code: ApiErrorCode): string {
  return `urn:revive:problem:${code.toLowerCase().replaceAll('_', '-')}`;
}

/** A problem+json answer. */
export function problemResult(
  status: number,
  code: ApiErrorCode,
  detail: string,
  extra: Pick<Problem, 'errors' | 'instance' | 'retryable'> & { headers?: Record<string, string> | undefined } = {},
): ApiResult {
  const body: Problem = {
    type: problemType(code),
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail,
    code,
    ...(extra.instance === undefined ? {} : { instance: extra.instance }),
    ...(extra.errors === undefined ? {} : { errors: extra.errors }),
    ...(extra.retryable === undefined ? {} : { retryable: extra.retryable }),
  };
  return { statusCode: status, headers: { 'content-type': PROBLEM_CONTENT_TYPE, ...extra.headers }, body: JSON.stringify(body) };
}

/** The problem+json answer for an ApiError. */
export function problemFromError(error: ApiError): ApiResult {
  return problemResult(error.status, error.code, error.message, {
    ...(error.errors === undefined ? {} : { errors: [...error.errors] }),
    ...(error.instance === undefined ? {} : { instance: error.instance }),
    retryable: error.retryable,
    headers: error.headers,
  });
}
