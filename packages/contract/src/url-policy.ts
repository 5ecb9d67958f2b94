import ipaddr from 'ipaddr.js';

/**
 * Never reachable, whatever the allow-list says: the whole IPv4 link-local block (EC2 instance metadata at
 * 169.254.169.254, ECS task credentials at 169.254.170.2, EKS pod identity at 169.254.170.23) and EC2's IPv6
 * metadata prefix (fd00:ec2::254 and friends).
 */
export const METADATA_CIDRS = ['169.254.0.0/16', 'fd00:ec2::/32'] as const;

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

const IPV4_COMPATIBLE: Cidr = ipaddr.parseCIDR('::/96');

/** Verdict on one address. */
export type AddressVerdict = { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

/**
 * One policy for both edges: the API judges literal addresses in URLs with it (an early 400), the worker every
 * resolved address at connect time and on each redirect.
 *
 * Which IP addresses URL sources and webhooks may connect to: public unicast only (ipaddr.js range `unicast`),
 * which refuses private, loopback, link-local, CGNAT, multicast, unspecified, reserved, NAT64, 6to4, Teredo and
 * IPv4-mapped IPv6 addresses; plus the `allowCidrs` a local test sets (REVIVE_URL_ALLOW_CIDRS), except metadata.
 */
export class AddressPolicy {
  private readonly allow: readonly Cidr[];
  private readonly metadata: readonly Cidr[] = METADATA_CIDRS.map((c) => ipaddr.parseCIDR(c));

  constructor(allowCidrs: readonly string[] = []) {
    this.allow = allowCidrs.map((c) => ipaddr.parseCIDR(c));
  }

  check(address: string): AddressVerdict {
    const raw = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
    if (!ipaddr.isValid(raw)) return { allowed: false, reason: `${address} is not an IP address` };
    const parsed = ipaddr.parse(raw);
    // An IPv4-mapped IPv6 address reaches the IPv4 host it embeds; judge (and report) that host, and refuse the
    // mapped form outright since no public service needs it.
    if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
      return { allowed: false, reason: `${address} is an IPv4-mapped IPv6 address (${(parsed as ipaddr.IPv6).toIPv4Address().toString()})` };
    }
    if (this.metadata.some((cidr) => matches(parsed, cidr))) return { allowed: false, reason: `${address} is a cloud metadata address` };
    if (this.allow.some((cidr) => matches(parsed, cidr))) return { allowed: true };
    const range = parsed.range();
    if (range !== 'unicast') return { allowed: false, reason: `${address} is a ${range} address` };
    // IPv4-compatible IPv6 (::a.b.c.d, deprecated by RFC 4291): ipaddr.js calls it unicast, but it embeds an IPv4 host.
    if (matches(parsed, IPV4_COMPATIBLE)) return { allowed: false, reason: `${address} is an IPv4-compatible IPv6 address` };
    return { allowed: true };
  }
}

function matches(address: ipaddr.IPv4 | ipaddr.IPv6, cidr: Cidr): boolean {
  return address.kind() === cidr[0].kind() && address.match(cidr);
}
