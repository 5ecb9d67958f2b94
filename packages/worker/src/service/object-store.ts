import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { DeleteObjectsCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { BUCKET_PREFIXES } from '@revive/contract';
import { PermanentError } from '@revive/pipeline/errors';
import { awsErrorName, toStorageError } from './aws-errors.js';

/**
 * Part size of a result upload. Results up to this size go in one PutObject; larger ones (a 2000×2000 PNG is ≈ 12 MiB,
 * a 64 MP one at 4x far more) in parts, so no single request carries more than this: S3's minimum part is 5 MiB, and
 * the local emulator refuses bodies over 11 MiB. @default 8 MiB
 */
export const DEFAULT_RESULT_PART_BYTES = 8 * 1024 * 1024;
/**
 * Reads of a result file. lib-storage joins a stream's chunks into a new buffer per part once they exceed the part
 * size, so reads of a whole part would make it join two (16 MiB per 8 MiB part); 1 MiB reads cost one part and a
 * chunk. @default 1 MiB
 */
export const DEFAULT_RESULT_READ_CHUNK_BYTES = 1024 * 1024;
/** Parts in flight per result upload. @default 4 */
export const DEFAULT_RESULT_UPLOAD_CONCURRENCY = 4;

/** How a result goes up. */
export interface ResultUploadOptions {
  /** @default DEFAULT_RESULT_PART_BYTES */
  readonly partBytes?: number;
  /** The job's budget: aborting it aborts the upload (no parts are left). */
  readonly signal?: AbortSignal;
}

/** The bucket: tenants' uploads in, restored photos out. */
export class ObjectStore {
  /** `presignS3` signs result URLs for others to fetch (another endpoint locally); it defaults to `s3`. */
  constructor(
    private readonly bucketName: string,
    private readonly s3: S3Client,
    private readonly presignS3: S3Client = s3,
  ) {}

  /** Reads an upload, refusing objects over `maxBytes` before downloading them. */
  async getUpload(key: string, maxBytes: number): Promise<Uint8Array> {
    let body;
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucketName, Key: key }));
      if (out.ContentLength !== undefined && out.ContentLength > maxBytes) {
        out.Body?.transformToWebStream().cancel().catch(() => undefined);
        throw new PermanentError('SOURCE_TOO_LARGE', `the upload is ${out.ContentLength} bytes; the worker accepts at most ${maxBytes}`);
      }
      body = out.Body;
    } catch (error) {
      const name = awsErrorName(error);
      if (name === 'NoSuchKey' || name === 'NotFound') throw new PermanentError('SOURCE_NOT_FOUND', `no upload at ${key}`, { cause: error });
      // The task role has s3:GetObject on uploads/* and no s3:ListBucket, so S3 answers a missing upload with 403
      // AccessDenied rather than 404: under that prefix it means "not there" (expired, never uploaded), a photo's
      // outcome, not an infrastructure fault to retry and dead-letter.
      if (name === 'AccessDenied' && key.startsWith(BUCKET_PREFIXES.uploads)) throw new PermanentError('SOURCE_NOT_FOUND', `no upload at ${key} (S3 answered AccessDenied: without ListBucket that is how a missing key reads)`, { cause: error });
      throw toStorageError(error, 'S3 GetObject');
    }
    if (!body) throw new PermanentError('SOURCE_NOT_FOUND', `the upload at ${key} has no body`);
    try {
      return await body.transformToByteArray();
    } catch (error) {
      throw toStorageError(error, 'S3 GetObject body');
    }
  }

  /**
   * One PutObject up to `partBytes`, a multipart upload above it. lib-storage aborts the multipart upload (its parts
   * deleted) if a part fails, and so does `signal` (the job's budget): a job stopped mid-upload leaves no parts.
   */
  async putResult(key: string, bytes: Uint8Array, contentType: string, options: ResultUploadOptions = {}): Promise<void> {
    await this.upload(key, bytes, contentType, bytes.byteLength, options);
  }

  /**
   * `putResult` from a file the pipeline encoded into, read as it goes up: memory holds the parts in flight
   * (DEFAULT_RESULT_UPLOAD_CONCURRENCY × `partBytes`), never the whole result. `byteLength` is the file's size.
   */
  async putResultFile(key: string, file: string, byteLength: number, contentType: string, options: ResultUploadOptions = {}): Promise<void> {
    const body = createReadStream(file, { highWaterMark: DEFAULT_RESULT_READ_CHUNK_BYTES });
    try {
      await this.upload(key, body, contentType, byteLength, options);
    } finally {
      body.destroy();
    }
  }

  /**
   * `putResult` from a stream of unknown length (an album's ZIP as it is written): always a multipart upload of
   * `partBytes` parts (one PutObject when it all fits in one), memory bounded by the parts in flight.
   */
  async putResultStream(key: string, body: Readable, contentType: string, options: ResultUploadOptions = {}): Promise<void> {
    await this.upload(key, body, contentType, Number.POSITIVE_INFINITY, options);
  }

  /** A stored object (a child's result, a segment) as a stream; the caller consumes or destroys it. */
  async getObjectStream(key: string): Promise<Readable> {
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucketName, Key: key }));
      if (!out.Body) throw new Error(`${key} has no body`);
      return out.Body as Readable;
    } catch (error) {
      throw toStorageError(error, 'S3 GetObject');
    }
  }

  /** Deletes objects (a video's segments once assembled), 1000 keys a call. */
  async deleteObjects(keys: readonly string[]): Promise<void> {
    for (let start = 0; start < keys.length; start += 1000) {
      try {
        await this.s3.send(new DeleteObjectsCommand({ Bucket: this.bucketName, Delete: { Objects: keys.slice(start, start + 1000).map((Key) => ({ Key })), Quiet: true } }));
      } catch (error) {
        throw toStorageError(error, 'S3 DeleteObjects');
      }
    }
  }

  /** A presigned GET of any key of the bucket for this process's own readers (ffmpeg reading an upload by range). */
  async presignGet(key: string, expiresInSeconds: number): Promise<string> {
    return await getSignedUrl(this.s3, new GetObjectCommand({ Bucket: this.bucketName, Key: key }), { expiresIn: expiresInSeconds });
  }

  private async upload(key: string, body: Uint8Array | Readable, contentType: string, byteLength: number, options: ResultUploadOptions): Promise<void> {
    const partBytes = options.partBytes ?? DEFAULT_RESULT_PART_BYTES;
    const abortController = new AbortController();
    const onAbort = () => abortController.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (options.signal?.aborted) throw options.signal.reason;
      await new Upload({
        client: this.s3,
        params: { Bucket: this.bucketName, Key: key, Body: body, ContentType: contentType },
        partSize: partBytes,
        queueSize: DEFAULT_RESULT_UPLOAD_CONCURRENCY,
        leavePartsOnError: false,
        abortController,
      }).done();
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      throw toStorageError(error, byteLength > partBytes ? 'S3 multipart upload' : 'S3 PutObject');
    }
    finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** A presigned GET for a result, as the API hands out (used in webhooks). */
  async presignResult(key: string, expiresInSeconds: number): Promise<string> {
    return await getSignedUrl(this.presignS3, new GetObjectCommand({ Bucket: this.bucketName, Key: key }), { expiresIn: expiresInSeconds });
  }
}
