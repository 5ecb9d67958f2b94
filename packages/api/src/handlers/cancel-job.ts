// `DELETE /jobs/{id}`; the Lambda entry is src/lambda/cancel-job.ts.
import { API_METRICS, jobResponseFromRecord } from '@revive/contract';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { DepsWith, RouteLogic } from '../app.js';
import { ClientError } from '../errors.js';
import { baseUrl, json } from '../http/event.js';
import { tenantOf } from '../http/tenant.js';
import { loadTenantJob } from './get-job.js';

/** `DELETE /jobs/{id}`: QUEUED → CANCELED (conditional); the worker skips CANCELED jobs. Other states: 409. */
export const cancelJob: RouteLogic<DepsWith<'table'>> = async (event, deps) => {
  const tenantId = tenantOf(event, deps.config);
  const record = await loadTenantJob(event, deps, tenantId);
  const nowIso = new Date(deps.now()).toISOString();
  // An album or a video may be canceled while it runs: its children not started yet are skipped.
  const parent = record.kind === 'album' || record.kind === 'video';
  const open = record.status === 'QUEUED' || (parent && record.status === 'RUNNING');
  let canceled = !open ? undefined : parent ? await deps.table.cancelParent(tenantId, record.jobId, nowIso, deps.signal) : await deps.table.cancelQueued(tenantId, record.jobId, nowIso, deps.signal);
  if (canceled === undefined) {
    // Either it was not QUEUED, or the worker started it between the read and the conditional update, or the SDK's
    // first attempt of this very update was applied but timed out (then the job is CANCELED at our time).
    const current = (await deps.table.get(record.jobId, deps.signal)) ?? record;
    const ours = open && current.status === 'CANCELED' && current.finishedAt === nowIso;
    if (!ours) {
      throw new ClientError(409, 'JOB_NOT_CANCELABLE', `Job ${record.jobId} is ${current.status}; only QUEUED jobs, and QUEUED or RUNNING albums and videos, can be canceled.`, {
        instance: `/jobs/${record.jobId}`,
      });
    }
    canceled = current;
  }
  deps.metrics.addMetric(API_METRICS.jobsCanceled, MetricUnit.Count, 1);
  return json(200, jobResponseFromRecord(canceled, { apiBaseUrl: baseUrl(event) }));
};
