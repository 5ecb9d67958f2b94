// `GET /jobs/{id}/children`; the Lambda entry is src/lambda/list-children.ts.
import { childJobId, listJobsQuerySchema } from '@revive/contract';
import { z } from 'zod';
import type { DepsWith, RouteLogic } from '../app.js';
import { ClientError } from '../errors.js';
import { validationError } from '../http/body.js';
import { baseUrl, json } from '../http/event.js';
import { tenantOf } from '../http/tenant.js';
import { jobResponseFromRecord } from '@revive/contract';
import { loadTenantJob, outputLinks } from './get-job.js';

/** The cursor is the next child's index, with the parent's id so it is not taken for another parent's. */
const cursorSchema = z.strictObject({ parent: z.string(), next: z.number().int().positive() });

function decodeCursor(cursor: string, parent: string): number {
  let parsed;
  try {
    parsed = cursorSchema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    parsed = undefined;
  }
  if (!parsed?.success || parsed.data.parent !== parent) throw new ClientError(400, 'INVALID_CURSOR', 'cursor is not a next_cursor this API returned for this job.');
  return parsed.data.next;
}

/**
 * `GET /jobs/{id}/children?limit=&cursor=`: a parent's children in their order (an album's photos as the request
 * listed them, a video's segments). Child ids derive from the parent's (childJobId), so a page is one BatchGetItem.
 */
export const listChildren: RouteLogic<DepsWith<'table' | 'bucket'>> = async (event, deps) => {
  const tenantId = tenantOf(event, deps.config);
  const parent = await loadTenantJob(event, deps, tenantId);
  const query = listJobsQuerySchema.safeParse(event.queryStringParameters ?? {});
  if (!query.success) throw validationError(query.error, 'Invalid query string');
  const total = parent.childrenTotal ?? 0;
  const start = query.data.cursor === undefined ? 0 : decodeCursor(query.data.cursor, parent.jobId);
  const end = Math.min(total, start + query.data.limit);
  const ids = Array.from({ length: Math.max(0, end - start) }, (_, i) => childJobId(parent.jobId, start + i));
  const records = await deps.table.getMany(ids, deps.signal);
  const base = baseUrl(event);
  const nowMs = deps.now();
  const jobs = await Promise.all(
    ids.flatMap((id) => {
      const child = records.get(id);
      return child === undefined || child.tenantId !== tenantId ? [] : [(async () => jobResponseFromRecord(child, { apiBaseUrl: base, nowMs, ...(await outputLinks(child, deps)) }))()];
    }),
  );
  const next = end < total ? Buffer.from(JSON.stringify({ parent: parent.jobId, next: end })).toString('base64url') : null;
  return json(200, { jobs, next_cursor: next }, { 'cache-control': 'no-store' });
};
