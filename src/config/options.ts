// The option table: every setting of the daemon is one row here. loadConfig
// (flags and env), startDiscovery() (typed options), `--help` and the README
// tables (checked by a test) are all derived from it, so adding an option is
// adding a row.
import { adminToken } from "./admin-token.js";
import { previousKeys, signingKey } from "./keys.js";
import {
  addressRanges,
  byteSize,
  hostPortList,
  integer,
  oneOf,
  onOff,
  optionalPath,
  rate,
  ratePerMinute,
  repeatedCidrs,
  repeatedHostPort,
  seconds,
  text,
  type Parser,
} from "./parsers.js";

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Where an option is documented: the README has one table per group. */
export type OptionGroup = "service" | "limits" | "connections" | "tokens" | "tls";

/** One row of the table. `T` is the configured value, `I` what startDiscovery() accepts besides text. */
export interface OptionSpec<T, I> extends Parser<T, I> {
  /** Long flag without dashes, kebab-case. */
  readonly flag: string;
  /** One-letter flag, when there is one. */
  readonly short?: string;
  /** Environment variable, when there is one. */
  readonly env?: string;
  /** How the env var differs from the flag, for the README (e.g. "milliseconds"). */
  readonly envNote?: string;
  /** The flag's argument as help shows it, e.g. `<seconds>`. */
  readonly arg: string;
  readonly group: OptionGroup;
  readonly default: T;
  /** The default as help and the README say it, when `show(default)` does not read well. */
  readonly defaultText?: string;
  /** What it does, one line, without the default (help and the README add it). */
  readonly help: string;
  /** The flag may be given several times (each occurrence is one value). */
  readonly multiple?: boolean;
}

// Keeps each row's own T and I (a plain object literal would widen them).
function option<T, I>(spec: OptionSpec<T, I>): OptionSpec<T, I> {
  return spec;
}

/**
 * Every option. The key is the name in `Config` and in startDiscovery()'s
 * options; where a value has a unit, the key names it (`ttlSeconds`,
 * `headersTimeoutMs`) and typed values are in that unit.
 */
