import { isIP } from 'node:net';
import type { AddressPolicy } from '@revive/contract';
import { ClientError } from '../errors.js';

/**
 * The API's first look at a URL a job will fetch or call back: it refuses what is forbidden without DNS (non-http(s)
 * schemes, literal private/loopback/link-local/metadata addresses, localhost names). The worker checks again at
 * fetch time, after DNS and after every redirect; this check only gives the caller an early, clear 400.
 */

/** Host names that always mean "this machine" or a cloud metadata service. */
const FORBIDDEN_NAMES = /^(localhost|.*\.localhost|metadata\.google\.internal|instance-data(\.ec2\.internal)?)\.?$/i;

/**
 * Throws a 400 FORBIDDEN_URL when `raw` is not a URL a job may use; `field` names it in the message. Literal
 * addresses are judged by `policy`, the same AddressPolicy the worker applies after DNS.
 */
export function assertPublicUrl(raw: string, field: string, policy: AddressPolicy): void {
  let url: URL;
  try {
    url = new URL(raw);
  } catch (error) {
    throw new ClientError(400, 'VALIDATION_FAILED', `${field} is not a URL.`, { cause: error });
  }
  const fail = (reason: string) =>
    new ClientError(400, 'FORBIDDEN_URL', `${field} is not allowed: ${reason}.`, { errors: [{ path: field, message: reason }] });
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw fail(`the scheme ${url.protocol} is not http(s)`);
  if (url.username !== '' || url.password !== '') throw fail('credentials in URLs are not accepted');
  // WHATWG URL parsing has already turned 0x7f.1, 2130706433 and friends into dotted quads.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (isIP(host) !== 0) {
    // The effective port: a denied endpoint (the local stack's own emulators) is an address and a port.
    const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
    const verdict = policy.check(host, port);
    if (!verdict.allowed) throw fail(verdict.reason);
  } else if (FORBIDDEN_NAMES.test(host)) {
    throw fail(`${host} names this machine or a metadata service`);
  }
}
