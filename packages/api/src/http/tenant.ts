import { tenantIdSchema } from '@revive/contract';
import type { ApiConfig } from '../config.js';
import { ClientError } from '../errors.js';
import { header, type ApiEvent } from './event.js';

/** Header that stands in for the authorizer in local mode only. */
export const LOCAL_TENANT_HEADER = 'x-revive-tenant';

/**
 * The caller's tenant: the configured JWT claim from API Gateway's authorizer; in local mode (never in AWS) the
 * x-revive-tenant header when there are no claims. Everything a handler reads or writes is scoped to it.
 */
export function tenantOf(event: ApiEvent, config: Pick<ApiConfig, 'REVIVE_TENANT_CLAIM' | 'REVIVE_LOCAL_MODE'>): string {
  const claim = event.requestContext.authorizer?.jwt?.claims?.[config.REVIVE_TENANT_CLAIM];
  let raw: string | undefined;
  let from: string;
  if (claim !== undefined && claim !== '') {
    raw = String(claim);
    from = `JWT claim ${config.REVIVE_TENANT_CLAIM}`;
  } else if (config.REVIVE_LOCAL_MODE) {
    raw = header(event, LOCAL_TENANT_HEADER);
    from = `${LOCAL_TENANT_HEADER} header`;
  } else {
    from = `JWT claim ${config.REVIVE_TENANT_CLAIM}`;
  }
  if (raw === undefined || raw === '') {
    throw new ClientError(401, 'UNAUTHENTICATED', `No tenant: the request has no ${from}.`, {
      headers: { 'www-authenticate': 'Bearer' },
    });
  }
  const parsed = tenantIdSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ClientError(401, 'UNAUTHENTICATED', `The ${from} is not a valid tenant id (${parsed.error.issues[0]?.message ?? 'invalid'}).`);
  }
  return parsed.data;
}
