export * from './shared-dir.js';
export * from './models.js';
export * from './metrics.js';
