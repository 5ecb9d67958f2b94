// Lambda entry of the enqueue sweeper (an EventBridge schedule; CDK's NodejsFunction bundles this file): the table
// and the queue, no S3 client.
import { jobQueueFromEnv } from '../aws/job-queue.js';
import { jobTableFromEnv } from '../aws/job-table.js';
import { lambdaDeps } from '../handler.js';
import { toSweepHandler } from '../handlers/sweep-enqueue.js';

export const handler = toSweepHandler(lambdaDeps({ table: jobTableFromEnv, queue: jobQueueFromEnv }));
