// Lambda entry of `GET /jobs` (CDK's NodejsFunction bundles this file): it wires only the adapters the route
// uses, so the bundle carries only their SDK clients.
import { lambdaDeps, toHandler } from '../handler.js';
import { jobTableFromEnv } from '../aws/job-table.js';
import { mediaBucketFromEnv } from '../aws/media-bucket.js';
import { listJobs } from '../handlers/list-jobs.js';

export const handler = toHandler('list-jobs', listJobs, lambdaDeps({ table: jobTableFromEnv, bucket: mediaBucketFromEnv }));
