/**
 * Data that flows through the pipeline: decode → detect → align → restore → paste → encode.
 * Every stage takes these plain values and returns new ones; no stage mutates its input.
 */

/** 8-bit RGB pixels, interleaved, row-major: `data.length === width * height * 3`. */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** An x, y position in pixels. Pixel (i, j) covers [i, i+1) × [j, j+1); its centre is (i+0.5, j+0.5). */
export type Point = readonly [x: number, y: number];

/** Left eye, right eye, nose tip, left mouth corner, right mouth corner (left/right as seen in the image). */
export type Landmarks5 = readonly [Point, Point, Point, Point, Point];

/** One detected face, in the decoded image's pixel coordinates. */
export interface DetectedFace {
  /** x1, y1, x2, y2 */
  readonly box: readonly [number, number, number, number];
  readonly score: number;
  readonly landmarks: Landmarks5;
}

/**
 * A 2×3 affine matrix [a, b, c, d, e, f] mapping (x, y) to (a·x + b·y + c, d·x + e·y + f), in the same continuous
 * coordinates as `Point` (pixel centres at i + 0.5). Align, paste and the resampling kernels all use it.
 */
export type Affine = readonly [number, number, number, number, number, number];

/** Input formats the decoder knows; `other` covers formats sharp reads but Revive never writes (tiff, gif, avif…). */
export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'other';

/** Output encodings. */
export type EncodedFormat = 'jpeg' | 'png' | 'webp';

/** A decoded photo: EXIF orientation applied, 8-bit sRGB, alpha split off. */
export interface DecodedImage {
  readonly rgb: RgbImage;
  /** One byte per pixel when the input had an alpha channel. */
  readonly alpha: Uint8Array | undefined;
  readonly format: ImageFormat;
  readonly isGrayscale: boolean;
}

/** Pipeline stage names, as used in timings and metrics. */
export type StageName = 'decode' | 'detect' | 'align' | 'restore' | 'paste' | 'encode';
export type StageTimingsMs = Partial<Record<StageName | 'upscale', number>>;
