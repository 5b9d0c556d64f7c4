import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parseCidr } from "./net/address.js";
import { parseHostPort } from "./net/host-port.js";
import type { Rate } from "./limits/rate-limiter.js";
import { DEFAULT_REGISTRY_LIMITS, type RegistryLimits } from "./registry/index.js";
import { DEFAULT_RATE_LIMITS, type RateLimits } from "./service/rate-limit.js";
import {
  KeyConfigError,
  buildJwks,
  parsePreviousKeys,
  parseSigningKey,
  type PublicKeyEntry,
  type SigningKey,
} from "./tokens/index.js";

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A relay offered to clients (`--relay host:port`). */
export interface RelayConfig {
  /** Stable id reported as `relay_id`: the `host:port` text. */
  readonly id: string;
  readonly host: string;
  readonly port: number;
}

/** Everything the daemon is configured with; built once by `loadConfig`, frozen. */
export interface Config {
  /** TCP port; 0 picks a free one. Default 8080. */
  readonly port: number;
  /** Listen address. Default "::" (all interfaces, dual stack). */
  readonly host: string;
  /** Lease length of colonies and agents, seconds. Default 300. */
  readonly ttlSeconds: number;
  /** How often the sweeper frees expired leases, milliseconds. Default 60,000. */
  readonly cleanupIntervalMs: number;
  /** Default "info". */
  readonly logLevel: LogLevel;
  /** STUN servers handed to registering clients. Default `stun.cloudflare.com:3478`. */
  readonly stunServers: readonly string[];
  /** CIDRs of proxies whose forwarding headers are believed. Default none. */
  readonly trustProxy: readonly string[];
  /** Relays; empty (the default) makes the relay RPCs answer `unimplemented`. */
  readonly relays: readonly RelayConfig[];
  /** Lifetime of bootstrap tokens, seconds. Default 60. */
  readonly tokenTtlSeconds: number;
  /** The key that signs bootstrap tokens; undefined means "generate one at start-up". */
  readonly signingKey: SigningKey | undefined;
  /** Keys published in the JWKS for verification only (rotation); never used to sign. */
  readonly previousKeys: readonly PublicKeyEntry[];
  /** Require pubkeys to be base64 of 32 bytes (WireGuard). Default true; `--pubkey-check off` for test rigs. */
  readonly strictPubkeys: boolean;
  /** Capacity of the registry. */
  readonly limits: RegistryLimits;
  /** Connection and request limits of the listener. */
  readonly server: ServerLimits;
  /** Per-address budgets; undefined when `--rate-limit off`. */
  readonly rateLimits: RateLimits | undefined;
  /** Once listening, `{"url","port","pid"}` is written here (for CI). Default none. */
  readonly readyFile: string | undefined;
}

/** Connection and request limits (all documented in --help and the README). */
export interface ServerLimits {
  /** Largest request message, bytes. Default 65,536. */
  readonly maxBodyBytes: number;
  /** Open TCP connections at most; 0 = unlimited. Default 10,000. */
  readonly maxConnections: number;
  /** Open TCP connections from one address (IPv6: one /64; trusted proxies exempt); 0 = unlimited. Default 256. */
  readonly maxConnectionsPerIp: number;
  /** Time to receive request headers (and the first bytes of a new connection), ms. Default 10,000. */
  readonly headersTimeoutMs: number;
  /** Time to receive a whole HTTP/1.1 request, ms. Default 30,000. */
  readonly requestTimeoutMs: number;
  /** Idle keep-alive connections and HTTP/2 sessions are closed after this, ms. Default 72,000. */
  readonly idleTimeoutMs: number;
  /** HTTP/2 concurrent streams per connection. Default 100. */
  readonly http2MaxStreams: number;
  /** Request header size, bytes (HTTP/1.1 headers, HTTP/2 header list). Default 16,384. */
  readonly maxHeaderBytes: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  maxBodyBytes: 65_536,
  maxConnections: 10_000,
  maxConnectionsPerIp: 256,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 72_000,
  http2MaxStreams: 100,
  maxHeaderBytes: 16_384,
};

