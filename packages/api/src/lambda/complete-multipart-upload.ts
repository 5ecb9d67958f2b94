// Lambda entry of `POST /uploads/multipart/complete` (CDK's NodejsFunction bundles this file): it wires only the bucket.
import { lambdaDeps, toHandler } from '../handler.js';
import { mediaBucketFromEnv } from '../aws/media-bucket.js';
import { completeMultipartUpload } from '../handlers/complete-multipart-upload.js';

export const handler = toHandler('complete-multipart-upload', completeMultipartUpload, lambdaDeps({ bucket: mediaBucketFromEnv }));
