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

/** One `host:port` that must never be fetched from or posted to, whatever the allow-list says. */
interface DeniedEndpoint {
  readonly address: ipaddr.IPv4 | ipaddr.IPv6;
  readonly port: number;
  /** On a loopback or unspecified address: every such address reaches the listener, so each is denied on this port. */
  readonly anyLocal: boolean;
}

/**
 * Parses `127.0.0.1:4566` or `[::1]:4566` (an IP literal and a port; no host names, which could resolve elsewhere).
 * Throws a RangeError on anything else.
 */
export function parseEndpoint(text: string): { readonly address: string; readonly port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(text.trim());
  const address = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (address === undefined || !ipaddr.isValid(address) || !(port >= 1 && port <= 65_535)) {
    throw new RangeError(`${JSON.stringify(text)} is not an endpoint (an IP literal and a port: 127.0.0.1:4566 or [::1]:4566)`);
  }
  return { address, port };
}

/** True for an address that stands for this machine: loopback (127.0.0.0/8, ::1) or unspecified (0.0.0.0, ::). */
function isLocal(address: ipaddr.IPv4 | ipaddr.IPv6): boolean {
  const range = address.range();
  return range === 'loopback' || range === 'unspecified';
}

/** Options of an {@link AddressPolicy}. */
export interface AddressPolicyOptions {
  /**
   * Endpoints (`host:port`, IP literals) refused whatever `allowCidrs` says: the local stack lists its own emulators
   * and API (REVIVE_URL_DENY_ENDPOINTS), so a loopback allow-list for a test receiver never opens the emulator's
   * unauthenticated S3 (another tenant's uploads) to a job's source URL. One on a loopback or unspecified address
   * denies its port on every loopback and unspecified address. @default [] (none)
   */
  readonly denyEndpoints?: readonly string[];
}

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
  private readonly denied: readonly DeniedEndpoint[];

  constructor(allowCidrs: readonly string[] = [], options: AddressPolicyOptions = {}) {
    this.allow = allowCidrs.map((c) => ipaddr.parseCIDR(c));
    this.denied = (options.denyEndpoints ?? []).map((text) => {
      const { address, port } = parseEndpoint(text);
      const parsed = ipaddr.process(address);
      return { address: parsed, port, anyLocal: isLocal(parsed) };
    });
  }

  /** True when some denied endpoint has this port: connections to it need the address check with the port. */
  deniesPort(port: number): boolean {
    return this.denied.some((d) => d.port === port);
  }

  /**
   * Judges one address; with `port` (the worker knows it at connect time), also against the denied endpoints. The
   * API's early check of a URL's literal host passes no port and leaves those to the worker.
   */
  check(address: string, port?: number): AddressVerdict {
    const raw = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
    if (!ipaddr.isValid(raw)) return { allowed: false, reason: `${address} is not an IP address` };
    const parsed = ipaddr.parse(raw);
    // An IPv4-mapped IPv6 address reaches the IPv4 host it embeds; judge (and report) that host, and refuse the
    // mapped form outright since no public service needs it.
    if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
      return { allowed: false, reason: `${address} is an IPv4-mapped IPv6 address (${(parsed as ipaddr.IPv6).toIPv4Address().toString()})` };
    }
    if (this.metadata.some((cidr) => matches(parsed, cidr))) return { allowed: false, reason: `${address} is a cloud metadata address` };
    if (port !== undefined && this.denied.some((d) => d.port === port && (d.anyLocal ? isLocal(parsed) : sameAddress(d.address, parsed)))) {
      return { allowed: false, reason: `${address}:${port} is one of this deployment's own endpoints (REVIVE_URL_DENY_ENDPOINTS)` };
    }
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

function sameAddress(a: ipaddr.IPv4 | ipaddr.IPv6, b: ipaddr.IPv4 | ipaddr.IPv6): boolean {
  return a.kind() === b.kind() && a.toNormalizedString() === b.toNormalizedString();
}
