// Lambda entry of `POST /jobs` (CDK's NodejsFunction bundles this file): it wires only the adapters the route
// uses, so the bundle carries only their SDK clients.
import { lambdaDeps, toHandler } from '../handler.js';
import { jobTableFromEnv } from '../aws/job-table.js';
import { jobQueueFromEnv } from '../aws/job-queue.js';
import { mediaBucketFromEnv } from '../aws/media-bucket.js';
import { createJob } from '../handlers/create-job.js';

export const handler = toHandler('create-job', createJob, lambdaDeps({ table: jobTableFromEnv, queue: jobQueueFromEnv, bucket: mediaBucketFromEnv }));
