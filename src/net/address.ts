import { BlockList, isIP } from "node:net";

/**
 * Ranges whose addresses say nothing useful about where a peer can be reached
 * from the internet (the wire contract's list): loopback, private,
 * link-local, multicast, unspecified, unique-local and IPv6 documentation.
 */
const NOT_PUBLIC = new BlockList();
NOT_PUBLIC.addSubnet("127.0.0.0", 8, "ipv4");
NOT_PUBLIC.addSubnet("10.0.0.0", 8, "ipv4");
NOT_PUBLIC.addSubnet("172.16.0.0", 12, "ipv4");
NOT_PUBLIC.addSubnet("192.168.0.0", 16, "ipv4");
NOT_PUBLIC.addSubnet("169.254.0.0", 16, "ipv4");
NOT_PUBLIC.addSubnet("224.0.0.0", 4, "ipv4");
NOT_PUBLIC.addAddress("0.0.0.0", "ipv4");
NOT_PUBLIC.addAddress("255.255.255.255", "ipv4");
NOT_PUBLIC.addAddress("::1", "ipv6");
NOT_PUBLIC.addAddress("::", "ipv6");
NOT_PUBLIC.addSubnet("fe80::", 10, "ipv6");
NOT_PUBLIC.addSubnet("ff00::", 8, "ipv6");
NOT_PUBLIC.addSubnet("fc00::", 7, "ipv6");
NOT_PUBLIC.addSubnet("2001:db8::", 32, "ipv6");

const MAPPED_V4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/**
 * Normalizes an IP address as a socket or header reports it: IPv4-mapped IPv6
 * (`::ffff:1.2.3.4`, what a dual-stack listener reports) becomes plain IPv4,
 * an IPv6 zone is dropped. Returns undefined for anything that is not an IP.
 */
export function normalizeIp(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  let ip = raw.trim();
  if (ip.startsWith("[") && ip.endsWith("]")) ip = ip.slice(1, -1);
  const zone = ip.indexOf("%");
  if (zone !== -1) ip = ip.slice(0, zone);
  const mapped = MAPPED_V4.exec(ip);
  if (mapped !== null) ip = mapped[1] as string;
  return isIP(ip) === 0 ? undefined : ip.toLowerCase();
}

/** True when `ip` (normalized) is a public unicast address. */
export function isPublicIp(ip: string): boolean {
  const family = isIP(ip);
  if (family === 0) return false;
  return !NOT_PUBLIC.check(ip, family === 4 ? "ipv4" : "ipv6");
}

/** Whether a (normalized) address lies in a set of ranges: trusted proxies, exempt clients. */
export type AddressMatcher = (ip: string) => boolean;

/**
 * A matcher for address ranges (`--trust-proxy`, `--rate-limit-exempt`): an
 * empty list matches nothing; entries are CIDRs or plain addresses (as
 * validated by config).
 */
export function createAddressMatcher(cidrs: readonly string[]): AddressMatcher {
  if (cidrs.length === 0) return () => false;
  const list = new BlockList();
  for (const cidr of cidrs) {
    const parsed = parseCidr(cidr);
    if (parsed === undefined) throw new Error(`invalid address range ${cidr}`);
    list.addSubnet(parsed.ip, parsed.prefix, parsed.family);
  }
  return (peerIp) => {
    const family = isIP(peerIp);
    return family !== 0 && list.check(peerIp, family === 4 ? "ipv4" : "ipv6");
  };
}

export interface Cidr {
  readonly ip: string;
  readonly prefix: number;
  readonly family: "ipv4" | "ipv6";
}

/** Parses `addr/prefix` or a bare address (a /32 or /128); undefined when invalid. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf("/");
  const ip = slash === -1 ? text : text.slice(0, slash);
  const version = isIP(ip);
  if (version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const digits = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(digits)) return undefined;
    prefix = Number(digits);
    if (prefix > max) return undefined;
  }
  return { ip, prefix, family: version === 4 ? "ipv4" : "ipv6" };
}

/** Where a request comes from, as the service uses it. */
export interface ClientAddress {
  /** The client: the socket peer, or the client a trusted proxy names. Keys rate limits and quotas. */
  readonly ip: string | undefined;
  /** The address to report as the caller's observed endpoint: `ip` when public, else a public X-Real-IP from a trusted proxy. */
  readonly observedIp: string | undefined;
}

