// Lambda entry of `GET /jobs/{id}/children` (CDK's NodejsFunction bundles this file).
import { lambdaDeps, toHandler } from '../handler.js';
import { jobTableFromEnv } from '../aws/job-table.js';
import { mediaBucketFromEnv } from '../aws/media-bucket.js';
import { listChildren } from '../handlers/list-children.js';

export const handler = toHandler('list-children', listChildren, lambdaDeps({ table: jobTableFromEnv, bucket: mediaBucketFromEnv }));
