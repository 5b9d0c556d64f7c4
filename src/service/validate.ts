// Every field rule of the API, in one place. Each check throws
// `invalid_argument` with a message that names the field, quotes a short,
// escaped prefix of the bad value and says what is allowed. Callers run the
// checks in the wire contract's order (`mesh_id is required` before
// `pubkey is required`, ...).
import { isIP } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  FingerprintAlgorithm,
  type Endpoint,
  type PublicEndpointInfo,
} from "../../gen/coral/discovery/v1/discovery_pb.js";
import { parseHostPort } from "../net/host-port.js";

/** Limits of the field rules; all have the documented defaults. */
export const FIELD_LIMITS = {
  idLength: 128,
  endpoints: 16,
  endpointLength: 262,
  metadataEntries: 32,
  metadataKeyLength: 64,
  metadataValueBytes: 512,
  metadataTotalBytes: 4096,
  laxPubkeyLength: 256,
  urlLength: 2048,
  caCertBytes: 16 * 1024,
  shortTextLength: 64,
} as const;

/** The range of google.protobuf.Timestamp (JSON cannot express anything else). */
const MIN_TIMESTAMP_SECONDS = -62_135_596_800n;
const MAX_TIMESTAMP_SECONDS = 253_402_300_799n;

const ID = /^[A-Za-z0-9._\-:@]{1,128}$/;
const ID_RULE = "use 1-128 characters from letters, digits and . _ - : @";

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

/** A short, escaped, quoted prefix of user input for messages. */
export function quote(value: string, max = 32): string {
  const cut = value.length > max ? `${value.slice(0, max)}…` : value;
  return JSON.stringify(cut);
}

export function required(value: string, field: string): void {
  if (value === "") throw invalid(`${field} is required`);
}

/** A mesh, agent or colony id: required, then 1-128 of `[A-Za-z0-9._-:@]`. */
export function id(value: string, field: string): void {
  required(value, field);
  if (!ID.test(value)) throw invalid(`${field} ${quote(value)} is invalid: ${ID_RULE}`);
}

/** Canonical WireGuard key text: standard base64 of 32 bytes, padded (`wg pubkey` prints this). */
const WIREGUARD_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/**
 * A WireGuard public key: the canonical 44-character standard base64 of
 * exactly 32 bytes. One spelling per key matters: keys are stored as sent and
 * split-brain compares them as text. With `strict` off (`--pubkey-check off`,
 * for test rigs with placeholder keys), any non-empty key of at most 256 characters.
 */
export function pubkey(value: string, field: string, strict: boolean): void {
  required(value, field);
  if (!strict) {
    if (value.length > FIELD_LIMITS.laxPubkeyLength) {
      throw invalid(`${field} is ${value.length} characters; at most ${FIELD_LIMITS.laxPubkeyLength} are allowed`);
    }
    return;
  }
  if (!WIREGUARD_KEY.test(value)) {
    throw invalid(
      `${field} ${quote(value)} is not a WireGuard public key: use standard base64 of exactly 32 bytes ` +
        `(44 characters ending in =, as wg pubkey prints); a test rig with placeholder keys can start the service with --pubkey-check off`,
    );
  }
}

/** `host:port` endpoints: at most 16, host empty / IPv4 / [IPv6] / DNS name, port 1-65535. */
export function endpoints(values: readonly string[], field: string, requireOne: boolean): void {
  if (requireOne && values.length === 0) throw invalid("at least one endpoint is required");
  if (values.length > FIELD_LIMITS.endpoints) {
    throw invalid(`${field} has ${values.length} entries; at most ${FIELD_LIMITS.endpoints} are allowed`);
  }
  for (let i = 0; i < values.length; i++) {
    const value = values[i] as string;
    if (value.length > FIELD_LIMITS.endpointLength || parseHostPort(value, { allowEmptyHost: true }) === undefined) {
      throw invalid(
        `${field}[${i}] ${quote(value)} is invalid: use host:port with an empty host (":51820"), IPv4, [IPv6] or a DNS name, ` +
          `port 1-65535, at most ${FIELD_LIMITS.endpointLength} characters`,
      );
    }
  }
}

/** A client-reported endpoint: a valid IP, port 0-65535, protocol udp, tcp or empty (udp). */
export function observedEndpoint(endpoint: Endpoint | undefined, field: string): void {
  if (endpoint === undefined) return;
  if (endpoint.ip !== "" && isIP(endpoint.ip) === 0) {
    throw invalid(`${field}.ip ${quote(endpoint.ip)} is not an IPv4 or IPv6 address`);
  }
  port(endpoint.port, `${field}.port`);
  if (endpoint.protocol !== "" && endpoint.protocol !== "udp" && endpoint.protocol !== "tcp") {
    throw invalid(`${field}.protocol ${quote(endpoint.protocol)} is invalid: use udp, tcp or leave it empty (udp)`);
  }
}

