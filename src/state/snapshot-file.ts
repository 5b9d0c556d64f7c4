// The registry to a snapshot file and back (`--state-file`). Writing walks the
// live registry a chunk of leases at a time (no copy of it is made) into a
// temporary file renamed over the old one; reading checks every line before
// anything is restored and refuses a damaged file, naming the line.
import { open } from "node:fs/promises";
import type { DiscoveryRegistry, RelayConfig } from "../service/discovery-service.js";
import type { SigningKey } from "../tokens/index.js";
import { writeFileAtomically, type AtomicWriteOptions } from "./atomic-file.js";
import {
  decodeHeader,
  decodeLine,
  encodeAgent,
  encodeColony,
  encodeEnd,
  encodeHeader,
  encodeRelay,
  SnapshotLineError,
  type SnapshotLease,
} from "./snapshot-format.js";

/**
 * Leases encoded per chunk: each chunk is one write, and the event loop runs
 * between chunks. Encoding takes ~4.5 µs per lease (scripts/bench-snapshot.mjs):
 * about 5 ms of the loop per chunk.
 */
export const CHUNK_LEASES = 1_000;

/** The snapshot file cannot be used: the message names the file (and the line) and says what to do. Start-up stops on it. */
export class StateFileError extends Error {
  override readonly name = "StateFileError";
}

export interface SaveOptions extends AtomicWriteOptions {
  /** The time written in the header, Unix ms. */
  readonly savedAtMs: number;
  /** Kept in the header (a generated key); omit it when the key is configured. */
  readonly signingKey?: SigningKey | undefined;
  /** Leases per chunk. Default CHUNK_LEASES. */
  readonly chunkLeases?: number;
}

export interface SaveResult {
  /** Lease lines written. */
  readonly leases: number;
  /** Size of the file. */
  readonly bytes: number;
}

/** Writes every active lease of `registry` to `path`, replacing it atomically (mode 0600). Throws what the file system threw. */
export async function saveSnapshot(path: string, registry: DiscoveryRegistry, options: SaveOptions): Promise<SaveResult> {
  let leases = 0;
  function* chunks(): Generator<string> {
    const chunkLeases = options.chunkLeases ?? CHUNK_LEASES;
    let lines = [encodeHeader(options)];
    const flush = () => {
      const chunk = `${lines.join("\n")}\n`;
      lines = [];
      return chunk;
    };
    function* add(line: string): Generator<string> {
      lines.push(line);
      leases++;
      if (lines.length >= chunkLeases) yield flush();
    }
    const { colonies, agents, relaySessions } = registry.active();
    for (const lease of colonies) yield* add(encodeColony(lease));
    for (const lease of agents) yield* add(encodeAgent(lease));
    for (const session of relaySessions) yield* add(encodeRelay(session));
    lines.push(encodeEnd(leases));
    yield flush();
  }
  const bytes = await writeFileAtomically(path, chunks(), options);
  return { leases, bytes };
}

export interface LoadOptions {
  readonly registry: DiscoveryRegistry;
  /** The relays configured now: a relay session on another relay is dropped (its relay is no longer offered). */
  readonly relays: readonly RelayConfig[];
}

/** What `loadSnapshot` found and put back. */
export interface LoadedSnapshot {
  /** The header's time, Unix ms. */
  readonly savedAtMs: number;
  /** The signing key kept in the file, if any. */
  readonly signingKey: SigningKey | undefined;
  /** Leases restored, by kind. */
  readonly restored: { readonly colonies: number; readonly agents: number; readonly relaySessions: number };
  /** Leases in the file that expired since it was written: not restored. */
  readonly expired: number;
  /** Relay sessions on relays no longer configured: not restored. */
  readonly unknownRelay: number;
}

/**
 * Reads `path` and restores its active leases into `registry`, in expiry
 * order; resolves undefined when there is no such file (a fresh start).
 * Every line is checked before the first lease is restored: a file that is
 * unreadable, not a snapshot, of another version, damaged or cut short throws
 * StateFileError naming the file and the line, and the registry is untouched.
 * The file itself is never changed here.
 */
export async function loadSnapshot(path: string, options: LoadOptions): Promise<LoadedSnapshot | undefined> {
  const refuse = (problem: string) =>
    new StateFileError(`state file ${path}: ${problem}; it was left as it is: repair it, or move it away to start with an empty registry`);
  const file = await open(path, "r").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined;
    throw refuse(`cannot be read (${error.message})`);
  });
  if (file === undefined) return undefined;

  let header: ReturnType<typeof decodeHeader> | undefined;
  let end: number | undefined;
  let lineNumber = 0;
  const leases: SnapshotLease[] = [];
  try {
    for await (const line of file.readLines({ encoding: "utf8" })) {
      lineNumber++;
      if (header === undefined) {
        header = decodeHeader(line);
        continue;
      }
      if (end !== undefined) throw new SnapshotLineError("text after the end line");
      const decoded = decodeLine(line);
      if (decoded.kind === "end") {
        if (decoded.leases !== leases.length) throw new SnapshotLineError(`the end line counts ${decoded.leases} leases, the file holds ${leases.length}`);
        end = lineNumber;
      } else {
        leases.push(decoded);
      }
    }
  } catch (error) {
    if (error instanceof SnapshotLineError) throw refuse(`line ${lineNumber}: ${error.problem}`);
    throw refuse(`cannot be read (${(error as Error).message})`);
  } finally {
    await file.close();
  }
  if (header === undefined) throw refuse("is empty (no header line)");
  if (end === undefined) throw refuse(`ends at line ${lineNumber} without its end line: it was cut short`);
  return { savedAtMs: header.savedAtMs, signingKey: header.signingKey, ...restore(leases, options) };
}

/** Restores `leases` oldest expiry first (the order the registry's indexes assume). */
function restore(leases: SnapshotLease[], { registry, relays }: LoadOptions): Omit<LoadedSnapshot, "savedAtMs" | "signingKey"> {
  leases.sort((a, b) => a.lease.expiresAtMs - b.lease.expiresAtMs);
  const relaysById = new Map(relays.map((relay) => [relay.id, relay]));
  const restored = { colonies: 0, agents: 0, relaySessions: 0 };
  let expired = 0;
  let unknownRelay = 0;
  for (const { kind, lease } of leases) {
    let kept: unknown;
    if (kind === "colony") {
      kept = registry.restoreColony(lease);
      if (kept !== undefined) restored.colonies++;
    } else if (kind === "agent") {
      kept = registry.restoreAgent(lease);
      if (kept !== undefined) restored.agents++;
    } else {
      const relay = relaysById.get(lease.data.relay.id);
      if (relay === undefined) {
        unknownRelay++;
        continue;
      }
      kept = registry.restoreRelaySession({ ...lease, data: { ...lease.data, relay } });
      if (kept !== undefined) restored.relaySessions++;
    }
    if (kept === undefined) expired++;
  }
  return { restored, expired, unknownRelay };
}
