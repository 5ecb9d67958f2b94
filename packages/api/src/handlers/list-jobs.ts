// `GET /jobs`; the Lambda entry is src/lambda/list-jobs.ts.
import { jobIdSchema, jobResponseFromRecord, listJobsQuerySchema, tenantIdSchema } from '@revive/contract';
import { z } from 'zod';
import type { DepsWith, RouteLogic } from '../app.js';
import type { TenantPageKey } from '../aws/job-table.js';
import { ClientError } from '../errors.js';
import { validationError } from '../http/body.js';
import { baseUrl, json } from '../http/event.js';
import { tenantOf } from '../http/tenant.js';
import { outputLinks } from './get-job.js';

/** A decoded cursor must be a key the index could have returned: an empty or malformed key would reach DynamoDB. */
const cursorSchema = z.strictObject({ jobId: jobIdSchema, tenantId: tenantIdSchema, createdAt: z.iso.datetime() });

/** The cursor is the index's LastEvaluatedKey, base64url-encoded: opaque to clients, checked on the way back. */
function encodeCursor(key: TenantPageKey): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

function decodeCursor(cursor: string, tenantId: string): TenantPageKey {
  let parsed: z.ZodSafeParseResult<TenantPageKey> | undefined;
  try {
    parsed = cursorSchema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    parsed = undefined;
  }
  if (!parsed?.success || parsed.data.tenantId !== tenantId) {
    throw new ClientError(400, 'INVALID_CURSOR', 'cursor is not a next_cursor this API returned to you.');
  }
  return parsed.data;
}

/** `GET /jobs?limit=&cursor=`: the caller's jobs, newest first. */
export const listJobs: RouteLogic<DepsWith<'table' | 'bucket'>> = async (event, deps) => {
  const tenantId = tenantOf(event, deps.config);
  const query = listJobsQuerySchema.safeParse(event.queryStringParameters ?? {});
  if (!query.success) throw validationError(query.error, 'Invalid query string');
  const start = query.data.cursor === undefined ? undefined : decodeCursor(query.data.cursor, tenantId);
  const page = await deps.table.listByTenant(tenantId, query.data.limit, start, deps.signal);
  const base = baseUrl(event);
  // Presigning is a local signature (no call to S3): listed SUCCEEDED jobs carry output.url, so a list can show thumbnails.
  // The index projects what a photo shows; an album's or a video's kind and progress, and a photo's album, are only in
  // the records (a projection holds at most 20 attributes, and changing it means a new index): one BatchGetItem for
  // the page. A record missing (its TTL ran between the two reads) is shown as the index has it.
  const records = await deps.table.getMany(page.jobs.map((item) => item.jobId), deps.signal);
  const jobs = await Promise.all(
    page.jobs.map(async (item) => {
      const record = records.get(item.jobId) ?? item;
      return jobResponseFromRecord(record, { apiBaseUrl: base, ...(await outputLinks(record, deps)) });
    }),
  );
  return json(
    200,
    { jobs, next_cursor: page.lastKey === undefined ? null : encodeCursor(page.lastKey) },
    { 'cache-control': 'no-store' },
  );
};
