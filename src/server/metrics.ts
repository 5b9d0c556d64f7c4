// The daemon's Prometheus metrics (`GET /metrics`, text format 0.0.4), on a
// prom-client registry of its own: never the module-global one, so several
// apps in one process (tests, benchmarks) keep apart. The hot path pays one
// array lookup and two prom-client child calls per RPC (children pre-bound
// per method, protocol and code on first use); everything that is state
// (leases, bytes, connections) is read when Prometheus scrapes. Every label
// value comes from a fixed set: method names, protocols, codes, kinds,
// reasons; never a mesh id, agent id or address.
import type { FastifyInstance } from "fastify";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { LeaseEvents, LeaseKind, RefusalReason, RegistrationKind, RegistrationOutcome } from "../service/lease-events.js";
import type { RpcObserver } from "./road/road.js";

/** Prefix of every metric of ours (process_* and nodejs_* keep their standard names). */
const PREFIX = "coral_discovery_";

/** RPC latency buckets, seconds: a lookup takes ~0.3 ms of CPU, a loaded server answers in a few ms. */
const RPC_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** Sweep duration buckets, seconds: 2,000 entries per turn take a few ms. */
const SWEEP_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5];

/** Label values: Prometheus style (`grpc_web`). */
const PROTOCOL_LABELS = ["connect", "grpc", "grpc_web"] as const;
/** Label values by code number: Connect's names of the codes (`Code.NotFound` is 5, `not_found`); 0 is success, `ok`. */
const CODE_LABELS = [
  "ok",
  "canceled",
  "unknown",
  "invalid_argument",
  "deadline_exceeded",
  "not_found",
  "already_exists",
  "permission_denied",
  "resource_exhausted",
  "failed_precondition",
  "aborted",
  "out_of_range",
  "unimplemented",
  "internal",
  "unavailable",
  "data_loss",
  "unauthenticated",
] as const;
const CODE_COUNT = CODE_LABELS.length;

const LEASE_KINDS: readonly LeaseKind[] = ["colony", "agent", "relay_session"];
const REGISTRATION_KINDS: readonly RegistrationKind[] = ["colony", "agent"];
const OUTCOMES: readonly RegistrationOutcome[] = ["new", "renewal"];
const REASONS: readonly RefusalReason[] = ["split_brain", "capacity", "budget", "rate_limit"];

/** What the registry holds now (Registry#counts()). */
export interface LeaseCounts {
  readonly colonies: number;
  readonly agents: number;
  readonly relaySessions: number;
  readonly bytes: number;
}

/** Open connections of the server (DualProtocolServer#connectionStats()). */
export interface ConnectionStats {
  /** Open TCP connections, HTTP/1.1 and HTTP/2, sniffing ones included. */
  readonly open: number;
  /** Of those, the ones with no request in flight. */
  readonly idle: number;
  /** Open HTTP/2 sessions. */
  readonly http2Sessions: number;
}

export interface MetricsOptions {
  /** Read at each scrape. */
  readonly leases: () => LeaseCounts;
  /** The configured caps, exported as gauges so dashboards can show headroom. */
  readonly limits: { readonly colonies: number; readonly agents: number; readonly relaySessions: number; readonly bytes: number };
  /** Read at each scrape; undefined before the server exists. */
  readonly connections: () => ConnectionStats | undefined;
  /** Also export prom-client's process and Node.js metrics. Default true. */
  readonly defaultMetrics?: boolean;
}

export interface Metrics extends LeaseEvents, RpcObserver {
  /** One sweep finished: what it removed (expirations) and how long it took, ms. */
  swept(removed: { readonly colonies: number; readonly agents: number; readonly relaySessions: number }, durationMs: number): void;
  /** The exposition: Prometheus text format. */
  scrape(): Promise<string>;
  /** The Content-Type of `scrape()`'s text. */
  readonly contentType: string;
}

