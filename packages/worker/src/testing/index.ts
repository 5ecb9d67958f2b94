export * from './shared-dir.js';
export * from './models.js';
export * from './metrics.js';
/** Flat images of any size (decompression bombs, format-limit cases) for other packages' tests. */
export { writeSolidImage } from '../pipeline/image.js';
