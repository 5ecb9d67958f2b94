// The vitest ProvidedContext augmentation for inject('localAws').
import type {} from '@revive/local-aws/vitest-setup';
import { API_ROUTES, type ApiRoute, type Problem } from '@revive/contract';
import { expect } from 'vitest';
import type { ApiHandler } from '../src/app.js';
import type { ApiEvent, JwtClaims } from '../src/http/event.js';
import { PROBLEM_CONTENT_TYPE } from '../src/http/problem.js';

/** Options of a synthetic API Gateway v2 event, shaped as API Gateway sends it. */
export interface EventOptions {
  readonly method: string;
  readonly path: string;
  readonly pathParameters?: Record<string, string>;
  readonly query?: Record<string, string>;
  readonly headers?: Record<string, string>;
  /** A value is sent as JSON; a string as is. */
  readonly body?: unknown;
  /** JWT claims from the authorizer; omitted means no authorizer context. */
  readonly claims?: JwtClaims;
}

/** An HTTP API payload 2.0 event for a handler, as API Gateway would build it. */
export function apiEvent(options: EventOptions): ApiEvent {
  const body = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const headers = { 'content-type': 'application/json', 'x-forwarded-proto': 'https', ...options.headers };
  const routeKey = `${options.method} ${options.path}`;
  return {
    version: '2.0',
    routeKey,
    rawPath: options.path,
    rawQueryString: new URLSearchParams(options.query ?? {}).toString(),
    headers,
    ...(options.query === undefined ? {} : { queryStringParameters: options.query }),
    ...(options.pathParameters === undefined ? {} : { pathParameters: options.pathParameters }),
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'api.example.test',
      domainPrefix: 'api',
      http: { method: options.method, path: options.path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.9', userAgent: 'test' },
      requestId: 'req',
      routeKey,
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
      ...(options.claims === undefined ? {} : { authorizer: { jwt: { claims: options.claims, scopes: null } } }),
    },
    ...(body === undefined ? {} : { body }),
    isBase64Encoded: false,
  };
}

/** Parses a handler's JSON body. */
export function bodyOf<T = Record<string, unknown>>(result: { body?: string | undefined }): T {
  return JSON.parse(result.body ?? 'null') as T;
}

/**
 * The handlers, each checking every problem+json answer it gives against what its routes document in contract's
 * API_ROUTES (and so in the OpenAPI document): a test that makes a handler answer a code, or a status, that the
 * document does not list fails there.
 */
export function documentedHandlers(handlers: Record<ApiRoute['handler'], ApiHandler>): Record<ApiRoute['handler'], ApiHandler> {
  const entries = Object.entries(handlers).map(([name, handler]) => {
    const documented = API_ROUTES.filter((route) => route.handler === name).flatMap((route) => route.errors.map((error) => `${error.status} ${error.code}`));
    const checked: ApiHandler = async (event, context) => {
      const result = await handler(event, context);
      if (result.headers?.['content-type'] === PROBLEM_CONTENT_TYPE) {
        const answered = `${result.statusCode} ${bodyOf<Problem>(result).code}`;
        expect(documented, `${name} answered ${answered}, which API_ROUTES does not document for it`).toContain(answered);
      }
      return result;
    };
    return [name, checked] as const;
  });
  return Object.fromEntries(entries) as Record<ApiRoute['handler'], ApiHandler>;
}