/**
 * The client of a request. A socket peer that is not a trusted proxy is the
 * client, whatever headers it sends. From a trusted proxy, `X-Forwarded-For`
 * is read from the right (each proxy appends the address it received from):
 * trusted proxies are skipped and the first address that is not one is the
 * client, so no client can choose its own address by sending the header; an
 * entry that is not an IP address ends the walk (what lies left of it came
 * from an untrusted party). When the header is absent or yields no address,
 * `X-Real-IP` is the client, else the proxy itself. Either way the observed
 * address falls back to a public `X-Real-IP` when the client's is not public.
 */
export function resolveClient(
  peer: string | undefined,
  header: (name: string) => string | string[] | undefined,
  isTrustedProxy: AddressMatcher,
): ClientAddress {
  const peerIp = normalizeIp(peer);
  if (peerIp === undefined || !isTrustedProxy(peerIp)) return { ip: peerIp, observedIp: publicOrUndefined(peerIp) };
  const realIp = normalizeIp(first(header("x-real-ip")));
  const ip = forwardedClient(header("x-forwarded-for"), isTrustedProxy) ?? realIp ?? peerIp;
  const observedIp = publicOrUndefined(ip) ?? publicOrUndefined(realIp);
  return { ip, observedIp };
}

/** The client address of a request (see resolveClient). */
export function clientIp(
  peer: string | undefined,
  header: (name: string) => string | string[] | undefined,
  isTrustedProxy: AddressMatcher,
): string | undefined {
  return resolveClient(peer, header, isTrustedProxy).ip;
}

/** The first untrusted address of X-Forwarded-For, walking from the right; undefined when there is none. */
function forwardedClient(value: string | string[] | undefined, isTrustedProxy: AddressMatcher): string | undefined {
  if (value === undefined) return undefined;
  // Several header lines are one list, in order.
  const hops = (Array.isArray(value) ? value.join(",") : value).split(",");
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeIp(withoutPort(hops[i] as string));
    if (hop === undefined) return undefined;
    if (!isTrustedProxy(hop)) return hop;
  }
  return undefined;
}

/** Some proxies append `ip:port` or `[ipv6]:port`: the address part. */
function withoutPort(hop: string): string {
  const text = hop.trim();
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(text);
  if (bracketed !== null) return bracketed[1] as string;
  const v4 = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(text);
  return v4 === null ? text : (v4[1] as string);
}

function publicOrUndefined(ip: string | undefined): string | undefined {
  return ip !== undefined && isPublicIp(ip) ? ip : undefined;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The key a client address is counted under (rate limits, connection caps):
 * IPv4 as is, IPv6 by its network prefix (default a /64, since one subscriber
 * usually holds a whole /64 and per-address limits would be trivial to dodge).
 * `ip` must be normalized (see normalizeIp); undefined is "unknown".
 */
export function addressKey(ip: string | undefined, ipv6PrefixBits = 64): string {
  if (ip === undefined) return "unknown";
  if (!ip.includes(":")) return ip;
  const hextets = expandIpv6(ip);
  if (hextets === undefined) return ip;
  const kept: string[] = [];
  for (let i = 0; i * 16 < ipv6PrefixBits; i++) {
    const bits = Math.min(16, ipv6PrefixBits - i * 16);
    const mask = (0xffff << (16 - bits)) & 0xffff;
    kept.push(((hextets[i] as number) & mask).toString(16));
  }
  return `${kept.join(":")}::/${ipv6PrefixBits}`;
}

/** The eight 16-bit groups of an IPv6 address (an embedded IPv4 tail included); undefined when malformed. */
function expandIpv6(ip: string): number[] | undefined {
  let text = ip;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4 !== null) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail, extra] = text.split("::");
  if (extra !== undefined) return undefined;
  const headParts = head === "" ? [] : head.split(":");
  const tailParts = tail === undefined || tail === "" ? [] : tail.split(":");
  const zeros = tail === undefined ? 0 : 8 - headParts.length - tailParts.length;
  if (zeros < 0) return undefined;
  const parts = [...headParts, ...Array<string>(zeros).fill("0"), ...tailParts];
  if (parts.length !== 8) return undefined;
  const groups = parts.map((part) => Number.parseInt(part, 16));
  return groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}