/** The metrics of one app. */
export function createMetrics(options: MetricsOptions): Metrics {
  const registry = new Registry();
  const registers = [registry];
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });

  const rpcs = new Counter({
    name: `${PREFIX}rpc_requests_total`,
    help: "Unary RPCs answered, by method, protocol (connect, grpc, grpc_web) and Connect code (ok on success).",
    labelNames: ["method", "protocol", "code"] as const,
    registers,
  });
  const rpcSeconds = new Histogram({
    name: `${PREFIX}rpc_duration_seconds`,
    help: "Time from a unary RPC's arrival to its answer being written, by method.",
    labelNames: ["method"] as const,
    buckets: RPC_BUCKETS,
    registers,
  });
  const registrations = new Counter({
    name: `${PREFIX}registrations_total`,
    help: "Accepted registrations by kind (colony, agent) and outcome: new (no active lease under that key) or renewal.",
    labelNames: ["kind", "outcome"] as const,
    registers,
  });
  const refusals = new Counter({
    name: `${PREFIX}registrations_refused_total`,
    help: "Refused registrations by kind and reason: split_brain, capacity (a count cap or per-address quota), budget (--max-registry-bytes), rate_limit.",
    labelNames: ["kind", "reason"] as const,
    registers,
  });
  const expirations = new Counter({
    name: `${PREFIX}expirations_total`,
    help: "Expired leases the sweeper removed, by kind.",
    labelNames: ["kind"] as const,
    registers,
  });
  const evictions = new Counter({
    name: `${PREFIX}evictions_total`,
    help: "Leases removed by an operator before they expired, by kind.",
    labelNames: ["kind"] as const,
    registers,
  });
  const sweepSeconds = new Histogram({
    name: `${PREFIX}sweep_duration_seconds`,
    help: "Duration of each sweep of expired leases, from its first turn to its last (its count is the number of sweeps).",
    buckets: SWEEP_BUCKETS,
    registers,
  });
  new Gauge({
    name: `${PREFIX}leases`,
    help: "Active leases by kind (colony, agent, relay_session), read at scrape time.",
    labelNames: ["kind"] as const,
    registers,
    collect() {
      const counts = options.leases();
      this.set({ kind: "colony" }, counts.colonies);
      this.set({ kind: "agent" }, counts.agents);
      this.set({ kind: "relay_session" }, counts.relaySessions);
      registryBytes.set(counts.bytes);
    },
  });
  const registryBytes = new Gauge({
    name: `${PREFIX}registry_bytes`,
    help: "Estimated memory of every stored lease, expired-but-unswept ones included (what --max-registry-bytes limits).",
    registers,
  });
  new Gauge({ name: `${PREFIX}registry_bytes_limit`, help: "--max-registry-bytes.", registers }).set(options.limits.bytes);
  const leaseLimits = new Gauge({
    name: `${PREFIX}lease_limit`,
    help: "Configured caps on leases by kind (--max-colonies, --max-agents, --max-relay-sessions).",
    labelNames: ["kind"] as const,
    registers,
  });
  leaseLimits.set({ kind: "colony" }, options.limits.colonies);
  leaseLimits.set({ kind: "agent" }, options.limits.agents);
  leaseLimits.set({ kind: "relay_session" }, options.limits.relaySessions);
  new Gauge({
    name: `${PREFIX}connections`,
    help: "Open client connections by state (active: a request in flight; idle), read at scrape time.",
    labelNames: ["state"] as const,
    registers,
    collect() {
      const stats = options.connections();
      this.set({ state: "active" }, stats === undefined ? 0 : stats.open - stats.idle);
      this.set({ state: "idle" }, stats?.idle ?? 0);
      http2Sessions.set(stats?.http2Sessions ?? 0);
    },
  });
  const http2Sessions = new Gauge({ name: `${PREFIX}http2_sessions`, help: "Open HTTP/2 sessions, read at scrape time.", registers });

  // Every series of a fixed label set starts at 0, so rate() sees the first event.
  for (const kind of REGISTRATION_KINDS) {
    for (const outcome of OUTCOMES) registrations.labels(kind, outcome).inc(0);
    for (const reason of REASONS) refusals.labels(kind, reason).inc(0);
  }
  for (const kind of LEASE_KINDS) {
    expirations.labels(kind).inc(0);
    evictions.labels(kind).inc(0);
  }

  return {
    forMethod(method) {
      const latency = rpcSeconds.labels(method);
      const children: ({ inc(): void } | undefined)[] = new Array(PROTOCOL_LABELS.length * CODE_COUNT);
      return (protocol, code, seconds) => {
        const p = protocol === "connect" ? 0 : protocol === "grpc" ? 1 : 2;
        const i = p * CODE_COUNT + code;
        let child = children[i];
        if (child === undefined) child = children[i] = rpcs.labels(method, PROTOCOL_LABELS[p] as string, CODE_LABELS[code] as string);
        child.inc();
        latency.observe(seconds);
      };
    },
    registered: (kind, outcome) => registrations.labels(kind, outcome).inc(),
    refused: (kind, reason) => refusals.labels(kind, reason).inc(),
    evicted: (kind, count = 1) => evictions.labels(kind).inc(count),
    swept(removed, durationMs) {
      if (removed.colonies > 0) expirations.labels("colony").inc(removed.colonies);
      if (removed.agents > 0) expirations.labels("agent").inc(removed.agents);
      if (removed.relaySessions > 0) expirations.labels("relay_session").inc(removed.relaySessions);
      sweepSeconds.observe(durationMs / 1000);
    },
    scrape: () => registry.metrics(),
    contentType: registry.contentType,
  };
}

/** `GET /metrics`: the exposition, uncached (a scrape reads current state). */
export function registerMetricsRoute(app: FastifyInstance, metrics: Metrics): void {
  app.get("/metrics", async (_req, reply) => {
    void reply.header("content-type", metrics.contentType).header("cache-control", "no-store");
    return metrics.scrape();
  });
}
