// STUB — owned by the ONNX helper. Generates small ONNX restorers with GFPGAN's I/O contract (onnx-proto).

/** Options every generated model takes. */
export interface GeneratedModelOptions {
  /** Square input size. @default 512 */
  readonly size?: number;
}
/** input [1,3,S,S] float32 in [-1,1] → same tensor: restoring with it must give the input back. Returns the file path. */
export async function writeIdentityRestorer(_dir: string, _options?: GeneratedModelOptions): Promise<string> {
  throw new Error('not implemented');
}
/** Treats channels differently (e.g. R unchanged, G inverted, B zeroed) so a BGR/RGB swap shows. */
export async function writeChannelProbeRestorer(_dir: string, _options?: GeneratedModelOptions): Promise<string> {
  throw new Error('not implemented');
}
/** CodeFormer-style: inputs `input` [1,3,S,S] float32 and `weight` float64 scalar; output mixes by the weight. */
export async function writeCodeFormerLikeRestorer(_dir: string, _options?: GeneratedModelOptions): Promise<string> {
  throw new Error('not implemented');
}
/** A model whose input has the wrong rank ([3,S,S]): loading it as a restorer must fail with MODEL_INVALID. */
export async function writeWrongRankRestorer(_dir: string, _options?: GeneratedModelOptions): Promise<string> {
  throw new Error('not implemented');
}
