import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListPartsCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { createPresignedPost, type PresignedPost } from '@aws-sdk/s3-presigned-post';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { ApiConfig } from '../config.js';
import { ClientError, ServiceError } from '../errors.js';
import { callOptions, describeSdkError, sdkOptions } from './sdk-options.js';

/**
 * What the presigning client signs of checksums: nothing it need not. With the SDK's default (WHEN_SUPPORTED) a
 * presigned UploadPart carries `x-amz-checksum-crc32` of an empty body, and S3 refuses every part PUT to it
 * (aws-sdk-js-v3 #6810). Presigned POSTs and GETs carry no checksum either way.
 */
const PRESIGN_CHECKSUMS = { requestChecksumCalculation: 'WHEN_REQUIRED' } as const;

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
/** 422 UPLOAD_NOT_FOUND: what S3's NoSuchUpload means to a caller of the multipart routes. */
function uploadNotFound(cause: unknown): ClientError {
  return new ClientError(422, 'UPLOAD_NOT_FOUND', 'No such multipart upload: the uploadId is wrong, or the upload was completed, aborted or expired.', { cause });
}

export class MediaBucket {
  constructor(
    private readonly bucketName: string,
    private readonly client: S3Client = new S3Client(PRESIGN_CHECKSUMS),
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

  /** Starts a multipart upload of `key`, stored with `contentType`; resolves with S3's upload id. */
  async createMultipartUpload(key: string, contentType: string, signal?: AbortSignal): Promise<string> {
    try {
      const out = await this.dataClient.send(new CreateMultipartUploadCommand({ Bucket: this.bucketName, Key: key, ContentType: contentType }), callOptions(signal));
      if (out.UploadId === undefined) throw new Error('CreateMultipartUpload answered no UploadId');
      return out.UploadId;
    } catch (error) {
      throw unavailable('start the upload', error);
    }
  }

  /**
   * A presigned UploadPart whose signature covers the part's exact Content-Length, so the URL uploads that many bytes
   * and no more (S3 refuses a PUT of another length). That bounds each part, not the object (a re-sign for a larger
   * size makes longer parts): completion measures the object. `signingDate` fixes X-Amz-Date, so the caller knows
   * the URL's real expiry (S3 counts from that whole second). No checksum is signed, since a browser cannot send the SDK's CRC32 header.
   */
  async presignUploadPart(options: { readonly key: string; readonly uploadId: string; readonly partNumber: number; readonly contentLength: number; readonly expiresSeconds: number; readonly signingDate?: Date }): Promise<string> {
    const command = new UploadPartCommand({
      Bucket: this.bucketName,
      Key: options.key,
      UploadId: options.uploadId,
      PartNumber: options.partNumber,
      ContentLength: options.contentLength,
    });
    return await getSignedUrl(this.client, command, {
      expiresIn: options.expiresSeconds,
      signableHeaders: new Set(['content-length']),
      ...(options.signingDate && { signingDate: options.signingDate }),
    });
  }

  /**
   * Completes a multipart upload and resolves with the object's size. S3's refusals of the caller's parts are
   * ClientErrors: NoSuchUpload is 422 UPLOAD_NOT_FOUND, unless the object those parts make is there (a retry after a
   * lost answer: completing twice is 200 twice); InvalidPart, InvalidPartOrder and EntityTooSmall are 422
   * INVALID_UPLOAD_PARTS.
   */
  async completeMultipartUpload(key: string, uploadId: string, parts: readonly { partNumber: number; etag: string }[], signal?: AbortSignal): Promise<number> {
    try {
      await this.dataClient.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucketName,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.map((part) => ({ PartNumber: part.partNumber, ETag: part.etag })) },
        }),
        callOptions(signal),
      );
    } catch (error) {
      const name = (error as { name?: string }).name ?? '';
      if (name === 'NoSuchUpload') {
        // A retry whose first try completed (its answer was lost) finds the upload gone: the object those parts made is the answer.
        const completed = await this.completedSize(key, parts, signal);
        if (completed !== undefined) return completed;
        throw uploadNotFound(error);
      }
      if (['InvalidPart', 'InvalidPartOrder', 'EntityTooSmall'].includes(name)) {
        throw new ClientError(422, 'INVALID_UPLOAD_PARTS', `S3 refused the parts (${name}): name each uploaded part once, in ascending order, with the ETag its PUT answered; every part but the last is at least 5 MiB.`, { cause: error });
      }
      throw unavailable('complete the upload', error);
    }
    try {
      const head = await this.dataClient.send(new HeadObjectCommand({ Bucket: this.bucketName, Key: key }), callOptions(signal));
      return head.ContentLength ?? 0;
    } catch (error) {
      throw unavailable('read the completed upload', error);
    }
  }

  /**
   * The size of `key` when it is the object that completing these very parts made (S3's multipart ETag: the MD5 of the
   * parts' MD5s, then the part count); undefined when there is no such object, or it holds other bytes.
   */
  private async completedSize(key: string, parts: readonly { partNumber: number; etag: string }[], signal?: AbortSignal): Promise<number | undefined> {
    let head;
    try {
      head = await this.dataClient.send(new HeadObjectCommand({ Bucket: this.bucketName, Key: key }), callOptions(signal));
    } catch (error) {
      const name = (error as { name?: string }).name ?? '';
      if (name === 'NotFound' || name === 'NoSuchKey') return undefined;
      throw unavailable('read the completed upload', error);
    }
    const digests = [...parts].sort((a, b) => a.partNumber - b.partNumber).map((part) => Buffer.from(part.etag.replaceAll('"', ''), 'hex'));
    const expected = `"${createHash('md5').update(Buffer.concat(digests)).digest('hex')}-${parts.length}"`;
    return head.ETag === expected ? (head.ContentLength ?? 0) : undefined;
  }

  /**
   * Refuses, with completion's 422 UPLOAD_NOT_FOUND, an `uploadId` that is not an open multipart upload of `key`: a
   * ListParts of at most one part (s3:ListMultipartUploadParts), the cheapest call S3 answers NoSuchUpload to for an
   * upload that is wrong, another key's, completed, aborted or expired.
   */
  async assertMultipartUploadOpen(key: string, uploadId: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.dataClient.send(new ListPartsCommand({ Bucket: this.bucketName, Key: key, UploadId: uploadId, MaxParts: 1 }), callOptions(signal));
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchUpload') throw uploadNotFound(error);
      throw unavailable('look up the upload', error);
    }
  }

  /** Aborts a multipart upload; one that is already gone (completed, aborted, expired) counts as aborted. */
  async abortMultipartUpload(key: string, uploadId: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.dataClient.send(new AbortMultipartUploadCommand({ Bucket: this.bucketName, Key: key, UploadId: uploadId }), callOptions(signal));
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchUpload') return;
      throw unavailable('abort the upload', error);
    }
  }

  /** Deletes an object (an upload the API refused after it was stored). */
  async delete(key: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.dataClient.send(new DeleteObjectCommand({ Bucket: this.bucketName, Key: key }), callOptions(signal));
    } catch (error) {
      throw unavailable('delete the upload', error);
    }
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
    ...PRESIGN_CHECKSUMS,
  });
  // Presigned URLs may carry the public endpoint; calls this process makes (HeadObject) go to S3's own.
  const dataClient =
    config.REVIVE_S3_PUBLIC_ENDPOINT === undefined
      ? client
      : new S3Client({ ...sdkOptions(env, env.AWS_ENDPOINT_URL_S3), forcePathStyle: config.REVIVE_S3_FORCE_PATH_STYLE });
  return new MediaBucket(config.REVIVE_BUCKET_NAME, client, dataClient);
}
