// Lambda entry of `POST /albums` (CDK's NodejsFunction bundles this file).
import { lambdaDeps, toHandler } from '../handler.js';
import { jobTableFromEnv } from '../aws/job-table.js';
import { jobQueueFromEnv } from '../aws/job-queue.js';
import { mediaBucketFromEnv } from '../aws/media-bucket.js';
import { createAlbum } from '../handlers/create-album.js';

export const handler = toHandler('create-album', createAlbum, lambdaDeps({ table: jobTableFromEnv, queue: jobQueueFromEnv, bucket: mediaBucketFromEnv }));
