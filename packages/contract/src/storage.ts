/**
 * Names shared by the infra (which creates the resources), the API and the worker (which use them),
 * and the local stack (which creates them on the emulators).
 */
export const TABLE_SCHEMA = {
  partitionKey: 'jobId',
  /** Lists one tenant's jobs, newest first. */
  tenantIndex: { name: 'byTenant', partitionKey: 'tenantId', sortKey: 'createdAt' },
  /**
   * Sparse index of jobs whose message may not have been sent yet (the API's transactional outbox): only records
   * carrying both attributes appear in it. The partition key is a constant (`partitionValue`); the sort key is a
   * Number (epoch ms), so the sweeper reads the oldest first with one range condition.
   */
  pendingIndex: { name: 'byPendingEnqueue', partitionKey: 'enqueuePending', sortKey: 'enqueuePendingSince', partitionValue: 'pending' },
  ttlAttribute: 'expiresAt',
} as const;

/** Key prefixes in the bucket. Lifecycle rules and IAM grants are written against them. */
export const BUCKET_PREFIXES = { uploads: 'uploads/', results: 'results/' } as const;

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
