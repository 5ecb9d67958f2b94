/**
 * `@revive/client`: the Revive job API from a browser or Node 20+ (fetch, FormData, Blob; no runtime dependencies).
 * Its types are the API's bodies, checked against the schemas the API itself validates with.
 */
export * from './client.js';
export * from './errors.js';
export * from './webhook.js';
export type * from './types.js';
