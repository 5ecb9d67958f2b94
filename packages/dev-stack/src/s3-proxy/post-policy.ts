import { timingSafeEqual } from 'node:crypto';
import { S3ProxyError } from './errors.js';
import { hmac, signingKey } from './sigv4.js';

/**
 * The presigned POST policy check, as S3 does it: the SigV4 signature over the base64 policy, its expiry, every
 * condition (key, bucket, content-length-range, Content-Type) and no extra fields. The file's size is checked apart
 * from the rest, because a streamed upload only knows it at its end.
 */

type Condition = Record<string, string> | [string, string | number, string | number];

/** What a POST policy allows, once its signature, expiry and conditions have been checked. */
export interface CheckedPolicy {
  readonly key: string;
  readonly contentType: string | undefined;
  /** The content-length-range, or [0, Infinity] without one. */
  readonly minBytes: number;
  readonly maxBytes: number;
}

/**
 * Checks a POST policy against the submitted fields the way S3 does, all but the file's size (which a streamed upload
 * only knows at its end): signature, expiry, conditions, extra fields. Returns the key, content type and size range.
 */
export function checkPostPolicy(bucket: string, fields: Map<string, string>, secretAccessKey: string, nowMs: number): CheckedPolicy {
  const get = (name: string) => fields.get(name.toLowerCase());
  const policyB64 = get('policy');
  const signature = get('x-amz-signature');
  const credential = get('x-amz-credential');
  if (!policyB64 || !signature || !credential) throw new S3ProxyError(400, 'InvalidArgument', 'Policy, X-Amz-Signature and X-Amz-Credential are required.');
  const [, date = '', region = '', service = ''] = credential.split('/');
  const expected = hmac(signingKey(secretAccessKey, date, region, service), policyB64);
  const given = Buffer.from(signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new S3ProxyError(403, 'SignatureDoesNotMatch', 'The POST policy signature does not match.');
  }
  const policy = JSON.parse(Buffer.from(policyB64, 'base64').toString('utf8')) as { expiration: string; conditions: Condition[] };
  if (Date.parse(policy.expiration) < nowMs) throw new S3ProxyError(403, 'AccessDenied', 'Invalid according to Policy: Policy expired.');
  const covered = new Set(['policy', 'x-amz-signature', 'file']);
  const field = (name: string) => (name.toLowerCase() === 'bucket' ? bucket : (get(name) ?? ''));
  let minBytes = 0;
  let maxBytes = Number.POSITIVE_INFINITY;
  for (const condition of policy.conditions) {
    if (Array.isArray(condition)) {
      const [op, a, b] = condition;
      if (op === 'content-length-range') {
        minBytes = Math.max(minBytes, Number(a));
        maxBytes = Math.min(maxBytes, Number(b));
        continue;
      }
      const name = String(a).replace(/^\$/, '');
      covered.add(name.toLowerCase());
      const value = field(name);
      const ok = op === 'eq' ? value === String(b) : op === 'starts-with' ? value.startsWith(String(b)) : false;
      if (!ok) throw new S3ProxyError(403, 'AccessDenied', `Invalid according to Policy: Policy Condition failed: ["${op}", "${String(a)}", "${String(b)}"]`);
    } else {
      for (const [name, expectedValue] of Object.entries(condition)) {
        covered.add(name.toLowerCase());
        if (field(name) !== expectedValue) {
          throw new S3ProxyError(403, 'AccessDenied', `Invalid according to Policy: Policy Condition failed: ["eq", "$${name}", "${expectedValue}"]`);
        }
      }
    }
  }
  for (const name of fields.keys()) {
    if (!covered.has(name) && !name.startsWith('x-ignore-')) {
      throw new S3ProxyError(403, 'AccessDenied', `Invalid according to Policy: Extra input fields: ${name}`);
    }
  }
  const key = get('key');
  if (!key) throw new S3ProxyError(400, 'InvalidArgument', 'The form has no key field.');
  return { key, contentType: get('content-type'), minBytes, maxBytes };
}

/** S3's EntityTooLarge for a body over `maxBytes`: the policy's maximum or the proxy's own form limit. */
export function tooLarge(maxBytes: number): S3ProxyError {
  return new S3ProxyError(400, 'EntityTooLarge', `Your proposed upload exceeds the maximum allowed size (${maxBytes}).`);
}

/** Checks the file's final size against the policy's content-length-range. */
export function checkFileBytes(policy: CheckedPolicy, fileBytes: number): void {
  if (fileBytes < policy.minBytes) throw new S3ProxyError(400, 'EntityTooSmall', `Your proposed upload is smaller than the minimum allowed size (${policy.minBytes}).`);
  if (fileBytes > policy.maxBytes) throw tooLarge(policy.maxBytes);
}

/** Verifies a POST policy against the submitted fields the way S3 does; returns the key and content type. */
export function verifyPostPolicy(
  bucket: string,
  fields: Map<string, string>,
  fileBytes: number,
  secretAccessKey: string,
  nowMs: number,
): { key: string; contentType: string | undefined } {
  const policy = checkPostPolicy(bucket, fields, secretAccessKey, nowMs);
  checkFileBytes(policy, fileBytes);
  return { key: policy.key, contentType: policy.contentType };
}
