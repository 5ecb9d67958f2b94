// Lambda entry of `POST /uploads/multipart/abort` (CDK's NodejsFunction bundles this file): it wires only the bucket.
import { lambdaDeps, toHandler } from '../handler.js';
import { mediaBucketFromEnv } from '../aws/media-bucket.js';
import { abortMultipartUpload } from '../handlers/abort-multipart-upload.js';

export const handler = toHandler('abort-multipart-upload', abortMultipartUpload, lambdaDeps({ bucket: mediaBucketFromEnv }));
