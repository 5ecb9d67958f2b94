// STUB — owned by the image helper. The only module that imports sharp.
import type { DecodedImage, EncodedFormat, RgbImage } from './types.js';

export type ResizeKernel = 'lanczos3' | 'cubic' | 'linear' | 'nearest';

/** Decodes any format sharp reads; see decode.ts for the stage. */
export async function readImage(_input: Uint8Array, _options: { readonly maxPixels: number }): Promise<DecodedImage> {
  throw new Error('not implemented');
}
/** Resizes 8-bit RGB (or a single alpha plane with channels 1). */
export async function resizeImage(_image: RgbImage, _width: number, _height: number, _kernel: ResizeKernel): Promise<RgbImage> {
  throw new Error('not implemented');
}
export async function resizePlane(_plane: Uint8Array, _width: number, _height: number, _toWidth: number, _toHeight: number, _kernel: ResizeKernel): Promise<Uint8Array> {
  throw new Error('not implemented');
}
export async function writeImage(_image: RgbImage, _alpha: Uint8Array | undefined, _format: EncodedFormat, _options?: { readonly quality?: number }): Promise<Uint8Array> {
  throw new Error('not implemented');
}
