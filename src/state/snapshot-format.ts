// The snapshot file's lines (NDJSON): a header, one line per active lease, and
// an end line that counts them, so a file cut short at a line boundary is
// told from a whole one. Payloads go through the lease codecs (bigint as
// text, bytes as base64); every line read is shape-checked, and a bad one is
// reported by its number.
import type { AgentLease, ColonyLease, RelaySession, SavedLease } from "../registry/index.js";
import type { AgentData, ColonyData, RelayData } from "../service/discovery-service.js";
import { agentCodec, colonyCodec, relayCodec } from "../service/lease-codec.js";
import { formatSigningKey, parseSigningKey, type SigningKey } from "../tokens/index.js";

export const SNAPSHOT_FORMAT = "coral-discovery-snapshot";
export const SNAPSHOT_VERSION = 1;

/** The first line. */
export interface SnapshotHeader {
  /** Unix ms the write started. */
  readonly savedAtMs: number;
  /** The generated token signing key, kept so tokens minted before a restart still verify; absent when one is configured. */
  readonly signingKey?: SigningKey | undefined;
}

/** A lease line, decoded. */
export type SnapshotLease =
  | { readonly kind: "colony"; readonly lease: SavedLease<ColonyLease<ColonyData>> }
  | { readonly kind: "agent"; readonly lease: SavedLease<AgentLease<AgentData>> }
  | { readonly kind: "relay"; readonly lease: SavedLease<RelaySession<RelayData>> };

/** The last line: how many lease lines come before it. */
export interface SnapshotEnd {
  readonly kind: "end";
  readonly leases: number;
}

/** A line that is not what this module writes; `problem` says what is wrong with it. */
export class SnapshotLineError extends Error {
  override readonly name = "SnapshotLineError";
  constructor(readonly problem: string) {
    super(problem);
  }
}

export function encodeHeader(header: SnapshotHeader): string {
  const key = header.signingKey === undefined ? {} : { signingKey: JSON.parse(formatSigningKey(header.signingKey)) as unknown };
  return JSON.stringify({ format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, savedAtMs: header.savedAtMs, ...key });
}

export function encodeColony(lease: ColonyLease<ColonyData>): string {
  const { bytes: _bytes, data, ...fields } = lease;
  return JSON.stringify({ kind: "colony", ...fields, data: colonyCodec.encode(data) });
}

export function encodeAgent(lease: AgentLease<AgentData>): string {
  const { bytes: _bytes, data, ...fields } = lease;
  return JSON.stringify({ kind: "agent", ...fields, data: agentCodec.encode(data) });
}

export function encodeRelay(session: RelaySession<RelayData>): string {
  const { bytes: _bytes, data, ...fields } = session;
  return JSON.stringify({ kind: "relay", ...fields, data: relayCodec.encode(data) });
}

export function encodeEnd(leases: number): string {
  return JSON.stringify({ kind: "end", leases });
}

/** Reads line 1; throws SnapshotLineError. */
export function decodeHeader(text: string): SnapshotHeader {
  const o = parse(text);
  if (o.format !== SNAPSHOT_FORMAT) throw new SnapshotLineError(`not a coral-discovery snapshot: the first line's "format" must be "${SNAPSHOT_FORMAT}"`);
  if (o.version !== SNAPSHOT_VERSION) {
    throw new SnapshotLineError(`snapshot version ${JSON.stringify(o.version)} is not one this version reads (${SNAPSHOT_VERSION})`);
  }
  const savedAtMs = o.savedAtMs;
  if (typeof savedAtMs !== "number" || !Number.isFinite(savedAtMs)) throw new SnapshotLineError('"savedAtMs" is not a number');
  if (o.signingKey === undefined) return { savedAtMs };
  try {
    return { savedAtMs, signingKey: parseSigningKey(JSON.stringify(o.signingKey), "signingKey") };
  } catch (error) {
    // A KeyConfigError, saying what is wrong with the key (never quoting it).
    throw new SnapshotLineError((error as Error).message);
  }
}

/** Reads a line after the header; throws SnapshotLineError. */
export function decodeLine(text: string): SnapshotLease | SnapshotEnd {
  const o = parse(text);
  try {
    switch (o.kind) {
      case "colony":
        return {
          kind: "colony",
          lease: { ...extras(o), meshId: str(o, "meshId"), pubkey: str(o, "pubkey"), ...times(o), proven: proven(o), data: colonyCodec.decode(o.data) },
        };
      case "agent":
        return {
          kind: "agent",
          lease: {
            ...extras(o),
            meshId: str(o, "meshId"),
            agentId: str(o, "agentId"),
            pubkey: str(o, "pubkey"),
            owner: str(o, "owner"),
            ...times(o),
            proven: proven(o),
            data: agentCodec.decode(o.data),
          },
        };
      case "relay":
        return {
          kind: "relay",
          lease: {
            ...extras(o),
            sessionId: str(o, "sessionId"),
            meshId: str(o, "meshId"),
            owner: str(o, "owner"),
            expiresAtMs: num(o, "expiresAtMs"),
            data: relayCodec.decode(o.data),
          },
        };
      case "end":
        return { kind: "end", leases: num(o, "leases") };
      default:
        throw new TypeError(`"kind" must be "colony", "agent", "relay" or "end", got ${JSON.stringify(o.kind) ?? "nothing"}`);
    }
  } catch (error) {
    // The codecs and the checks here throw TypeErrors naming the field.
    throw new SnapshotLineError(`${String(o.kind)} line: ${(error as TypeError).message}`);
  }
}

type Json = Record<string, unknown>;

/** Fields every lease kind has; the rest (e.g. a later version's flags) are carried along. */
const KNOWN = new Set(["kind", "meshId", "agentId", "sessionId", "pubkey", "owner", "lastSeenMs", "expiresAtMs", "proven", "data"]);

const PLAIN = new Set(["string", "number", "boolean"]);

/** The fields this module does not name: kept when they are plain values (string, number, boolean). */
function extras(o: Json): Json | undefined {
  let kept: Json | undefined;
  for (const key in o) {
    if (KNOWN.has(key)) continue;
    if (!PLAIN.has(typeof o[key])) throw new TypeError(`${key} is not a string, number or boolean`);
    (kept ??= {})[key] = o[key];
  }
  return kept;
}

/** Whether a registration proof made the lease (issue 16); absent in files written before: false. */
function proven(o: Json): boolean {
  if (o.proven === undefined) return false;
  if (typeof o.proven !== "boolean") throw new TypeError("proven is not a boolean");
  return o.proven;
}

function times(o: Json): { lastSeenMs: number; expiresAtMs: number } {
  return { lastSeenMs: num(o, "lastSeenMs"), expiresAtMs: num(o, "expiresAtMs") };
}

function parse(text: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new SnapshotLineError(text.trim() === "" ? "an empty line" : "not JSON (cut short or damaged)");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new SnapshotLineError("not a JSON object");
  return value as Json;
}

function str(o: Json, name: string): string {
  if (typeof o[name] !== "string") throw new TypeError(`${name} is not a string`);
  return o[name];
}

function num(o: Json, name: string): number {
  const value = o[name];
  if (typeof value !== "number" || !Number.isFinite(value)) throw new TypeError(`${name} is not a number`);
  return value;
}
