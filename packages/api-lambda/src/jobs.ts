import { createHash } from 'node:crypto';
import type { CreateJobRequest, CreateJobSource, JobRecord, JobResponse, JobSource } from '@revive/contract';

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
export function requestHash(request: CreateJobRequest): string {
  return createHash('sha256').update(canonicalJson(request)).digest('base64url');
}

/** API source → message/record source. */
export function toJobSource(source: CreateJobSource): JobSource {
  return 'uploadKey' in source ? { kind: 's3', key: source.uploadKey } : { kind: 'url', url: source.url };
}

function toApiSource(source: JobSource): CreateJobSource {
  return source.kind === 's3' ? { uploadKey: source.key } : { url: source.url };
}

/** The presigned result, when there is one. */
export interface JobOutput {
  readonly url: string;
  readonly expiresAt: string;
}

/** A record as the API shows it (Replicate-style: snake_case times, `urls.get` and `urls.cancel`). */
export function toJobResponse(record: JobRecord, base: string, output?: JobOutput): JobResponse {
  const self = `${base}/jobs/${record.jobId}`;
  const predict =
    record.startedAt !== undefined && record.finishedAt !== undefined ? Date.parse(record.finishedAt) - Date.parse(record.startedAt) : null;
  return {
    id: record.jobId,
    status: record.status,
    input: { source: toApiSource(record.source), options: record.options },
    created_at: record.createdAt,
    started_at: record.startedAt ?? null,
    completed_at: record.finishedAt ?? null,
    output:
      output === undefined
        ? null
        : { url: output.url, expires_at: output.expiresAt, width: record.resultWidth ?? null, height: record.resultHeight ?? null },
    error: record.errorCode === undefined ? null : { code: record.errorCode, message: record.errorMessage ?? record.errorCode },
    metrics: {
      faces_found: record.facesFound ?? null,
      timings_ms: record.timingsMs ?? null,
      predict_time_ms: predict,
      attempts: record.attempts,
    },
    webhook: record.webhookUrl ?? null,
    urls: { get: self, cancel: self },
  };
}
