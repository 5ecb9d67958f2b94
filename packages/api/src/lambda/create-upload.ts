// Lambda entry of `POST /uploads` (CDK's NodejsFunction bundles this file): it wires only the adapters the route
// uses, so the bundle carries only their SDK clients.
import { lambdaDeps, toHandler } from '../handler.js';
import { mediaBucketFromEnv } from '../aws/media-bucket.js';
import { createUpload } from '../handlers/create-upload.js';

export const handler = toHandler('create-upload', createUpload, lambdaDeps({ bucket: mediaBucketFromEnv }));
