// Helpers for tests and benches of any package: shared test data, generated contract-shaped models, image metrics.
// Never imported by product code.
export * from './shared-dir.js';
export * from './models.js';
export * from './metrics.js';
export * from './photos.js';
export * from './header-bombs.js';
/** Flat images of any size (decompression bombs, format-limit cases) for other packages' tests. */
export { writeSolidImage } from '../image.js';
export * from './videos.js';
