// STUB — owned by the image helper.
import type { OutputExt } from '@revive/contract';
import type { EncodedFormat, ImageFormat, RgbImage } from './types.js';

/** `auto` keeps the input's format (formats Revive does not write become PNG); alpha always forces PNG. */
export function resolveOutputFormat(_ext: OutputExt, _input: ImageFormat, _hasAlpha: boolean): EncodedFormat {
  throw new Error('not implemented');
}
/** File extension for a format: jpeg → 'jpg'. */
export function extensionOf(_format: EncodedFormat): string {
  throw new Error('not implemented');
}
export interface EncodeOptions {
  /** JPEG/WebP quality. @default 95 */
  readonly quality?: number;
}
/** Stage 6: pixels → bytes. */
export async function encode(_image: RgbImage, _alpha: Uint8Array | undefined, _format: EncodedFormat, _options?: EncodeOptions): Promise<Uint8Array> {
  throw new Error('not implemented');
}
