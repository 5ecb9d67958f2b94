// The part URLs of a video's multipart upload: what POST /uploads/multipart and POST /uploads/multipart/parts share.
import { isTenantUploadKey, multipartPartBytes, multipartPartCount, multipartPartRange, type SignMultipartUploadPartsResponse } from '@revive/contract';
import type { MediaBucket } from '../aws/media-bucket.js';
import { ClientError } from '../errors.js';
import { presignWindow } from '../presign-window.js';

/** 403 FORBIDDEN_UPLOAD_KEY for an upload key outside the caller's tenant. */
export function assertOwnUpload(tenantId: string, uploadKey: string): void {
  if (!isTenantUploadKey(tenantId, uploadKey)) {
    throw new ClientError(403, 'FORBIDDEN_UPLOAD_KEY', "uploadKey is not one of the caller's uploads.");
  }
}

/** 422 VIDEO_TOO_LARGE for a declared size over the limit, before anything is started or signed. */
export function assertVideoSize(sizeBytes: number, maxBytes: number): void {
  if (sizeBytes > maxBytes) {
    throw new ClientError(422, 'VIDEO_TOO_LARGE', `The video is ${sizeBytes} bytes; the limit is ${maxBytes} bytes.`);
  }
}

/** How an upload of `sizeBytes` is cut: every part but the last `partBytes` long. */
export function partLayout(sizeBytes: number): { readonly partBytes: number; readonly count: number } {
  const partBytes = multipartPartBytes(sizeBytes);
  return { partBytes, count: multipartPartCount(sizeBytes, partBytes) };
}

/**
 * Presigns `partNumbers` of an open upload, each for its exact length out of `sizeBytes`, all in one window (signed
 * at the same whole second): the answer's `part_size_bytes`, `parts`, `expires_at` and `expires_in_seconds`.
 */
export async function signParts(
  bucket: Pick<MediaBucket, 'presignUploadPart'>,
  upload: { readonly key: string; readonly uploadId: string; readonly sizeBytes: number },
  partNumbers: readonly number[],
  ttlSeconds: number,
  now: () => number,
): Promise<SignMultipartUploadPartsResponse> {
  const { partBytes } = partLayout(upload.sizeBytes);
  const window = presignWindow(now(), ttlSeconds);
  const parts = await Promise.all(
    partNumbers.map(async (partNumber) => {
      const { start, end } = multipartPartRange(upload.sizeBytes, partBytes, partNumber);
      const url = await bucket.presignUploadPart({
        key: upload.key,
        uploadId: upload.uploadId,
        partNumber,
        contentLength: end - start,
        expiresSeconds: ttlSeconds,
        signingDate: window.signingDate,
      });
      return { part_number: partNumber, url };
    }),
  );
  return { part_size_bytes: partBytes, parts, ...window.expiry(now()) };
}
