import type { ApiDeps, ApiHandler, RouteLogic } from './app.js';
import { toHandler } from './app.js';
import type { HandlerOptions } from './handler.js';
import { abortMultipartUpload } from './handlers/abort-multipart-upload.js';
import { cancelJob } from './handlers/cancel-job.js';
import { completeMultipartUpload } from './handlers/complete-multipart-upload.js';
import { createAlbum } from './handlers/create-album.js';
import { createJob } from './handlers/create-job.js';
import { createMultipartUpload } from './handlers/create-multipart-upload.js';
import { createVideo } from './handlers/create-video.js';
import { createUpload } from './handlers/create-upload.js';
import { getJob } from './handlers/get-job.js';
import { listChildren } from './handlers/list-children.js';
import { listJobs } from './handlers/list-jobs.js';
import { serveOpenApi } from './handlers/openapi.js';
import { signMultipartUploadParts } from './handlers/sign-multipart-upload-parts.js';
import { buildOpenApiDocument } from './openapi.js';
import type { ApiRoute } from '@revive/contract';

/** Route logic by handler file name: the same functions the Lambda entry points export as `handler`. */
export const ROUTE_LOGIC: Record<ApiRoute['handler'], RouteLogic> = {
  'create-upload': createUpload,
  'create-multipart-upload': createMultipartUpload,
  'complete-multipart-upload': completeMultipartUpload,
  'abort-multipart-upload': abortMultipartUpload,
  'sign-multipart-upload-parts': signMultipartUploadParts,
  'create-job': createJob,
  'create-video': createVideo,
  'create-album': createAlbum,
  'get-job': getJob,
  'list-jobs': listJobs,
  'list-children': listChildren,
  'cancel-job': cancelJob,
  // Built once, when the local server or a test loads the routes; the Lambda serves the one built at bundling time.
  openapi: serveOpenApi(buildOpenApiDocument()),
};

/** Every route's handler bound to one set of deps (the local server, tests). */
export function bindHandlers(deps: ApiDeps, options: HandlerOptions = {}): Record<ApiRoute['handler'], ApiHandler> {
  const entries = Object.entries(ROUTE_LOGIC).map(([name, logic]) => [name, toHandler(name, logic, () => deps, options)] as const);
  return Object.fromEntries(entries) as Record<ApiRoute['handler'], ApiHandler>;
}