/** The I/O `loadConfig` may do: reading key files named by flags. */
export interface ConfigIo {
  readFile(path: string): string;
}

const defaultIo: ConfigIo = { readFile: (path) => readFileSync(path, "utf8") };

export type Env = Readonly<Record<string, string | undefined>>;

/** Thrown by `loadConfig` with every problem found, so a user fixes them in one go. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

interface OptionSpec {
  readonly flag: string;
  readonly env?: string;
  readonly arg: string;
  readonly help: string;
  readonly multiple?: boolean;
}

/** The options, in help order: the single source for parsing, `--help` and the README table. */
export const OPTIONS: readonly OptionSpec[] = [
  { flag: "port", env: "PORT", arg: "<n>", help: "TCP port to listen on; 0 picks a free port (default 8080)" },
  { flag: "host", env: "HOST", arg: "<addr>", help: "address to listen on (default :: and 0.0.0.0, all interfaces)" },
  {
    flag: "ready-file",
    env: "READY_FILE",
    arg: "<path>",
    help: 'once listening, write {"url","port","pid"} here atomically (for CI with --port 0)',
  },
  { flag: "ttl", env: "DEFAULT_TTL_SECONDS", arg: "<seconds>", help: "lease length of registrations, integer >= 1 (default 300)" },
  {
    flag: "cleanup-interval",
    env: "CLEANUP_INTERVAL_MS",
    arg: "<seconds>",
    help: "how often expired leases are freed (default 60; the env var is in milliseconds)",
  },
  { flag: "log-level", env: "LOG_LEVEL", arg: "<level>", help: `one of ${LOG_LEVELS.join(", ")} (default info)` },
  {
    flag: "stun-servers",
    env: "CORAL_STUN_SERVERS",
    arg: "<a,b>",
    help: "comma-separated host:port list handed to clients (default stun.cloudflare.com:3478; empty for none)",
  },
  {
    flag: "trust-proxy",
    env: "TRUST_PROXY",
    arg: "<spec>",
    help: "none, loopback, or CIDR[,CIDR...]: peers whose X-Forwarded-For / X-Real-IP are believed (default none)",
  },
  { flag: "relay", arg: "<host:port>", help: "a relay offered to clients; repeatable (default none: relay RPCs unimplemented)", multiple: true },
  {
    flag: "pubkey-check",
    env: "PUBKEY_CHECK",
    arg: "<on|off>",
    help: "on: pubkeys must be WireGuard keys (base64 of 32 bytes); off: any non-empty key up to 256 characters (default on)",
  },
  { flag: "max-colonies", env: "MAX_COLONIES", arg: "<n>", help: "colonies held at most; new ones beyond are refused, renewals never (default 100000)" },
  { flag: "max-agents-per-mesh", env: "MAX_AGENTS_PER_MESH", arg: "<n>", help: "agents in one mesh at most (default 10000)" },
  { flag: "max-agents", env: "MAX_AGENTS", arg: "<n>", help: "agents in all at most (default 100000)" },
  { flag: "max-relay-sessions", env: "MAX_RELAY_SESSIONS", arg: "<n>", help: "open relay sessions at most (default 10000)" },
  { flag: "max-body-bytes", env: "MAX_BODY_BYTES", arg: "<n>", help: "largest request message in bytes (default 65536)" },
  { flag: "max-connections", env: "MAX_CONNECTIONS", arg: "<n>", help: "open TCP connections at most; 0 for no limit (default 10000)" },
  {
    flag: "max-connections-per-ip",
    env: "MAX_CONNECTIONS_PER_IP",
    arg: "<n>",
    help: "open TCP connections from one address (IPv6: a /64; trusted proxies exempt); 0 for no limit (default 256)",
  },
  { flag: "headers-timeout", env: "HEADERS_TIMEOUT_SECONDS", arg: "<seconds>", help: "time to receive request headers, and a new connection's first bytes (default 10)" },
  { flag: "request-timeout", env: "REQUEST_TIMEOUT_SECONDS", arg: "<seconds>", help: "time to receive a whole request; HTTP/2 streams past it are cancelled (default 30)" },
  { flag: "idle-timeout", env: "IDLE_TIMEOUT_SECONDS", arg: "<seconds>", help: "idle keep-alive connections and HTTP/2 sessions are closed after this (default 72)" },
  { flag: "http2-max-streams", env: "HTTP2_MAX_STREAMS", arg: "<n>", help: "concurrent HTTP/2 streams per connection (default 100)" },
  { flag: "max-header-bytes", env: "MAX_HEADER_BYTES", arg: "<n>", help: "request header size in bytes (default 16384)" },
  { flag: "rate-limit", env: "RATE_LIMIT", arg: "<on|off>", help: "per-address rate limits; off for trusted networks and benchmarks (default on)" },
  { flag: "rate-register", env: "RATE_LIMIT_REGISTER", arg: "<rate[:burst]>", help: "registrations per second per address (default 20:40)" },
  { flag: "rate-lookup", env: "RATE_LIMIT_LOOKUP", arg: "<rate[:burst]>", help: "lookups per second per address (default 200:400)" },
  { flag: "rate-token", env: "RATE_LIMIT_TOKEN", arg: "<rate[:burst]>", help: "bootstrap tokens per second per address (default 5:10)" },
  { flag: "token-ttl", env: "TOKEN_TTL_SECONDS", arg: "<seconds>", help: "lifetime of bootstrap tokens, 1-3600 (default 60)" },
  {
    flag: "signing-key-file",
    env: "DISCOVERY_SIGNING_KEY",
    arg: "<path>",
    help: 'file holding {"id","privateKey"}; the env var holds the JSON itself (default: a fresh key per process)',
  },
  {
    flag: "previous-keys-file",
    env: "DISCOVERY_PREVIOUS_KEYS",
    arg: "<path>",
    help: "file holding a JSON array of earlier keys, published in the JWKS but never used to sign (env: the JSON)",
  },
];

