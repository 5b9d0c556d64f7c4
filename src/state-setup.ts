// `--state-file`: the registry and the generated signing key kept across
// restarts. Opened before the app is built (the key it holds signs tokens),
// written every --state-interval while the app runs and once more when it
// closes, after the listener: every acknowledged registration is in it.
import type { FastifyInstance } from "fastify";
import type { Config } from "./config/index.js";
import type { DiscoveryRegistry, RelayConfig } from "./service/discovery-service.js";
import { loadSnapshot, saveSnapshot, StateFileError, type LoadedSnapshot } from "./state/snapshot-file.js";
import { createSnapshotter } from "./state/snapshotter.js";
import type { Timers } from "./timers.js";
import { generateSigningKey, type SigningKey } from "./tokens/index.js";

export { StateFileError };

export interface OpenStateOptions {
  readonly registry: DiscoveryRegistry;
  readonly relays: readonly RelayConfig[];
  /** A key the caller chose (AppDeps.signingKey); else the configured one, else the file's, else a fresh one. */
  readonly signingKey: SigningKey | undefined;
  readonly now: () => number;
}

export interface OpenState {
  /** The key to sign with. */
  readonly signingKey: SigningKey;
  /** Starts the periodic writes and the last one on close; logs what was restored. */
  attach(app: FastifyInstance, timers: Timers): void;
}

/**
 * Restores `config.stateFile` into the registry (an absent file is a fresh
 * start) and picks the signing key. A new file, or a key generated now, is
 * written at once: a path that cannot be written fails here, and the key is
 * kept before any token is signed with it. Throws StateFileError, saying why.
 */
export async function openState(config: Config, path: string, options: OpenStateOptions): Promise<OpenState> {
  const loaded = await loadSnapshot(path, options);
  const signingKey = options.signingKey ?? config.signingKey ?? loaded?.signingKey ?? generateSigningKey();
  /** The key a snapshot keeps: any but a configured one (that one is already kept by whoever configured it). */
  const kept = config.signingKey === undefined ? signingKey : undefined;
  if (loaded === undefined || (kept !== undefined && kept !== loaded.signingKey)) {
    await saveSnapshot(path, options.registry, { savedAtMs: options.now(), signingKey: kept }).catch((error: unknown) => {
      throw new StateFileError(`state file ${path}: cannot be written (${(error as Error).message}); give a path in a writable directory`);
    });
  }
  return {
    signingKey,
    attach(app, timers) {
      logOpened(app, path, loaded, signingKey, kept !== undefined);
      const snapshotter = createSnapshotter({ path, registry: options.registry, signingKey: kept, intervalMs: config.stateIntervalMs, now: options.now, timers, log: app.log });
      // onClose hooks run once the server has closed and its in-flight requests are answered.
      app.addHook("onClose", async () => {
        if (await snapshotter.stop()) app.log.info({ path }, "state file written");
      });
    },
  };
}

function logOpened(app: FastifyInstance, path: string, loaded: LoadedSnapshot | undefined, key: SigningKey, kept: boolean): void {
  const keyNote = kept ? { kid: key.kid, signingKey: "kept in the state file" } : {};
  if (loaded === undefined) {
    app.log.info({ path, ...keyNote }, "no state file yet: starting with an empty registry");
    return;
  }
  const { restored, expired, unknownRelay, savedAtMs } = loaded;
  app.log.info({ path, savedAt: new Date(savedAtMs).toISOString(), ...restored, expired, unknownRelay, ...keyNote }, "registry restored from the state file");
}
