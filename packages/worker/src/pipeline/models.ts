// STUB — owned by the ONNX helper. The model manifest and the downloader.
export type ModelRole = 'detector' | 'restorer' | 'upsampler';

export interface ModelEntry {
  readonly id: string;
  readonly role: ModelRole;
  /** Path inside the models folder, e.g. 'detectors/yunet_s_640_640.onnx'. */
  readonly file: string;
  readonly url: string;
  readonly sha256: string;
  readonly bytes: number;
  /** Human-readable I/O contract. */
  readonly contract: string;
  readonly licence: string;
}

export const MODEL_MANIFEST: readonly ModelEntry[] = [];

/** $REVIVE_MODELS_DIR, else the per-user cache (~/.cache/revive/models, or $XDG_CACHE_HOME/revive/models). */
export function defaultModelsDir(_env?: NodeJS.ProcessEnv): string {
  throw new Error('not implemented');
}

export interface ResolveModelOptions {
  readonly modelsDir: string;
  /** Download a catalogue model that is missing. @default true */
  readonly download?: boolean;
  readonly onProgress?: (receivedBytes: number, totalBytes: number | undefined) => void;
}

/** A catalogue id or a path to an .onnx file → a verified local path. Offline, fails naming the file, URL and folder. */
export async function resolveModel(_idOrPath: string, _role: ModelRole, _options: ResolveModelOptions): Promise<string> {
  throw new Error('not implemented');
}
