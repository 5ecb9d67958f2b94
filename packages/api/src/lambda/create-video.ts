// Lambda entry of `POST /videos` (CDK's NodejsFunction bundles this file).
import { lambdaDeps, toHandler } from '../handler.js';
import { jobTableFromEnv } from '../aws/job-table.js';
import { jobQueueFromEnv } from '../aws/job-queue.js';
import { mediaBucketFromEnv } from '../aws/media-bucket.js';
import { createVideo } from '../handlers/create-video.js';

export const handler = toHandler('create-video', createVideo, lambdaDeps({ table: jobTableFromEnv, queue: jobQueueFromEnv, bucket: mediaBucketFromEnv }));
