// Polls waiting for a record on their mesh (the rendezvous long-poll). Each
// waiter holds one timer and one abort listener, nothing else: no loop, no
// polling of the store. A publish wakes every waiter of its mesh at once.
import { Code, ConnectError } from "@connectrpc/connect";
import type { Timers } from "../timers.js";

export interface WaiterLimits {
  /** Waiting polls on one mesh (`--rendezvous-max-polls-per-mesh`). */
  readonly perMesh: number;
  /** Waiting polls in all (`--rendezvous-max-polls`). */
  readonly total: number;
}

/** Why a wait ended without an error. */
export type WaitEnd = "woken" | "timed_out" | "released";

export interface WaiterSet {
  /**
   * Waits up to `ms` for `wake(meshId)`. Rejects with `resource_exhausted`
   * when a cap is reached (nothing is held then), and with the signal's
   * reason as soon as `signal` aborts (deadline passed, client gone).
   */
  wait(meshId: string, ms: number, signal: AbortSignal): Promise<WaitEnd>;
  /** Ends every wait on `meshId` ("woken"); returns how many. */
  wake(meshId: string): number;
  /** Ends every wait ("released"), e.g. when the server closes; returns how many. */
  releaseAll(): number;
  /** Waits held in all. */
  readonly size: number;
  /** Waits held on `meshId`. */
  countFor(meshId: string): number;
}

interface Waiter {
  readonly end: (how: WaitEnd) => void;
}

export function createWaiterSet(limits: WaiterLimits, timers: Timers): WaiterSet {
  const meshes = new Map<string, Set<Waiter>>();
  let size = 0;

  function endAll(waiters: Iterable<Waiter>, how: WaitEnd): number {
    let ended = 0;
    for (const waiter of [...waiters]) {
      waiter.end(how);
      ended++;
    }
    return ended;
  }

  return {
    wait(meshId, ms, signal) {
      if (signal.aborted) return Promise.reject(signal.reason);
      const waiting = meshes.get(meshId);
      if ((waiting?.size ?? 0) >= limits.perMesh) {
        return Promise.reject(
          new ConnectError(
            `too many polls waiting on mesh ${meshId}: at most ${limits.perMesh} (--rendezvous-max-polls-per-mesh); retry in 2s`,
            Code.ResourceExhausted,
            { "retry-after": "2" },
          ),
        );
      }
      if (size >= limits.total) {
        return Promise.reject(
          new ConnectError(
            `too many polls waiting on this server: at most ${limits.total} (--rendezvous-max-polls); retry in 2s`,
            Code.ResourceExhausted,
            { "retry-after": "2" },
          ),
        );
      }
      return new Promise<WaitEnd>((resolve, reject) => {
        const set = waiting ?? new Set<Waiter>();
        if (waiting === undefined) meshes.set(meshId, set);
        let done = false;
        const release = () => {
          done = true;
          timers.clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
          set.delete(waiter);
          size--;
          if (set.size === 0 && meshes.get(meshId) === set) meshes.delete(meshId);
        };
        const waiter: Waiter = {
          end(how) {
            if (done) return;
            release();
            resolve(how);
          },
        };
        const onAbort = () => {
          release();
          reject(signal.reason);
        };
        const timer = timers.setTimeout(() => waiter.end("timed_out"), ms);
        signal.addEventListener("abort", onAbort, { once: true });
        set.add(waiter);
        size++;
      });
    },
    wake(meshId) {
      const waiting = meshes.get(meshId);
      return waiting === undefined ? 0 : endAll(waiting, "woken");
    },
    releaseAll() {
      let ended = 0;
      for (const waiting of [...meshes.values()]) ended += endAll(waiting, "released");
      return ended;
    },
    get size() {
      return size;
    },
    countFor(meshId) {
      return meshes.get(meshId)?.size ?? 0;
    },
  };
}
