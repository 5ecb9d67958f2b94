export * from './job.js';
export * from './storage.js';
export * from './env.js';
export * from './api.js';
export * from './webhook.js';
export * from './health.js';
export * from './url-policy.js';
export * from './api-routes.js';
