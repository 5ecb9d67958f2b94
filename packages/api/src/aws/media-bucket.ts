import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createPresignedPost, type PresignedPost } from '@aws-sdk/s3-presigned-post';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { ApiConfig } from '../config.js';
import { ServiceError } from '../errors.js';
import { callOptions, describeSdkError, sdkOptions } from './sdk-options.js';

/** Options of a presigned upload. */
export interface PresignUploadOptions {
  readonly key: string;
  /** Largest object the policy accepts. */
  readonly maxBytes: number;
  /** Exact Content-Type to require; when absent the policy accepts any `image/` type. */
  readonly contentType?: string | undefined;
  readonly expiresSeconds: number;
}

/**
 * The media bucket: presigning, and a HeadObject of uploads. The API never moves image bytes itself. Presigning is
 * local computation, so `client`'s endpoint may be a public one (the local stack's same-origin proxy) that this
 * process never calls; `dataClient` is the one that makes requests.
 */
export class MediaBucket {
  constructor(
    private readonly bucketName: string,
    private readonly client: S3Client = new S3Client({}),
    private readonly dataClient: S3Client = client,
  ) {}

  /**
   * Whether an object exists (HeadObject). A missing key is a 404 only with s3:ListBucket (infra grants it to
   * create-job); any other failure, a 403 included, is thrown.
   */
  async exists(key: string, signal?: AbortSignal): Promise<boolean> {
    try {
      await this.dataClient.send(new HeadObjectCommand({ Bucket: this.bucketName, Key: key }), callOptions(signal));
      return true;
    } catch (error) {
      if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
      throw unavailable('look up the upload', error);
    }
  }

  /**
   * The first `maxBytes` of an object (a ranged GetObject, authorized as s3:GetObject like HeadObject), enough for an
   * image's header; undefined when the key does not exist (404, as for `exists`). An empty object gives no bytes.
   * `signal` is the request's deadline; a failed or late read is a 503 SERVICE_UNAVAILABLE (reads change nothing).
   */
  async readHead(key: string, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    try {
      const answer = await this.dataClient.send(new GetObjectCommand({ Bucket: this.bucketName, Key: key, Range: `bytes=0-${maxBytes - 1}` }), callOptions(signal));
      const bytes = answer.Body === undefined ? new Uint8Array(0) : await answer.Body.transformToByteArray();
      // A server that ignores Range sends the whole object: keep what was asked for.
      return bytes.length > maxBytes ? bytes.subarray(0, maxBytes) : bytes;
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404) return undefined;
      // 416: the range starts past the end, i.e. the object is empty.
      if (status === 416) return new Uint8Array(0);
      throw unavailable('read the upload', error);
    }
  }

  /**
   * `readHead`, with the object's whole size (from the ranged answer's Content-Range): what POST /videos checks.
   */
  async readHeadAndSize(key: string, maxBytes: number, signal?: AbortSignal): Promise<{ readonly head: Uint8Array; readonly sizeBytes: number | undefined } | undefined> {
    try {
      const answer = await this.dataClient.send(new GetObjectCommand({ Bucket: this.bucketName, Key: key, Range: `bytes=0-${maxBytes - 1}` }), callOptions(signal));
      const bytes = answer.Body === undefined ? new Uint8Array(0) : await answer.Body.transformToByteArray();
      const total = /\/(\d+)$/.exec(answer.ContentRange ?? '')?.[1];
      return { head: bytes.length > maxBytes ? bytes.subarray(0, maxBytes) : bytes, sizeBytes: total === undefined ? answer.ContentLength : Number(total) };
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404) return undefined;
      if (status === 416) return { head: new Uint8Array(0), sizeBytes: 0 };
      throw unavailable('read the upload', error);
    }
  }

  /**
   * A presigned POST whose policy pins the key, bounds the size and requires an image content type: the given one, or
   * any `image/*` (a POST policy condition is an exact value or a prefix, never a list of values; POST /jobs checks
   * the upload's bytes against the formats the worker reads).
   */
  async presignUpload(options: PresignUploadOptions): Promise<PresignedPost> {
    const contentTypeCondition: ['eq', string, string] | ['starts-with', string, string] =
      options.contentType === undefined ? ['starts-with', '$Content-Type', 'image/'] : ['eq', '$Content-Type', options.contentType];
    return await createPresignedPost(this.client, {
      Bucket: this.bucketName,
      Key: options.key,
      Conditions: [['content-length-range', 1, options.maxBytes], contentTypeCondition],
      Fields: options.contentType === undefined ? {} : { 'Content-Type': options.contentType },
      Expires: options.expiresSeconds,
    });
  }

  /** A presigned GET for a result. */
  async presignDownload(key: string, expiresSeconds: number): Promise<string> {
    return await getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucketName, Key: key }), { expiresIn: expiresSeconds });
  }

  destroy(): void {
    this.client.destroy();
    if (this.dataClient !== this.client) this.dataClient.destroy();
  }
}

function unavailable(action: string, error: unknown): ServiceError {
  return new ServiceError(503, 'SERVICE_UNAVAILABLE', `Could not ${action} (${describeSdkError(error)}); nothing was changed. Retry later.`, {
    cause: error,
    headers: { 'retry-after': '1' },
  });
}

/**
 * The bucket from the API's environment. Presigned URLs carry the public endpoint when there is one (the local
 * stack's same-origin proxy), else the S3 endpoint override, else the SDK's default.
 */
export function mediaBucketFromEnv(env: NodeJS.ProcessEnv, config: ApiConfig): MediaBucket {
  const s3Endpoint = config.REVIVE_S3_PUBLIC_ENDPOINT ?? env.AWS_ENDPOINT_URL_S3;
  const client = new S3Client({
    ...sdkOptions(env, undefined),
    forcePathStyle: config.REVIVE_S3_FORCE_PATH_STYLE,
    ...(s3Endpoint === undefined ? {} : { endpoint: s3Endpoint }),
  });
  // Presigned URLs may carry the public endpoint; calls this process makes (HeadObject) go to S3's own.
  const dataClient =
    config.REVIVE_S3_PUBLIC_ENDPOINT === undefined
      ? client
      : new S3Client({ ...sdkOptions(env, env.AWS_ENDPOINT_URL_S3), forcePathStyle: config.REVIVE_S3_FORCE_PATH_STYLE });
  return new MediaBucket(config.REVIVE_BUCKET_NAME, client, dataClient);
}
