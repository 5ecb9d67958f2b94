import { BlockList, isIP } from 'node:net';
import { ClientError } from '../errors.js';

/**
 * The API's first look at a URL a job will fetch or call back: it refuses what is forbidden without DNS (non-http(s)
 * schemes, literal private/loopback/link-local/metadata addresses, localhost names). The worker checks again at
 * fetch time, after DNS and after every redirect; this check only gives the caller an early, clear 400.
 */

/** Addresses no job may reach, even when an allow-list CIDR covers them. */
const METADATA = new BlockList();
METADATA.addAddress('169.254.169.254', 'ipv4'); // EC2 instance metadata
METADATA.addAddress('169.254.170.2', 'ipv4'); // ECS task metadata / credentials
METADATA.addAddress('fd00:ec2::254', 'ipv6'); // EC2 instance metadata over IPv6

const PRIVATE = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv6');
}

/** Host names that always mean "this machine" or a cloud metadata service. */
const FORBIDDEN_NAMES = /^(localhost|.*\.localhost|metadata\.google\.internal|instance-data(\.ec2\.internal)?)\.?$/i;

/** The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::/96) IPv6 address. */
function embeddedIpv4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (hex) {
    const high = Number.parseInt(hex[1]!, 16);
    const low = Number.parseInt(hex[2]!, 16);
    return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
  }
  return undefined;
}

/** Builds the allow-list from REVIVE_URL_ALLOW_CIDRS entries ("127.0.0.2/32", "fd12::/16"). */
export function allowListOf(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [net = '', prefix = ''] = cidr.split('/');
    const family = isIP(net) === 6 ? 'ipv6' : 'ipv4';
    list.addSubnet(net, Number(prefix), family);
  }
  return list;
}

/** Why an address is forbidden, or undefined when it is public (or allowed). */
export function forbiddenAddressReason(address: string, allow: BlockList): string | undefined {
  const mapped = embeddedIpv4(address);
  if (mapped !== undefined) return forbiddenAddressReason(mapped, allow);
  const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
  if (METADATA.check(address, family)) return `${address} is a cloud metadata address`;
  if (PRIVATE.check(address, family) && !allow.check(address, family)) {
    return `${address} is a private, loopback, link-local or reserved address`;
  }
  return undefined;
}

/** Throws a 400 FORBIDDEN_URL when `raw` is not a URL a job may use; `field` names it in the message. */
export function assertPublicUrl(raw: string, field: string, allow: BlockList): void {
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
    const reason = forbiddenAddressReason(host, allow);
    if (reason !== undefined) throw fail(reason);
  } else if (FORBIDDEN_NAMES.test(host)) {
    throw fail(`${host} names this machine or a metadata service`);
  }
}
