// Writes the snapshot every `intervalMs` and once more when the app closes,
// one write at a time. A failed write (disk full, directory gone) is logged
// and tried again at the next interval: it never stops the service.
import { performance } from "node:perf_hooks";
import type { DiscoveryRegistry } from "../service/discovery-service.js";
import type { Timers } from "../timers.js";
import type { SigningKey } from "../tokens/index.js";
import type { AtomicWriteOptions } from "./atomic-file.js";
import { saveSnapshot } from "./snapshot-file.js";

export interface SnapshotterOptions extends AtomicWriteOptions {
  /** The snapshot file (`--state-file`). */
  readonly path: string;
  readonly registry: DiscoveryRegistry;
  /** Kept in every snapshot's header: the generated key. Undefined when the key is configured (it is not written then). */
  readonly signingKey: SigningKey | undefined;
  /** Time from the end of one write to the start of the next, ms (`--state-interval`). */
  readonly intervalMs: number;
  /** The clock, Unix ms (the header's `savedAtMs`). */
  readonly now: () => number;
  readonly timers: Timers;
  readonly log: { debug(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /** Leases per chunk (see CHUNK_LEASES). */
  readonly chunkLeases?: number;
  /** A monotonic clock in ms for write durations. Default `performance.now`. */
  readonly elapsedNow?: () => number;
}

export interface Snapshotter {
  /** Writes a snapshot once any write in progress is done; resolves true when it was written, false when it failed (logged). */
  writeNow(): Promise<boolean>;
  /** Stops the timer and writes a last snapshot (after any in progress); resolves like writeNow. */
  stop(): Promise<boolean>;
}

/** Starts writing `path` every `intervalMs` (the first write one interval from now). */
export function createSnapshotter(options: SnapshotterOptions): Snapshotter {
  const { path, registry, timers, log, intervalMs } = options;
  const elapsedNow = options.elapsedNow ?? (() => performance.now());
  let stopped = false;
  let timer: unknown;
  /** The last write asked for: the next one chains after it, so two never overlap. */
  let last: Promise<boolean> = Promise.resolve(true);
  /** A write asked for and not started yet: callers meanwhile share it. */
  let queued: Promise<boolean> | undefined;

  async function write(): Promise<boolean> {
    queued = undefined;
    const startMs = elapsedNow();
    let written = true;
    try {
      const saved = await saveSnapshot(path, registry, {
        savedAtMs: options.now(),
        signingKey: options.signingKey,
        ...(options.chunkLeases !== undefined && { chunkLeases: options.chunkLeases }),
        ...(options.rename !== undefined && { rename: options.rename }),
      });
      log.debug({ path, ...saved, durationMs: Math.round(elapsedNow() - startMs) }, "state file written");
    } catch (error) {
      written = false;
      const retry = stopped ? "the process is stopping: registrations since the last good write are lost" : `retrying in ${intervalMs / 1000} s`;
      log.error({ path, err: error }, `could not write the state file (${(error as Error).message}); ${retry}`);
    }
    schedule();
    return written;
  }

  function schedule(): void {
    timers.clearTimeout(timer);
    if (!stopped) timer = timers.setTimeout(() => void writeNow(), intervalMs);
  }

  function writeNow(): Promise<boolean> {
    queued ??= last = last.then(write);
    return queued;
  }

  schedule();
  return {
    writeNow,
    stop() {
      stopped = true;
      timers.clearTimeout(timer);
      return writeNow();
    },
  };
}
