// The package's programmatic entry: `import { startDiscovery } from "coral-discovery"`.
import { buildApp } from "./app.js";
import { resolveConfig, type ConfigInput, type Env } from "./config/index.js";
import { listen } from "./listen.js";

export { buildApp } from "./app.js";
export type { AppDeps } from "./app.js";
export { ConfigError, loadConfig, resolveConfig } from "./config/index.js";
export type { Config, ConfigInput, LogLevel } from "./config/index.js";
export { VERSION } from "./version.js";

/**
 * Options of `startDiscovery`: every option of the daemon by its `Config`
 * key, in the unit the key names (`ttlSeconds: 30`, `headersTimeoutMs: 5000`),
 * or as the flag's text (see `coral-discovery --help`). Defaults suit a test
 * suite and differ from the CLI's in four: `port` 0 (a free one), `host`
 * 127.0.0.1, `logLevel` silent, `rateLimit` false. Like the CLI, pubkeys must
 * be WireGuard keys (`pubkeyCheck` true): pass `pubkeyCheck: false` for a
 * suite that registers placeholder keys.
 */
export interface StartDiscoveryOptions extends ConfigInput {
  /** Environment variables to read settings from (e.g. `DISCOVERY_SIGNING_KEY`) when an option is not given. Default: none, not `process.env`. */
  env?: Env;
}

export interface RunningDiscovery {
  /** e.g. `http://127.0.0.1:39123`: pass it to clients. */
  readonly url: string;
  readonly port: number;
  /** Stops listening, lets in-flight requests finish, frees the sweeper. */
  close(): Promise<void>;
}

/** What startDiscovery() uses where the CLI would use its own defaults. */
const TEST_SUITE_DEFAULTS: ConfigInput = { port: 0, host: "127.0.0.1", logLevel: "silent", rateLimit: false };

/**
 * Starts a discovery service in this process, for Node test suites:
 * `const discovery = await startDiscovery(); ... await discovery.close();`.
 * Throws `ConfigError` listing every invalid option.
 */
export async function startDiscovery(options: StartDiscoveryOptions = {}): Promise<RunningDiscovery> {
  const { env = {}, ...settings } = options;
  const config = resolveConfig(settings, { env, defaults: TEST_SUITE_DEFAULTS });
  const app = await buildApp({ config });
  try {
    const listening = await listen(app, config.host, config.port);
    return { url: listening.url, port: listening.port, close: () => app.close() };
  } catch (error) {
    await app.close();
    throw error;
  }
}