export function port(value: number, field: string): void {
  if (value > 65535) throw invalid(`${field} ${value} is invalid: ports are 0-65535`);
}

/** At most 32 entries; keys 1-64 characters, values at most 512 bytes, 4 KiB in all. */
export function metadata(map: Readonly<Record<string, string>>, field: string): void {
  let entries = 0;
  let total = 0;
  for (const key in map) {
    if (++entries > FIELD_LIMITS.metadataEntries) {
      throw invalid(`${field} has more than ${FIELD_LIMITS.metadataEntries} entries; at most ${FIELD_LIMITS.metadataEntries} are allowed`);
    }
    if (key.length === 0 || key.length > FIELD_LIMITS.metadataKeyLength) {
      throw invalid(`${field} key ${quote(key)} is invalid: keys are 1-${FIELD_LIMITS.metadataKeyLength} characters`);
    }
    const valueBytes = Buffer.byteLength(map[key] as string);
    if (valueBytes > FIELD_LIMITS.metadataValueBytes) {
      throw invalid(`${field}[${quote(key)}] is ${valueBytes} bytes; values are at most ${FIELD_LIMITS.metadataValueBytes} bytes`);
    }
    total += Buffer.byteLength(key) + valueBytes;
  }
  if (total > FIELD_LIMITS.metadataTotalBytes) {
    throw invalid(`${field} is ${total} bytes in all; at most ${FIELD_LIMITS.metadataTotalBytes} bytes of keys and values are allowed`);
  }
}

/** Empty, or a valid address of the given family. */
export function address(value: string, family: 4 | 6, field: string): void {
  if (value !== "" && isIP(value) !== family) {
    throw invalid(`${field} ${quote(value)} is not an IPv${family} address (leave it empty for none)`);
  }
}

/** `url` empty or http(s) and at most 2048 characters; `ca_cert` at most 16 KiB; a SHA256 fingerprint is 32 bytes. */
export function publicEndpoint(info: PublicEndpointInfo | undefined, field: string): void {
  if (info === undefined) return;
  if (info.url !== "") {
    let ok = info.url.length <= FIELD_LIMITS.urlLength;
    if (ok) {
      try {
        const protocol = new URL(info.url).protocol;
        ok = protocol === "https:" || protocol === "http:";
      } catch {
        ok = false;
      }
    }
    if (!ok) throw invalid(`${field}.url ${quote(info.url)} is invalid: use an http(s) URL of at most ${FIELD_LIMITS.urlLength} characters`);
  }
  const certBytes = Buffer.byteLength(info.caCert);
  if (certBytes > FIELD_LIMITS.caCertBytes) {
    throw invalid(`${field}.ca_cert is ${certBytes} bytes; at most ${FIELD_LIMITS.caCertBytes} are allowed`);
  }
  const updated = info.updatedAt;
  if (updated !== undefined && (updated.seconds < MIN_TIMESTAMP_SECONDS || updated.seconds > MAX_TIMESTAMP_SECONDS || updated.nanos < 0 || updated.nanos > 999_999_999)) {
    throw invalid(
      `${field}.updated_at is out of range: seconds must lie in 0001-01-01..9999-12-31 (${MIN_TIMESTAMP_SECONDS}..${MAX_TIMESTAMP_SECONDS}) and nanos in 0..999999999`,
    );
  }
  const fingerprint = info.caFingerprint;
  if (fingerprint?.algorithm === FingerprintAlgorithm.SHA256 && fingerprint.value.length !== 32) {
    throw invalid(`${field}.ca_fingerprint.value is ${fingerprint.value.length} bytes; a SHA256 fingerprint is 32 bytes`);
  }
}

/** Optional free text (intent, reef_id): at most 64 characters. */
export function shortText(value: string, field: string): void {
  if (value.length > FIELD_LIMITS.shortTextLength) {
    throw invalid(`${field} ${quote(value)} is too long: at most ${FIELD_LIMITS.shortTextLength} characters`);
  }
}

/** Opaque ids we minted (relay sessions): required, at most 128 characters. */
export function opaqueId(value: string, field: string): void {
  required(value, field);
  if (value.length > FIELD_LIMITS.idLength) {
    throw invalid(`${field} ${quote(value)} is too long: at most ${FIELD_LIMITS.idLength} characters`);
  }
}
