// @revive/pipeline/video: videos through the photo pipeline, one step per file: ffmpeg's location, probing, the frame
// pipes, face tracking and smoothing, segments, assembly, and the segment / whole-video drivers.
export * from './ffmpeg-binary.js';
export * from './probe.js';
export * from './frames.js';
export * from './tracking.js';
export * from './segments.js';
export * from './assemble.js';
export * from './restore-video.js';
