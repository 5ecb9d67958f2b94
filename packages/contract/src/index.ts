export * from './job.js';
export * from './storage.js';
export * from './env.js';
