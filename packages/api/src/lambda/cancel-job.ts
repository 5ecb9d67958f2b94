// Lambda entry of `DELETE /jobs/{id}` (CDK's NodejsFunction bundles this file): it wires only the adapters the route
// uses, so the bundle carries only their SDK clients.
import { lambdaDeps, toHandler } from '../handler.js';
import { jobTableFromEnv } from '../aws/job-table.js';
import { cancelJob } from '../handlers/cancel-job.js';

export const handler = toHandler('cancel-job', cancelJob, lambdaDeps({ table: jobTableFromEnv }));
