// Lambda entry of `POST /uploads/multipart/parts` (CDK's NodejsFunction bundles this file): it wires only the bucket.
import { lambdaDeps, toHandler } from '../handler.js';
import { mediaBucketFromEnv } from '../aws/media-bucket.js';
import { signMultipartUploadParts } from '../handlers/sign-multipart-upload-parts.js';

export const handler = toHandler('sign-multipart-upload-parts', signMultipartUploadParts, lambdaDeps({ bucket: mediaBucketFromEnv }));