export const DEFAULTS = {
  port: 8080,
  host: "::",
  ttlSeconds: 300,
  cleanupIntervalMs: 60_000,
  logLevel: "info" as LogLevel,
  stunServers: ["stun.cloudflare.com:3478"],
} as const;

/**
 * Builds the configuration from command-line flags (`argv`, without node and
 * script) and the environment. Flags win over env. Throws `ConfigError`
 * listing every problem at once.
 */
export function loadConfig(argv: readonly string[], env: Env, io: ConfigIo = defaultIo): Config {
  const problems: string[] = [];
  const values = parseFlags(argv, problems);
  const pick = (flag: string, envName: string | undefined): { text: string; from: string } | undefined => {
    const fromFlag = values.get(flag);
    if (fromFlag !== undefined) return { text: fromFlag, from: `--${flag}` };
    const fromEnv = envName === undefined ? undefined : env[envName];
    return fromEnv === undefined ? undefined : { text: fromEnv, from: envName as string };
  };

  const port = integer(pick("port", "PORT"), 0, 65535, DEFAULTS.port, problems);
  const host = pick("host", "HOST")?.text.trim() || DEFAULTS.host;
  const ttlSeconds = integer(pick("ttl", "DEFAULT_TTL_SECONDS"), 1, 31_536_000, DEFAULTS.ttlSeconds, problems);

  let cleanupIntervalMs: number = DEFAULTS.cleanupIntervalMs;
  const cleanupFlag = values.get("cleanup-interval");
  if (cleanupFlag !== undefined) {
    cleanupIntervalMs = integer({ text: cleanupFlag, from: "--cleanup-interval" }, 1, 86_400, 60, problems) * 1000;
  } else if (env.CLEANUP_INTERVAL_MS !== undefined) {
    cleanupIntervalMs = integer({ text: env.CLEANUP_INTERVAL_MS, from: "CLEANUP_INTERVAL_MS" }, 100, 86_400_000, 60_000, problems);
  }

  const level = pick("log-level", "LOG_LEVEL");
  let logLevel: LogLevel = DEFAULTS.logLevel;
  if (level !== undefined) {
    const wanted = level.text.trim().toLowerCase();
    if ((LOG_LEVELS as readonly string[]).includes(wanted)) logLevel = wanted as LogLevel;
    else problems.push(`${level.from}: "${clip(level.text)}" is not a log level; use one of ${LOG_LEVELS.join(", ")}`);
  }

  const stun = pick("stun-servers", "CORAL_STUN_SERVERS");
  const stunServers = stun === undefined ? [...DEFAULTS.stunServers] : list(stun.text);
  for (const server of stunServers) {
    if (parseHostPort(server) === undefined) {
      problems.push(`${stun?.from}: "${clip(server)}" is not host:port (a DNS name, IPv4 or [IPv6], port 1-65535)`);
    }
  }

  const trustProxy = parseTrustProxy(pick("trust-proxy", "TRUST_PROXY"), problems);

  const relays: RelayConfig[] = [];
  for (const text of values.getAll("relay")) {
    const parsed = parseHostPort(text.trim());
    if (parsed === undefined) {
      problems.push(`--relay: "${clip(text)}" is not host:port (a DNS name, IPv4 or [IPv6], port 1-65535)`);
    } else {
      relays.push(Object.freeze({ id: text.trim(), host: parsed.host, port: parsed.port }));
    }
  }

  const pubkeyCheck = pick("pubkey-check", "PUBKEY_CHECK");
  let strictPubkeys = true;
  if (pubkeyCheck !== undefined) {
    const wanted = pubkeyCheck.text.trim().toLowerCase();
    if (wanted === "off" || wanted === "false") strictPubkeys = false;
    else if (wanted !== "on" && wanted !== "true") problems.push(`${pubkeyCheck.from}: "${clip(pubkeyCheck.text)}" must be on or off`);
  }

  const int = (flag: string, env: string, min: number, max: number, fallback: number) =>
    integer(pick(flag, env), min, max, fallback, problems);
  const limits: RegistryLimits = Object.freeze({
    colonies: int("max-colonies", "MAX_COLONIES", 1, 100_000_000, DEFAULT_REGISTRY_LIMITS.colonies),
    agentsPerMesh: int("max-agents-per-mesh", "MAX_AGENTS_PER_MESH", 1, 100_000_000, DEFAULT_REGISTRY_LIMITS.agentsPerMesh),
    agents: int("max-agents", "MAX_AGENTS", 1, 100_000_000, DEFAULT_REGISTRY_LIMITS.agents),
    relaySessions: int("max-relay-sessions", "MAX_RELAY_SESSIONS", 1, 100_000_000, DEFAULT_REGISTRY_LIMITS.relaySessions),
  });
  const d = DEFAULT_SERVER_LIMITS;
  const server: ServerLimits = Object.freeze({
    maxBodyBytes: int("max-body-bytes", "MAX_BODY_BYTES", 1024, 16 * 1024 * 1024, d.maxBodyBytes),
    maxConnections: int("max-connections", "MAX_CONNECTIONS", 0, 1_000_000, d.maxConnections),
    maxConnectionsPerIp: int("max-connections-per-ip", "MAX_CONNECTIONS_PER_IP", 0, 1_000_000, d.maxConnectionsPerIp),
    headersTimeoutMs: int("headers-timeout", "HEADERS_TIMEOUT_SECONDS", 1, 3600, d.headersTimeoutMs / 1000) * 1000,
    requestTimeoutMs: int("request-timeout", "REQUEST_TIMEOUT_SECONDS", 1, 3600, d.requestTimeoutMs / 1000) * 1000,
    idleTimeoutMs: int("idle-timeout", "IDLE_TIMEOUT_SECONDS", 1, 3600, d.idleTimeoutMs / 1000) * 1000,
    http2MaxStreams: int("http2-max-streams", "HTTP2_MAX_STREAMS", 1, 10_000, d.http2MaxStreams),
    maxHeaderBytes: int("max-header-bytes", "MAX_HEADER_BYTES", 1024, 1024 * 1024, d.maxHeaderBytes),
  });
  if (server.requestTimeoutMs < server.headersTimeoutMs) {
    problems.push(
      `--request-timeout (${server.requestTimeoutMs / 1000}s) must be at least --headers-timeout (${server.headersTimeoutMs / 1000}s)`,
    );
  }
  const rateSwitch = pick("rate-limit", "RATE_LIMIT");
  let rateLimitOn = true;
  if (rateSwitch !== undefined) {
    const wanted = rateSwitch.text.trim().toLowerCase();
    if (wanted === "off" || wanted === "false") rateLimitOn = false;
    else if (wanted !== "on" && wanted !== "true") problems.push(`${rateSwitch.from}: "${clip(rateSwitch.text)}" must be on or off`);
  }
  const rateLimits: RateLimits = Object.freeze({
    register: rate(pick("rate-register", "RATE_LIMIT_REGISTER"), DEFAULT_RATE_LIMITS.register, problems),
    lookup: rate(pick("rate-lookup", "RATE_LIMIT_LOOKUP"), DEFAULT_RATE_LIMITS.lookup, problems),
    token: rate(pick("rate-token", "RATE_LIMIT_TOKEN"), DEFAULT_RATE_LIMITS.token, problems),
  });

  const tokenTtlSeconds = integer(pick("token-ttl", "TOKEN_TTL_SECONDS"), 1, 3600, 60, problems);
  const signingKey = loadKey(values.get("signing-key-file"), env.DISCOVERY_SIGNING_KEY, "DISCOVERY_SIGNING_KEY", io, problems, parseSigningKey);
  const previousKeys =
    loadKey(values.get("previous-keys-file"), env.DISCOVERY_PREVIOUS_KEYS, "DISCOVERY_PREVIOUS_KEYS", io, problems, parsePreviousKeys) ?? [];
  if (signingKey !== undefined) {
    try {
      buildJwks(signingKey, previousKeys);
    } catch (error) {
      if (!(error instanceof KeyConfigError)) throw error;
      problems.push(error.message);
    }
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    port,
    host,
    ttlSeconds,
    cleanupIntervalMs,
    logLevel,
    stunServers: Object.freeze(stunServers),
    trustProxy: Object.freeze(trustProxy),
    relays: Object.freeze(relays),
    tokenTtlSeconds,
    signingKey,
    previousKeys: Object.freeze(previousKeys),
    strictPubkeys,
    limits,
    server,
    rateLimits: rateLimitOn ? rateLimits : undefined,
    readyFile: pick("ready-file", "READY_FILE")?.text || undefined,
  });
}

