import { createHash } from 'node:crypto';
/**
 * Names shared by the infra (which creates the resources), the API and the worker (which use them),
 * and the local stack (which creates them on the emulators).
 */
export const TABLE_SCHEMA = {
  partitionKey: 'jobId',
  /**
   * Lists one tenant's jobs, newest first. Projects only what `GET /jobs` returns (`projected`, besides the keys), so
   * the worker's heartbeats (leaseExpiresAt) and the outbox marks never write to it.
   */
  tenantIndex: {
    name: 'byTenant',
    partitionKey: 'tenantId',
    sortKey: 'createdAt',
    projected: ['status', 'source', 'options', 'webhookUrl', 'webhookDelivery', 'attempts', 'startedAt', 'finishedAt', 'timingsMs', 'facesFound', 'faces', 'resultKey', 'resultWidth', 'resultHeight', 'errorCode', 'errorMessage'],
  },
  /**
   * Sparse index of jobs whose message may not have been sent yet (the API's transactional outbox): only records
   * carrying both attributes appear in it. The partition key is one of `shards` values (`pending#<n>`, see
   * pendingShardKey), so creates spread over 16 index partitions instead of one; the sort key is a Number (epoch
   * ms), so the sweeper reads each shard oldest first with one range condition.
   */
  pendingIndex: { name: 'byPendingEnqueue', partitionKey: 'enqueuePending', sortKey: 'enqueuePendingSince', partitionPrefix: 'pending#', shards: 16 },
  ttlAttribute: 'expiresAt',
} as const;

/**
 * The outbox index partition of a job: `pending#<FNV-1a(jobId) % shards>`. One index partition takes about 1,000
 * writes/s and each create writes it twice (mark, clear), so one constant key capped creates near 500/s; 16 shards
 * lift that cap 16-fold. A stable hash of the id, so the mark a retry re-sets lands in the same shard.
 */
export function pendingShardKey(jobId: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < jobId.length; i++) {
    hash ^= jobId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return `${TABLE_SCHEMA.pendingIndex.partitionPrefix}${hash % TABLE_SCHEMA.pendingIndex.shards}`;
}

/**
 * The single outbox partition records carried before the index was sharded. Still read by the sweeper (and accepted
 * by the record schema), so a job whose create died just before an upgrade is still sent.
 */
export const LEGACY_PENDING_PARTITION = 'pending';

/** Every outbox index partition, for a sweeper that reads them all (the legacy one included). */
export function pendingShardKeys(): string[] {
  const { partitionPrefix, shards } = TABLE_SCHEMA.pendingIndex;
  return [...Array.from({ length: shards }, (_, n) => `${partitionPrefix}${n}`), LEGACY_PENDING_PARTITION];
}

/** Key prefixes in the bucket. Lifecycle rules and IAM grants are written against them. */
export const BUCKET_PREFIXES = { uploads: 'uploads/', results: 'results/', segments: 'segments/' } as const;
/** Where a video's restored segments wait for the finisher (`segments/<tenant>/<jobId>/...`); deleted once it assembled them. */
export const SEGMENTS_PREFIX = BUCKET_PREFIXES.segments;

/** S3-safe form of a tenant id (the tenant alphabet allows '|', ':' and '@'). */
export function tenantKeySegment(tenantId: string): string {
  return encodeURIComponent(tenantId);
}

/** Key of a photo a tenant uploads. */
export function uploadKey(tenantId: string, uploadId: string): string {
  return `${BUCKET_PREFIXES.uploads}${tenantKeySegment(tenantId)}/${uploadId}`;
}

/**
 * Key of a job's restored photo. With `attempt`, each delivery writes its own object (`<jobId>-<attempt>.<ext>`) and the
 * record names the one whose conditional write won, so a worker that lost its lease can never overwrite a finished result.
 */
export function resultKey(tenantId: string, jobId: string, extension: string, attempt?: number): string {
  return `${BUCKET_PREFIXES.results}${tenantKeySegment(tenantId)}/${jobId}${attempt === undefined ? '' : `-${attempt}`}.${extension}`;
}

/** True when `key` is one of this tenant's uploads: a job may only read its own tenant's objects. */
export function isTenantUploadKey(tenantId: string, key: string): boolean {
  const prefix = `${BUCKET_PREFIXES.uploads}${tenantKeySegment(tenantId)}/`;
  return key.startsWith(prefix) && key.length > prefix.length && !key.slice(prefix.length).includes('..');
}

/** Key of one restored segment of a video: `segments/<tenant>/<videoJobId>/<index>-<attempt>.mp4`. */
export function segmentKey(tenantId: string, videoJobId: string, index: number, attempt: number): string {
  return `${SEGMENTS_PREFIX}${tenantKeySegment(tenantId)}/${videoJobId}/${String(index).padStart(5, '0')}-${attempt}.mp4`;
}

/** Key of an album's ZIP: the album's results key with `.zip` (`results/<tenant>/<albumJobId>-<attempt>.zip`). */
export function albumZipKey(tenantId: string, albumJobId: string, attempt?: number): string {
  return resultKey(tenantId, albumJobId, 'zip', attempt);
}

/**
 * The id of a parent's child number `index`: derived (a version-5-style UUID of SHA-256), so a retried fan-out writes
 * the same children and the children list is read by id (no index of children is needed).
 */
export function childJobId(parentJobId: string, index: number): string {
  const hash = createHash('sha256').update(`revive-child\n${parentJobId}\n${index}`).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** A video's working folder under SEGMENTS_PREFIX: its probe, its restored segments; deleted when the video ends. */
export function videoWorkPrefix(tenantId: string, videoJobId: string): string {
  return `${SEGMENTS_PREFIX}${tenantKeySegment(tenantId)}/${videoJobId}/`;
}
