import type { S3Client } from '@aws-sdk/client-s3';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { PermanentError } from '../errors.js';
import { awsErrorName, toStorageError } from './aws-errors.js';

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
      throw toStorageError(error, 'S3 GetObject');
    }
    if (!body) throw new PermanentError('SOURCE_NOT_FOUND', `the upload at ${key} has no body`);
    try {
      return await body.transformToByteArray();
    } catch (error) {
      throw toStorageError(error, 'S3 GetObject body');
    }
  }

  async putResult(key: string, bytes: Uint8Array, contentType: string): Promise<void> {
    try {
      await this.s3.send(new PutObjectCommand({ Bucket: this.bucketName, Key: key, Body: bytes, ContentType: contentType }));
    } catch (error) {
      throw toStorageError(error, 'S3 PutObject');
    }
  }

  /** A presigned GET for a result, as the API hands out (used in webhooks). */
  async presignResult(key: string, expiresInSeconds: number): Promise<string> {
    return await getSignedUrl(this.presignS3, new GetObjectCommand({ Bucket: this.bucketName, Key: key }), { expiresIn: expiresInSeconds });
  }
}
