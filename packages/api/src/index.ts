export * from './app.js';
export * from './config.js';
export * from './errors.js';
export * from './routes.js';
export { buildOpenApiDocument } from './openapi.js';
export type { ApiEvent, ApiResult } from './http/event.js';
export { problemResult } from './http/problem.js';
export { toSweepHandler, type SweepOptions } from './handlers/sweep-enqueue.js';
export { MediaBucket } from './aws/media-bucket.js';
