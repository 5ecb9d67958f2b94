import { createHash } from 'node:crypto';
import { pendingShardKey, type CreateJobRequest, type CreateJobSource, type JobMessage, type JobRecord, type JobSource } from '@revive/contract';

/**
 * The deterministic job id of (tenant, Idempotency-Key): a repeat of the request maps to the same record, so the
 * conditional put detects it without a second table. Formatted as an RFC 4122 version-5-style UUID.
 */
export function idempotentJobId(tenantId: string, idempotencyKey: string): string {
  const hash = createHash('sha256').update(`revive-job\n${tenantId}\n${idempotencyKey}`).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** JSON with sorted keys, so equal requests hash equally whatever their key order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Hash of a validated create request (defaults applied, so `{}` and absent options are the same request). */
export function requestHash(request: CreateJobRequest | object): string {
  return createHash('sha256').update(canonicalJson(request)).digest('base64url');
}

/** API source → message/record source. */
export function toJobSource(source: CreateJobSource): JobSource {
  return 'uploadKey' in source ? { kind: 's3', key: source.uploadKey } : { kind: 'url', url: source.url };
}

/**
 * The queue message of a job, from its record: the one builder for create-job's send and the sweeper's resend, so a
 * re-enqueued job is exactly the job the caller created.
 */
export function jobMessageFromRecord(record: JobRecord, enqueuedAtMs: number): JobMessage {
  return {
    version: 1,
    jobId: record.jobId,
    tenantId: record.tenantId,
    source: record.source,
    options: record.options,
    ...(record.webhookUrl === undefined ? {} : { webhookUrl: record.webhookUrl }),
    enqueuedAt: new Date(enqueuedAtMs).toISOString(),
    ...(record.kind === undefined || record.kind === 'photo' ? {} : { kind: record.kind }),
    ...(record.parentJobId === undefined ? {} : { parentJobId: record.parentJobId }),
    ...(record.segment === undefined ? {} : { segment: record.segment }),
    ...(record.videoCrf === undefined ? {} : { videoCrf: record.videoCrf }),
  };
}

/** Runs `fn` over `items`, at most `limit` at a time. */
export async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      await fn(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/** The attributes that put a record into the sparse pending-enqueue index (the outbox), in its shard, pending since `nowMs`. */
export function pendingEnqueueMark(jobId: string, nowMs: number): Required<Pick<JobRecord, 'enqueuePending' | 'enqueuePendingSince'>> {
  return { enqueuePending: pendingShardKey(jobId), enqueuePendingSince: nowMs };
}
