import { describe, expect, it } from 'vitest';
import { API_ERROR_STATUSES, API_ROUTES, IDEMPOTENCY_KEY_PATTERN } from './index.js';

const key = (route: { method: string; path: string }) => `${route.method} ${route.path}`;

describe('the route table', () => {
  it('names each route and operationId once', () => {
    expect(new Set(API_ROUTES.map(key)).size).toBe(API_ROUTES.length);
    expect(new Set(API_ROUTES.map((route) => route.operationId)).size).toBe(API_ROUTES.length);
  });

  it.each(API_ROUTES.map((route) => [key(route), route] as const))('%s declares exactly the parameters in its path', (_key, route) => {
    const inPath = [...route.path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]);
    expect(Object.keys(route.pathParameters?.shape ?? {}).sort()).toEqual(inPath.sort());
  });

  it.each(API_ROUTES.map((route) => [key(route), route] as const))('%s documents each error under a status its code has', (_key, route) => {
    for (const error of route.errors) expect(API_ERROR_STATUSES[error.code] as readonly number[], error.code).toContain(error.status);
    expect(new Set(route.errors.map((error) => `${error.status} ${error.code}`)).size, 'no error twice').toBe(route.errors.length);
  });

  it('documents what every handler can answer: a bug; a missing tenant behind the authorizer; a bad body where there is one', () => {
    for (const route of API_ROUTES) {
      const codes = route.errors.map((error) => `${error.status} ${error.code}`);
      expect(codes, key(route)).toContain('500 INTERNAL');
      if (!route.public) expect(codes, key(route)).toContain('401 UNAUTHENTICATED');
      if (route.requestBody !== undefined) {
        expect(codes, key(route)).toEqual(expect.arrayContaining(['400 MALFORMED_JSON', '400 VALIDATION_FAILED', '400 UNKNOWN_FIELD', '413 PAYLOAD_TOO_LARGE', '415 UNSUPPORTED_MEDIA_TYPE']));
      }
    }
  });

  it('leaves only the OpenAPI document public', () => {
    expect(API_ROUTES.filter((route) => route.public).map(key)).toEqual(['GET /openapi.json']);
  });
});

describe('IDEMPOTENCY_KEY_PATTERN', () => {
  it('accepts 1 to 255 printable ASCII characters without spaces', () => {
    for (const good of ['a', crypto.randomUUID(), 'x'.repeat(255), '~!"#$%&()*+,-./:;<=>?@[]^_`{|}']) expect(IDEMPOTENCY_KEY_PATTERN.test(good), good).toBe(true);
    for (const bad of ['', 'x'.repeat(256), 'a b', 'tab\t', 'é', 'line\n']) expect(IDEMPOTENCY_KEY_PATTERN.test(bad), JSON.stringify(bad)).toBe(false);
  });
});
