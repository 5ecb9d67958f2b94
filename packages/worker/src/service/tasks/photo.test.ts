import { jobMessageSchema, resultKey, type JobMessage } from '@revive/contract';
import { describe, expect, it } from 'vitest';
import { PermanentError, type ProcessOptions, type ProcessResult } from '@revive/pipeline';
import { PhotoTask, type PhotoTaskDeps } from './photo.js';
import type { TaskContext } from './task.js';

const JOB_ID = '3c9a8e7d-6b5f-4e4d-9c3b-2a1f0e9d8c7b';
const JPEG = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);
const RESULT: ProcessResult = {
  image: new Uint8Array(0),
  byteLength: 2,
  format: 'png',
  width: 8,
  height: 6,
  faces: [{ box: [1, 1, 5, 5], score: 0.9, landmarks: [[2, 2], [4, 2], [3, 3], [2, 4], [4, 4]] }],
  facesDetected: 3,
  timingsMs: { decode: 1, detect: 2 },
};

const job = (source: JobMessage['source'], options: Record<string, unknown> = {}): JobMessage =>
  jobMessageSchema.parse({ version: 1, jobId: JOB_ID, tenantId: 't', source, options, enqueuedAt: new Date().toISOString() });

function context(overrides: Partial<TaskContext> = {}): TaskContext {
  return { owner: 'worker-1', attempt: 3, signal: new AbortController().signal, startBudget: () => undefined, workFound: () => undefined, abandoned: false, ...overrides };
}

/** Our pipeline, object store and HTTP client as in-memory doubles that record what the task asked of them. */
function photo(process: (input: Uint8Array, options: ProcessOptions) => Promise<ProcessResult> = async () => RESULT) {
  const puts: { key: string; file: string; contentType: string }[] = [];
  const reads: string[] = [];
  const deps: PhotoTaskDeps = {
    pipeline: { process: async (input, options = {}) => process(input, options) },
    objects: {
      getUpload: async (key) => ((reads.push(key), JPEG)),
      putResultFile: async (key, file, _bytes, contentType) => void puts.push({ key, file, contentType }),
    },
    http: { fetchImage: async (url) => ((reads.push(url), JPEG)) },
  };
  return { task: new PhotoTask(deps, { restorer: '/models/gfpgan-1.4.onnx', bgUpsampler: undefined, maxSourceBytes: 1_000 }), puts, reads };
}

describe('PhotoTask', () => {
  it('restores the tenant upload and puts the result under this attempt’s key', async () => {
    let options: ProcessOptions | undefined;
    const p = photo(async (_input, o) => ((options = o), RESULT));
    const result = await p.task.run(job({ kind: 's3', key: 'uploads/t/u1' }, { upscale: 3, restorer: 'gfpgan-1.4' }), context());
    expect(p.reads).toEqual(['uploads/t/u1']);
    expect(options).toMatchObject({ upscale: 3, useBgUpsampler: false, maxFaces: 50 });
    const key = resultKey('t', JOB_ID, 'png', 3);
    // The pipeline encodes into the attempt's spool file, and that file is what goes up.
    expect(p.puts).toEqual([{ key, file: options?.outputPath, contentType: 'image/png' }]);
    expect(options?.outputPath).toMatch(new RegExp(`${JOB_ID}-3\\.result$`));
    expect(result?.success).toEqual({
      resultKey: key,
      resultWidth: 8,
      resultHeight: 6,
      facesFound: 1,
      facesDetected: 3,
      facesRestored: 1,
      faces: RESULT.faces,
      timingsMs: { decode: 1, detect: 2 },
    });
  });

  it('refuses another tenant’s upload as not found, without reading it', async () => {
    const p = photo();
    await expect(p.task.run(job({ kind: 's3', key: 'uploads/other/u1' }), context())).rejects.toMatchObject({ code: 'SOURCE_NOT_FOUND' });
    expect(p.reads).toEqual([]);
  });

  it('refuses a model this worker does not serve', async () => {
    const p = photo();
    const error = await p.task.run(job({ kind: 's3', key: 'uploads/t/u1' }, { bgUpsampler: 'realesrgan-x4' }), context()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ code: 'UNSUPPORTED_MODEL', message: expect.stringMatching(/upsampler none, not realesrgan-x4/) });
  });

  it('writes no result once the attempt is abandoned during the pipeline', async () => {
    const state = { abandoned: false };
    const p = photo(async () => ((state.abandoned = true), RESULT));
    const ctx: TaskContext = { ...context(), get abandoned() {
      return state.abandoned;
    } };
    expect(await p.task.run(job({ kind: 'url', url: 'https://photos.example/a.jpg' }), ctx)).toBeUndefined();
    expect(p.reads).toEqual(['https://photos.example/a.jpg']);
    expect(p.puts).toEqual([]);
  });
});
