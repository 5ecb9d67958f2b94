// `GET /jobs/{id}`; the Lambda entry is src/lambda/get-job.ts.
import { deliversOutput, jobIdSchema, jobResponseFromRecord, type JobRecord, type JobResponseLinks } from '@revive/contract';
import type { DepsWith, RouteLogic } from '../app.js';
import { ClientError } from '../errors.js';
import { baseUrl, json, type ApiEvent } from '../http/event.js';
import { tenantOf } from '../http/tenant.js';

/**
 * This tenant's job, or a 404. Another tenant's job is "not found" too: the API never confirms that an id exists.
 */
export async function loadTenantJob(event: ApiEvent, deps: DepsWith<'table'>, tenantId: string): Promise<JobRecord> {
  const id = event.pathParameters?.id ?? '';
  const notFound = () => new ClientError(404, 'JOB_NOT_FOUND', `No job ${id} for this tenant.`, { instance: `/jobs/${id}` });
  if (!jobIdSchema.safeParse(id).success) throw notFound();
  const record = await deps.table.get(id, deps.signal);
  if (record === undefined || record.tenantId !== tenantId) throw notFound();
  return record;
}

/** The short-lived presigned URL of a SUCCEEDED job's result, as response links. */
export async function outputLinks(record: Pick<JobRecord, 'status' | 'resultKey' | 'kind'>, deps: DepsWith<'bucket'>): Promise<Pick<JobResponseLinks, 'resultUrl' | 'resultUrlExpiresAt'>> {
  if (!deliversOutput(record) || record.resultKey === undefined) return {};
  const ttl = deps.config.REVIVE_PRESIGN_TTL_SECONDS;
  return {
    resultUrl: await deps.bucket.presignDownload(record.resultKey, ttl),
    resultUrlExpiresAt: new Date(deps.now() + ttl * 1000),
  };
}

/** `GET /jobs/{id}`. */
export const getJob: RouteLogic<DepsWith<'table' | 'bucket'>> = async (event, deps) => {
  const tenantId = tenantOf(event, deps.config);
  const record = await loadTenantJob(event, deps, tenantId);
  return json(200, jobResponseFromRecord(record, { apiBaseUrl: baseUrl(event), ...(await outputLinks(record, deps)) }), { 'cache-control': 'no-store' });
};
