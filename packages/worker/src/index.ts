export * from './errors.js';
export * from './pipeline/types.js';
export * from './pipeline/pipeline.js';
