export * from './app.js';
export * from './config.js';
export * from './errors.js';
export * from './routes.js';
export { buildOpenApiDocument } from './openapi.js';
export type { ApiEvent, ApiResult } from './http/event.js';
