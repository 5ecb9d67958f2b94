// Lambda entry of `POST /uploads/multipart` (CDK's NodejsFunction bundles this file): it wires only the bucket.
import { lambdaDeps, toHandler } from '../handler.js';
import { mediaBucketFromEnv } from '../aws/media-bucket.js';
import { createMultipartUpload } from '../handlers/create-multipart-upload.js';

export const handler = toHandler('create-multipart-upload', createMultipartUpload, lambdaDeps({ bucket: mediaBucketFromEnv }));
