import { describe, expect, it } from 'vitest';
import type { ApiEvent } from './event.js';
import { tenantOf } from './tenant.js';

const event = (claims?: Record<string, string>, headers: Record<string, string> = {}) =>
  ({ headers, requestContext: claims === undefined ? {} : { authorizer: { jwt: { claims } } } }) as unknown as ApiEvent;
const config = { REVIVE_TENANT_CLAIM: 'sub', REVIVE_LOCAL_MODE: false };
const codeOf = (fn: () => unknown) => {
  try {
    return fn();
  } catch (error) {
    return (error as { code: string }).code;
  }
};

describe('tenantOf', () => {
  it('reads the configured claim, and the header only in local mode', () => {
    expect(tenantOf(event({ sub: 'user-1' }), config)).toBe('user-1');
    expect(tenantOf(event({ sub: 'u', org: 'org|7' }), { ...config, REVIVE_TENANT_CLAIM: 'org' })).toBe('org|7');
    expect(codeOf(() => tenantOf(event(undefined, { 'x-revive-tenant': 'a' }), config))).toBe('UNAUTHENTICATED');
    expect(tenantOf(event(undefined, { 'x-revive-tenant': 'a' }), { ...config, REVIVE_LOCAL_MODE: true })).toBe('a');
    // Claims win over the header even in local mode.
    expect(tenantOf(event({ sub: 'jwt' }, { 'x-revive-tenant': 'hdr' }), { ...config, REVIVE_LOCAL_MODE: true })).toBe('jwt');
  });

  it('refuses missing and malformed tenants with 401', () => {
    expect(codeOf(() => tenantOf(event({}), config))).toBe('UNAUTHENTICATED');
    expect(codeOf(() => tenantOf(event({ sub: 'a/b' }), config))).toBe('UNAUTHENTICATED');
    expect(codeOf(() => tenantOf(event({ sub: 'x'.repeat(129) }), config))).toBe('UNAUTHENTICATED');
  });
  it('refuses . and .. (not one path segment) in claims and in the local header', () => {
    for (const id of ['.', '..']) {
      expect(codeOf(() => tenantOf(event({ sub: id }), config))).toBe('UNAUTHENTICATED');
      expect(codeOf(() => tenantOf(event(undefined, { 'x-revive-tenant': id }), { ...config, REVIVE_LOCAL_MODE: true }))).toBe('UNAUTHENTICATED');
    }
    expect(tenantOf(event({ sub: 'a..b' }), config)).toBe('a..b');
  });
});