export const OPTIONS = {
  port: option({
    flag: "port",
    short: "p",
    env: "PORT",
    arg: "<n>",
    group: "service",
    default: 8080,
    help: "TCP port; 0 picks a free one",
    ...integer(0, 65535),
  }),
  host: option({
    flag: "host",
    env: "HOST",
    arg: "<addr>",
    group: "service",
    default: "::",
    help: "listen address (`::` is dual-stack; falls back to 0.0.0.0 without IPv6)",
    ...text("::"),
  }),
  readyFile: option({
    flag: "ready-file",
    env: "READY_FILE",
    arg: "<path>",
    group: "service",
    default: undefined,
    defaultText: "none",
    help: 'once listening, write {"url","port","pid"} here atomically (CI with --port 0)',
    ...optionalPath(),
  }),
  ttlSeconds: option({
    flag: "ttl",
    env: "DEFAULT_TTL_SECONDS",
    arg: "<seconds>",
    group: "service",
    default: 300,
    help: "lease length of every registration",
    ...integer(1, 31_536_000),
  }),
  cleanupIntervalMs: option({
    flag: "cleanup-interval",
    env: "CLEANUP_INTERVAL_MS",
    envNote: "milliseconds",
    arg: "<seconds>",
    group: "service",
    default: 60_000,
    help: "how often expired leases are freed (reads never return expired entries anyway)",
    ...seconds(1, 86_400, { unit: "ms", minMs: 100 }),
  }),
  logLevel: option({
    flag: "log-level",
    env: "LOG_LEVEL",
    arg: "<level>",
    group: "service",
    default: "info" as LogLevel,
    help: LOG_LEVELS.map((l) => `\`${l}\``).join(", "),
    ...oneOf(LOG_LEVELS),
  }),
  stunServers: option({
    flag: "stun-servers",
    env: "CORAL_STUN_SERVERS",
    arg: "<a,b>",
    group: "service",
    default: ["stun.cloudflare.com:3478"] as readonly string[],
    help: "`host:port` list handed to registering clients; empty for none",
    ...hostPortList(),
  }),
  trustProxy: option({
    flag: "trust-proxy",
    env: "TRUST_PROXY",
    arg: "<spec>",
    group: "service",
    default: [] as readonly string[],
    help: "`none`, `loopback`, or `CIDR[,CIDR...]`: peers whose `X-Forwarded-For` / `X-Real-IP` are believed",
    ...addressRanges(),
  }),
  relays: option({
    flag: "relay",
    arg: "<host:port>",
    group: "service",
    default: [] as readonly string[],
    help: "a relay offered to clients; repeatable. Without one, RequestRelay/ReleaseRelay answer `unimplemented`",
    multiple: true,
    ...repeatedHostPort(),
  }),
  relaySessionTtlSeconds: option({
    flag: "relay-session-ttl",
    env: "RELAY_SESSION_TTL_SECONDS",
    arg: "<seconds>",
    group: "service",
    default: 1800,
    help: "lifetime of a relay session",
    ...integer(60, 86_400),
  }),
  pubkeyCheck: option({
    flag: "pubkey-check",
    env: "PUBKEY_CHECK",
    arg: "<on|off>",
    group: "service",
    default: true,
    help: "`on`: pubkeys must be WireGuard keys (base64 of 32 bytes); `off`: any non-empty key up to 256 characters, for test rigs with placeholder keys",
    ...onOff(),
  }),
  metrics: option({
    flag: "metrics",
    env: "METRICS",
    arg: "<on|off>",
    group: "service",
    default: true,
    help: "serve Prometheus metrics at `GET /metrics` (`off`: that path is a 404)",
    ...onOff(),
  }),
  shutdownDelayMs: option({
    flag: "shutdown-delay",
    env: "SHUTDOWN_DELAY_SECONDS",
    arg: "<seconds>",
    group: "service",
    default: 0,
    help: "on SIGTERM/SIGINT, answer `/readyz` 503 for this long before closing the listener (load balancers stop sending first); a second signal skips the wait",
    ...seconds(0, 300),
  }),
  reflection: option({
    flag: "reflection",
    env: "REFLECTION",
    arg: "<on|off>",
    group: "service",
    default: true,
    help: "gRPC server reflection (`grpc.reflection.v1` and `v1alpha`), which lets `buf curl` and grpcurl call without a schema; each request message takes a `--rate-lookup` token. `off` removes it: its calls get `unimplemented`",
    ...onOff(),
  }),
  stateFile: option({
    flag: "state-file",
    env: "STATE_FILE",
    arg: "<path>",
    group: "service",
    default: undefined,
    defaultText: "none (state lives in memory only)",
    help: "keep the registry and a generated signing key in this file (mode 0600): written every --state-interval and on SIGTERM/SIGINT, restored at start; a damaged file stops start-up and is left as it is",
    ...optionalPath(),
  }),
  stateIntervalMs: option({
    flag: "state-interval",
    env: "STATE_INTERVAL_SECONDS",
    arg: "<seconds>",
    group: "service",
    default: 30_000,
    help: "time between two writes of --state-file (a `kill -9` loses the registrations of up to this long)",
    ...seconds(1, 3_600),
  }),
  maxColonies: option({
    flag: "max-colonies",
    env: "MAX_COLONIES",
    arg: "<n>",
    group: "limits",
    default: 100_000,
    help: "colonies held at most; new ones beyond get `resource_exhausted`, renewals never do",
    ...integer(1, 100_000_000),
  }),
  maxAgentsPerMesh: option({
    flag: "max-agents-per-mesh",
    env: "MAX_AGENTS_PER_MESH",
    arg: "<n>",
    group: "limits",
    default: 10_000,
    help: "agents in one mesh",
    ...integer(1, 100_000_000),
  }),
  maxAgentsPerMeshPerIp: option({
    flag: "max-agents-per-mesh-per-ip",
    env: "MAX_AGENTS_PER_MESH_PER_IP",
    arg: "<n>",
    group: "limits",
    default: 1_000,
    help: "agents one client address (IPv6: a /64) may hold in one mesh, so that a few addresses cannot fill a mesh",
    ...integer(1, 100_000_000),
  }),
  maxAgents: option({
    flag: "max-agents",
    env: "MAX_AGENTS",
    arg: "<n>",
    group: "limits",
    default: 100_000,
    help: "agents in all",
    ...integer(1, 100_000_000),
  }),
  maxRelaySessions: option({
    flag: "max-relay-sessions",
    env: "MAX_RELAY_SESSIONS",
    arg: "<n>",
    group: "limits",
    default: 10_000,
    help: "open relay sessions",
    ...integer(1, 100_000_000),
  }),
  maxRelaySessionsPerIp: option({
    flag: "max-relay-sessions-per-ip",
    env: "MAX_RELAY_SESSIONS_PER_IP",
    arg: "<n>",
    group: "limits",
    default: 100,
    help: "relay sessions one client address (IPv6: a /64) may hold open",
    ...integer(1, 100_000_000),
  }),
  maxRegistryBytes: option({
    flag: "max-registry-bytes",
    env: "MAX_REGISTRY_BYTES",
    arg: "<size>",
    group: "limits",
    default: 288 * 1024 ** 2,
    help: "estimated memory of every colony, agent and relay session stored; past it new entries, and renewals that grow, get `resource_exhausted`",
    ...byteSize(1024 ** 2, 1024 ** 4),
  }),
  maxBodyBytes: option({
    flag: "max-body-bytes",
    env: "MAX_BODY_BYTES",
    arg: "<n>",
    group: "connections",
    default: 65_536,
    help: "largest request message; larger ones get `resource_exhausted`",
    ...integer(1024, 16 * 1024 * 1024),
  }),
  maxHeaderBytes: option({
    flag: "max-header-bytes",
    env: "MAX_HEADER_BYTES",
    arg: "<n>",
    group: "connections",
    default: 16_384,
    help: "request headers (HTTP/1.1) and header list (HTTP/2)",
    ...integer(1024, 1024 * 1024),
  }),
  maxConnections: option({
    flag: "max-connections",
    env: "MAX_CONNECTIONS",
    arg: "<n>",
    group: "connections",
    default: 10_000,
    help: "open TCP connections; at the limit the connection idle the longest is closed to admit a new one (busy ones never are); `0` for no limit",
    ...integer(0, 1_000_000),
  }),
  maxConnectionsPerIp: option({
    flag: "max-connections-per-ip",
    env: "MAX_CONNECTIONS_PER_IP",
    arg: "<n>",
    group: "connections",
    default: 256,
    help: "open TCP connections from one address (IPv6: a /64; `--trust-proxy` peers exempt); `0` for no limit",
    ...integer(0, 1_000_000),
  }),
  maxConnectionsPer56: option({
    flag: "max-connections-per-56",
    env: "MAX_CONNECTIONS_PER_56",
    arg: "<n>",
    group: "connections",
    default: 512,
    help: "open TCP connections from one IPv6 /56 (a home or small site has one), so that spreading over its /64s does not multiply `--max-connections-per-ip`; `0` for no limit",
    ...integer(0, 1_000_000),
  }),
  maxConnectionsPer48: option({
    flag: "max-connections-per-48",
    env: "MAX_CONNECTIONS_PER_48",
    arg: "<n>",
    group: "connections",
    default: 1024,
    help: "open TCP connections from one IPv6 /48 (a site or hosting block); `0` for no limit",
    ...integer(0, 1_000_000),
  }),
  headersTimeoutMs: option({
    flag: "headers-timeout",
    env: "HEADERS_TIMEOUT_SECONDS",
    arg: "<seconds>",
    group: "connections",
    default: 10_000,
    help: "time to send request headers; also how long a new connection may take to send its first bytes, and an HTTP/2 session to open its first stream",
    ...seconds(1, 3600),
  }),
  requestTimeoutMs: option({
    flag: "request-timeout",
    env: "REQUEST_TIMEOUT_SECONDS",
    arg: "<seconds>",
    group: "connections",
    default: 30_000,
    help: "time to send a whole HTTP/1.1 request (the connection is closed); an HTTP/2 stream gets the shorter of this and `--body-timeout`",
    ...seconds(1, 3600),
  }),
  idleTimeoutMs: option({
    flag: "idle-timeout",
    env: "IDLE_TIMEOUT_SECONDS",
    arg: "<seconds>",
    group: "connections",
    default: 72_000,
    help: "idle keep-alive connections and HTTP/2 sessions are closed",
    ...seconds(1, 3600),
  }),
  http2MaxStreams: option({
    flag: "http2-max-streams",
    env: "HTTP2_MAX_STREAMS",
    arg: "<n>",
    group: "connections",
    default: 100,
    help: "concurrent HTTP/2 streams per connection",
    ...integer(1, 10_000),
  }),
  http2MaxStreamsPerIp: option({
    flag: "http2-max-streams-per-ip",
    env: "HTTP2_MAX_STREAMS_PER_IP",
    arg: "<n>",
    group: "connections",
    default: 128,
    help: "open HTTP/2 streams from one address (IPv6: a /64) over all its connections; more are refused with REFUSED_STREAM (`--trust-proxy` peers exempt); `0` for no limit",
    ...integer(0, 1_000_000),
  }),
  http2MaxStreamsTotal: option({
    flag: "http2-max-streams-total",
    env: "HTTP2_MAX_STREAMS_TOTAL",
    arg: "<n>",
    group: "connections",
    default: 4096,
    help: "open HTTP/2 streams over all connections; more are refused with REFUSED_STREAM; `0` for no limit",
    ...integer(0, 1_000_000),
  }),
  bodyTimeoutMs: option({
    flag: "body-timeout",
    env: "BODY_TIMEOUT_SECONDS",
    arg: "<seconds>",
    group: "connections",
    default: 10_000,
    help: "time to send a request body once its headers have arrived; then the HTTP/2 stream is cancelled or the HTTP/1.1 connection closed",
    ...seconds(1, 3600),
  }),
  maxBufferedBytesPerIp: option({
    flag: "max-buffered-bytes-per-ip",
    env: "MAX_BUFFERED_BYTES_PER_IP",
    arg: "<size>",
    group: "connections",
    default: 2 * 1024 ** 2,
    help: "request headers and bodies held in memory for one client address (IPv6: a /64) while its RPCs arrive; past it they get `resource_exhausted`",
    ...byteSize(64 * 1024, 1024 ** 4),
  }),
  maxBufferedBytes: option({
    flag: "max-buffered-bytes",
    env: "MAX_BUFFERED_BYTES",
    arg: "<size>",
    group: "connections",
    default: 64 * 1024 ** 2,
    help: "request headers and bodies held in memory for all clients while their RPCs arrive; past it they get `resource_exhausted`",
    ...byteSize(64 * 1024, 1024 ** 4),
  }),
  rateLimit: option({
    flag: "rate-limit",
    env: "RATE_LIMIT",
    arg: "<on|off>",
    group: "limits",
    default: true,
    help: "per-address rate limits; `off` for trusted networks and benchmarks",
    ...onOff(),
  }),
  rateLimitExempt: option({
    flag: "rate-limit-exempt",
    env: "RATE_LIMIT_EXEMPT",
    arg: "<spec>",
    group: "limits",
    default: ["127.0.0.0/8", "::1/128"] as readonly string[],
    help: "`none`, `loopback`, or `CIDR[,CIDR...]`: client addresses (after `--trust-proxy`) no rate limit applies to",
    ...addressRanges(),
  }),
  rateRegister: option({
    flag: "rate-register",
    env: "RATE_LIMIT_REGISTER",
    arg: "<rate[:burst]>",
    group: "limits",
    default: { perSecond: 20, burst: 40 },
    help: "registrations (colony, agent, relay) per second per address",
    ...rate(),
  }),
  rateLookup: option({
    flag: "rate-lookup",
    env: "RATE_LIMIT_LOOKUP",
    arg: "<rate[:burst]>",
    group: "limits",
    default: { perSecond: 200, burst: 400 },
    help: "lookups, Health and gRPC reflection requests (each message on the stream) per second per address",
    ...rate(),
  }),
  rateToken: option({
    flag: "rate-token",
    env: "RATE_LIMIT_TOKEN",
    arg: "<rate[:burst]>",
    group: "limits",
    default: { perSecond: 5, burst: 10 },
    help: "bootstrap tokens per second per address",
    ...rate(),
  }),
  rendezvous: option({
    flag: "rendezvous",
    env: "RENDEZVOUS",
    arg: "<on|off>",
    group: "service",
    default: true,
    help: "the bootstrap rendezvous RPCs (Publish, Poll, Ack BootstrapRendezvous); `off` answers them `unimplemented`",
    ...onOff(),
  }),
  rendezvousProbe: option({
    flag: "rendezvous-probe",
    env: "RENDEZVOUS_PROBE",
    arg: "<on|off>",
    group: "service",
    default: false,
    help: "`on`: a publish with `verify_reachability` makes the server TCP-connect (2 s, nothing sent) to its `probe_endpoint`, an IP literal that is public or in `--rendezvous-probe-allow`; `off`: such publishes succeed without a probe",
    ...onOff(),
  }),
  rendezvousProbeAllow: option({
    flag: "rendezvous-probe-allow",
    env: "RENDEZVOUS_PROBE_ALLOW",
    arg: "<CIDR>",
    group: "service",
    default: [] as readonly string[],
    help: "a range the probe may connect to although it is not public (repeatable; e.g. your own private network)",
    multiple: true,
    ...repeatedCidrs(),
  }),
  rendezvousPublishRate: option({
    flag: "rendezvous-publish-rate",
    env: "RENDEZVOUS_PUBLISH_RATE",
    arg: "<rate[:burst]>",
    group: "limits",
    default: { perSecond: 5 / 60, burst: 10 },
    help: "rendezvous publishes per minute on one mesh, from all addresses (a refused first publish aborts an agent's bootstrap: raise it for meshes where many agents start at once)",
    ...ratePerMinute(),
  }),
  rendezvousPollRate: option({
    flag: "rendezvous-poll-rate",
    env: "RENDEZVOUS_POLL_RATE",
    arg: "<rate[:burst]>",
    group: "limits",
    default: { perSecond: 30 / 60, burst: 10 },
    help: "rendezvous polls per minute on one mesh, from all addresses",
    ...ratePerMinute(),
  }),
  rendezvousMaxRecordsPerMesh: option({
    flag: "rendezvous-max-records-per-mesh",
    env: "RENDEZVOUS_MAX_RECORDS_PER_MESH",
    arg: "<n>",
    group: "limits",
    default: 32,
    help: "active rendezvous records in one mesh; new ones beyond get `resource_exhausted`, republishes never do",
    ...integer(1, 1_000_000),
  }),
  rendezvousMaxRecords: option({
    flag: "rendezvous-max-records",
    env: "RENDEZVOUS_MAX_RECORDS",
    arg: "<n>",
    group: "limits",
    default: 10_000,
    help: "rendezvous records in all",
    ...integer(1, 100_000_000),
  }),
  rendezvousMaxBytes: option({
    flag: "rendezvous-max-bytes",
    env: "RENDEZVOUS_MAX_BYTES",
    arg: "<size>",
    group: "limits",
    default: 16 * 1024 ** 2,
    help: "rendezvous ciphertext held in all (apart from `--max-registry-bytes`); past it new records, and republishes that grow, get `resource_exhausted`",
    ...byteSize(64 * 1024, 1024 ** 4),
  }),
  rendezvousMaxPollsPerMesh: option({
    flag: "rendezvous-max-polls-per-mesh",
    env: "RENDEZVOUS_MAX_POLLS_PER_MESH",
    arg: "<n>",
    group: "limits",
    default: 8,
    help: "rendezvous polls waiting on one mesh; more get `resource_exhausted` (an error makes a colony back off, an empty answer would not)",
    ...integer(1, 1_000_000),
  }),
  rendezvousMaxPolls: option({
    flag: "rendezvous-max-polls",
    env: "RENDEZVOUS_MAX_POLLS",
    arg: "<n>",
    group: "limits",
    default: 1_000,
    help: "rendezvous polls waiting in all",
    ...integer(1, 1_000_000),
  }),
  tokenTtlSeconds: option({
    flag: "token-ttl",
    env: "TOKEN_TTL_SECONDS",
    arg: "<seconds>",
    group: "tokens",
    default: 60,
    help: "lifetime of bootstrap tokens",
    ...integer(1, 3600),
  }),
  adminToken: option({
    flag: "admin-token-file",
    env: "ADMIN_TOKEN",
    envNote: "the token itself",
    arg: "<path>",
    group: "service",
    default: undefined,
    help: "file holding the bearer token of the admin API (AdminService; at least 16 characters); without one the admin API is disabled",
    ...adminToken(),
  }),
  signingKey: option({
    flag: "signing-key-file",
    env: "DISCOVERY_SIGNING_KEY",
    envNote: "the JSON itself",
    arg: "<path>",
    group: "tokens",
    default: undefined,
    help: 'Ed25519 key that signs bootstrap tokens, `{"id","privateKey"}` (see `coral-discovery keygen`)',
    ...signingKey(),
  }),
  previousKeys: option({
    flag: "previous-keys-file",
    env: "DISCOVERY_PREVIOUS_KEYS",
    envNote: "the JSON itself",
    arg: "<path>",
    group: "tokens",
    default: [],
    help: "earlier keys (a JSON array), published in the JWKS, never used to sign",
    ...previousKeys(),
  }),
  tlsCert: option({
    flag: "tls-cert",
    env: "TLS_CERT_FILE",
    arg: "<pem>",
    group: "tls",
    default: undefined,
    defaultText: "none (cleartext h2c and HTTP/1.1)",
    help: "certificate chain (PEM, server certificate first): serve HTTPS on the port, ALPN `h2` and `http/1.1`; needs --tls-key; re-read on SIGHUP",
    ...optionalPath(),
  }),
  tlsKey: option({
    flag: "tls-key",
    env: "TLS_KEY_FILE",
    arg: "<pem>",
    group: "tls",
    default: undefined,
    defaultText: "none",
    help: "the certificate's private key (PEM, unencrypted); needs --tls-cert; re-read on SIGHUP",
    ...optionalPath(),
  }),
};

export type Options = typeof OPTIONS;
export type OptionKey = keyof Options;

// `any` where the other parameter sits: I is contravariant (a parameter of fromValue).
type ValueOf<S> = S extends OptionSpec<infer T, any> ? T : never;
type InputOf<S> = S extends OptionSpec<any, infer I> ? I : never;

/** Everything the daemon is configured with: one field per option (see OPTIONS for units and defaults). Frozen. */
export type Config = { readonly [K in OptionKey]: ValueOf<Options[K]> };

/** Typed settings, as startDiscovery() takes them: any option by its key, in the key's unit, or as the flag's text. */
export type ConfigInput = { [K in OptionKey]?: InputOf<Options[K]> | string };

/** The rows in table order (help and README order). */
export function optionRows(): [OptionKey, OptionSpec<unknown, unknown>][] {
  return Object.entries(OPTIONS) as [OptionKey, OptionSpec<unknown, unknown>][];
}
