export * from './emulators.js';
export * from './resources.js';
