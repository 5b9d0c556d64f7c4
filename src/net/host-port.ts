import { isIP } from "node:net";

export interface HostPort {
  /** IP address (IPv6 without brackets), DNS name, or "" for "the address you see". */
  readonly host: string;
  readonly port: number;
}

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/**
 * Parses `host:port` where host is empty, IPv4, `[IPv6]` or a DNS name and
 * port is 1-65535. Returns undefined when it is not of that form.
 */
export function parseHostPort(text: string, options: { allowEmptyHost?: boolean } = {}): HostPort | undefined {
  const colon = text.lastIndexOf(":");
  if (colon === -1) return undefined;
  const portText = text.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < 1 || port > 65535) return undefined;
  let host = text.slice(0, colon);
  if (host.startsWith("[")) {
    if (!host.endsWith("]")) return undefined;
    host = host.slice(1, -1);
    return isIP(host) === 6 ? { host, port } : undefined;
  }
  if (host === "") return options.allowEmptyHost === true ? { host, port } : undefined;
  if (isIP(host) === 4 || DNS_NAME.test(host)) return { host, port };
  return undefined;
}
