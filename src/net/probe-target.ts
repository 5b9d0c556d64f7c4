// Which addresses the rendezvous reachability probe may connect to. The probe
// is a TCP connect to an address a client chose, so it is a port-scan oracle
// and, inside a LAN or VPC, SSRF: only IP literals (a name could resolve to
// anything, and again differently at connect time), never what the
// public-address rule refuses, nor the reserved ranges below, unless an
// operator allows a range (`--rendezvous-probe-allow`).
import { BlockList, isIP } from "node:net";
import { isPublicIp, type AddressMatcher } from "./address.js";
import { parseHostPort } from "./host-port.js";

/** Reserved ranges the public-address rule lets through, refused as probe targets. */
const RESERVED = new BlockList();
RESERVED.addSubnet("0.0.0.0", 8, "ipv4"); // "this network"
RESERVED.addSubnet("100.64.0.0", 10, "ipv4"); // carrier-grade NAT
RESERVED.addSubnet("192.0.0.0", 24, "ipv4"); // IETF protocol assignments
RESERVED.addSubnet("198.18.0.0", 15, "ipv4"); // benchmarking
RESERVED.addSubnet("240.0.0.0", 4, "ipv4"); // reserved, and the broadcast address
// IPv6 forms that embed or translate to an IPv4 address (after IPv4-mapped ones are unmapped).
RESERVED.addSubnet("::", 96, "ipv6"); // IPv4-compatible (deprecated)
RESERVED.addSubnet("64:ff9b::", 96, "ipv6"); // NAT64
RESERVED.addSubnet("64:ff9b:1::", 48, "ipv6"); // local NAT64
RESERVED.addSubnet("2002::", 16, "ipv6"); // 6to4
RESERVED.addSubnet("2001::", 32, "ipv6"); // Teredo
RESERVED.addSubnet("100::", 64, "ipv6"); // discard-only

export interface ProbeTarget {
  /** The address to connect to: IPv4 (an IPv4-mapped IPv6 one unmapped) or IPv6. */
  readonly ip: string;
  readonly port: number;
}

/** Why a target is refused (said in no answer; for logs and tests). */
export type ProbeRefusal = "not_host_port" | "not_ip_literal" | "not_public" | "reserved";

const MAPPED = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;

/** `ip` with an IPv4-mapped IPv6 address (any spelling) turned into its IPv4 address. */
export function unmapIpv4(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const canonical = new URL(`http://[${ip}]`).hostname.slice(1, -1);
  const mapped = MAPPED.exec(canonical);
  if (mapped === null) return canonical;
  const high = Number.parseInt(mapped[1] as string, 16);
  const low = Number.parseInt(mapped[2] as string, 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

/**
 * The target of `text` (`ipv4:port` or `[ipv6]:port`, port 1-65535), or why
 * it is refused. `isAllowed` (the configured ranges) overrides the address
 * rules, never the form.
 */
export function checkProbeTarget(text: string, isAllowed: AddressMatcher): ProbeTarget | ProbeRefusal {
  const parsed = parseHostPort(text);
  if (parsed === undefined) return "not_host_port";
  if (isIP(parsed.host) === 0 || parsed.host.includes("%")) return "not_ip_literal";
  const ip = unmapIpv4(parsed.host);
  if (!isAllowed(ip)) {
    if (!isPublicIp(ip)) return "not_public";
    if (RESERVED.check(ip, isIP(ip) === 4 ? "ipv4" : "ipv6")) return "reserved";
  }
  return { ip, port: parsed.port };
}
