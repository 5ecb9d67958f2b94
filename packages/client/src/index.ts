/**
 * `@revive/client`: the Revive job API from a browser or Node 20+ (fetch, FormData, Blob; no runtime dependencies).
 * Types come from `@revive/contract`, the schemas the API itself validates with.
 */
export * from './client.js';
export * from './errors.js';
export * from './webhook.js';
export type {
  ApiErrorCode,
  CreateJobSource,
  CreateUploadResponse,
  JobErrorCode,
  JobFace,
  JobListResponse,
  JobOptionsInput,
  JobResponse,
  JobStatus,
  Problem,
} from '@revive/contract';