/**
 * Reads key JSON from the file named by a flag, else from the env var that
 * holds the JSON itself, and parses it; problems are collected, never thrown.
 */
function loadKey<T>(
  file: string | undefined,
  envJson: string | undefined,
  envName: string,
  io: ConfigIo,
  problems: string[],
  parse: (json: string, source: string) => T,
): T | undefined {
  let json = envJson;
  let source = envName;
  if (file !== undefined) {
    source = file;
    try {
      json = io.readFile(file);
    } catch (error) {
      problems.push(`${file}: cannot read the key file (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
      return undefined;
    }
  }
  if (json === undefined || (file === undefined && json.trim() === "")) return undefined;
  try {
    return parse(json, source);
  } catch (error) {
    if (!(error instanceof KeyConfigError)) throw error;
    problems.push(error.message);
    return undefined;
  }
}

/** `--help` text, generated from OPTIONS. */
export function helpText(): string {
  const rows = OPTIONS.map((o) => {
    const left = `  --${o.flag} ${o.arg}`;
    const env = o.env === undefined ? "" : ` [env ${o.env}]`;
    return `${left.padEnd(34)}${o.help}${env}`;
  });
  return [
    "Usage: coral-discovery [serve] [options]",
    "       coral-discovery keygen      print a new signing key in the DISCOVERY_SIGNING_KEY format",
    "",
    "Discovery service for Coral meshes: colonies register, agents look them up.",
    "Serves Connect (JSON, binary), gRPC and gRPC-Web over HTTP/1.1 and h2c on one port.",
    "",
    "Options:",
    ...rows,
    `${"  --version".padEnd(34)}print the version and exit`,
    `${"  --help".padEnd(34)}print this help and exit`,
    "",
    "Flags win over environment variables.",
  ].join("\n");
}

interface FlagValues {
  get(flag: string): string | undefined;
  getAll(flag: string): string[];
}

function parseFlags(argv: readonly string[], problems: string[]): FlagValues {
  const options: Record<string, { type: "string"; multiple?: boolean }> = {};
  for (const o of OPTIONS) options[o.flag] = o.multiple === true ? { type: "string", multiple: true } : { type: "string" };
  const { values, positionals } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true });
  const known = new Set(OPTIONS.map((o) => o.flag));
  for (const [name, value] of Object.entries(values)) {
    if (!known.has(name)) {
      problems.push(`unknown option --${name}; see --help for the options`);
      continue;
    }
    const all = Array.isArray(value) ? value : [value];
    if (all.some((v) => typeof v !== "string")) problems.push(`--${name} needs a value`);
  }
  for (const positional of positionals) problems.push(`unexpected argument "${clip(positional)}"; see --help`);
  return {
    get(flag) {
      const value = values[flag];
      const last = Array.isArray(value) ? value[value.length - 1] : value;
      return typeof last === "string" ? last : undefined;
    },
    getAll(flag) {
      const value = values[flag];
      const all = Array.isArray(value) ? value : value === undefined ? [] : [value];
      return all.filter((v): v is string => typeof v === "string");
    },
  };
}

function integer(
  source: { text: string; from: string } | undefined,
  min: number,
  max: number,
  fallback: number,
  problems: string[],
): number {
  if (source === undefined) return fallback;
  const text = source.text.trim();
  if (/^\d+$/.test(text)) {
    const value = Number(text);
    if (value >= min && value <= max) return value;
  }
  problems.push(`${source.from}: "${clip(source.text)}" must be an integer from ${min} to ${max}`);
  return fallback;
}

/** `rate[:burst]`, both positive numbers (burst at least 1; default twice the rate). */
function rate(source: { text: string; from: string } | undefined, fallback: Rate, problems: string[]): Rate {
  if (source === undefined) return fallback;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?::\s*(\d+)\s*)?$/.exec(source.text);
  const perSecond = Number(match?.[1]);
  const burst = match?.[2] === undefined ? Math.max(1, Math.ceil(perSecond * 2)) : Number(match[2]);
  if (match === null || !(perSecond > 0) || perSecond > 1_000_000 || !(burst >= 1) || burst > 10_000_000) {
    problems.push(`${source.from}: "${clip(source.text)}" must be rate[:burst], e.g. 20:40 (a positive rate per second, a burst of at least 1)`);
    return fallback;
  }
  return Object.freeze({ perSecond, burst });
}

function parseTrustProxy(source: { text: string; from: string } | undefined, problems: string[]): string[] {
  if (source === undefined) return [];
  const text = source.text.trim().toLowerCase();
  if (text === "" || text === "none" || text === "false") return [];
  if (text === "loopback") return ["127.0.0.0/8", "::1/128"];
  const cidrs: string[] = [];
  for (const entry of list(source.text)) {
    if (entry === "loopback") {
      cidrs.push("127.0.0.0/8", "::1/128");
    } else if (parseCidr(entry) === undefined) {
      problems.push(`${source.from}: "${clip(entry)}" is not a CIDR or IP address; use none, loopback or CIDR[,CIDR...]`);
    } else {
      cidrs.push(entry);
    }
  }
  return cidrs;
}

function list(text: string): string[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** Quotes at most 64 characters of user input in a message. */
export function clip(text: string, max = 64): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}
