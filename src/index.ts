// The package's programmatic entry: `import { startDiscovery } from "coral-discovery"`.
import { buildApp } from "./app.js";
import { loadConfig, type Env, type LogLevel } from "./config.js";
import { listen } from "./listen.js";

export { buildApp } from "./app.js";
export type { AppDeps } from "./app.js";
export { ConfigError, loadConfig } from "./config.js";
export type { Config, LogLevel } from "./config.js";
export { VERSION } from "./version.js";

/**
 * Options of `startDiscovery`: the CLI's flags in camelCase (see
 * `coral-discovery --help`). Defaults suit a test suite and differ from the
 * CLI's: port 0 (a free one), host 127.0.0.1, logs silent, rate limits off.
 */
export interface StartDiscoveryOptions {
  port?: number;
  host?: string;
  /** Lease length, seconds. Default 300. */
  ttl?: number;
  /** Seconds between sweeps. Default 60. */
  cleanupInterval?: number;
  logLevel?: LogLevel;
  stunServers?: string[];
  /** `none`, `loopback` or CIDRs, comma-separated. */
  trustProxy?: string;
  /** Relays as `host:port`. */
  relay?: string[];
  /** false accepts placeholder pubkeys (`--pubkey-check off`). Default true. */
  pubkeyCheck?: boolean;
  /** Default false here (every test client shares one address). */
  rateLimit?: boolean;
  /** Bootstrap token lifetime, seconds. Default 60. */
  tokenTtl?: number;
  signingKeyFile?: string;
  previousKeysFile?: string;
  maxColonies?: number;
  maxAgentsPerMesh?: number;
  maxAgents?: number;
  maxRelaySessions?: number;
  /** Further flags, verbatim, e.g. `["--max-body-bytes", "4096"]`. */
  args?: string[];
  /** Environment variables to read settings from (e.g. `DISCOVERY_SIGNING_KEY`). Default: none, not `process.env`. */
  env?: Env;
}

export interface RunningDiscovery {
  /** e.g. `http://127.0.0.1:39123`: pass it to clients. */
  readonly url: string;
  readonly port: number;
  /** Stops listening, lets in-flight requests finish, frees the sweeper. */
  close(): Promise<void>;
}

/**
 * Starts a discovery service in this process, for Node test suites:
 * `const discovery = await startDiscovery(); ... await discovery.close();`.
 * Throws `ConfigError` listing every invalid option.
 */
export async function startDiscovery(options: StartDiscoveryOptions = {}): Promise<RunningDiscovery> {
  const { args = [], env = {}, ...flags } = options;
  const argv = ["--port", "0", "--host", "127.0.0.1", "--log-level", "silent", "--rate-limit", "off"];
  for (const [name, value] of Object.entries(flags)) {
    if (value === undefined) continue;
    const flag = `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    if (Array.isArray(value)) {
      if (name === "stunServers") argv.push(flag, value.join(","));
      else for (const item of value) argv.push(flag, String(item));
    } else if (typeof value === "boolean") {
      argv.push(flag, value ? "on" : "off");
    } else {
      argv.push(flag, String(value));
    }
  }
  const config = loadConfig([...argv, ...args], env);
  const app = await buildApp({ config });
  try {
    const listening = await listen(app, config.host, config.port);
    return { url: listening.url, port: listening.port, close: () => app.close() };
  } catch (error) {
    await app.close();
    throw error;
  }
}
