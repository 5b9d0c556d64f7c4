// The daemon's Prometheus metrics (`GET /metrics`, text format 0.0.4), on a
// prom-client registry of its own: never the module-global one, so several
// apps in one process (tests, benchmarks) keep apart. What happens per
// request only adds to plain numbers (a prom-client child call costs ~1 µs:
// label checks and hashing); prom-client reads them, and the state (leases,
// bytes, connections), when Prometheus scrapes. prom-client itself is loaded,
// and its process and Node.js metrics started, on the first scrape: importing
// it and starting them costs ~80 ms of CPU that a daemon nobody scrapes never
// pays. Every label value comes from a fixed set: method names, protocols,
// codes, kinds, reasons; never a mesh id, agent id or address.
import type { FastifyInstance } from "fastify";
import type { Registry } from "prom-client";
import type { LeaseEvents, LeaseKind, RefusalReason, RegistrationKind, RegistrationOutcome } from "../service/lease-events.js";
import type { RpcObserver } from "./road/road.js";

type PromClient = typeof import("prom-client");

/** The Content-Type of the text format (prom-client's `Registry.PROMETHEUS_CONTENT_TYPE`). */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

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

const LEASE_KINDS = { colony: 0, agent: 1, relay_session: 2 } as const satisfies Record<LeaseKind, number>;
const REGISTRATION_KINDS = { colony: 0, agent: 1 } as const satisfies Record<RegistrationKind, number>;
const OUTCOMES = { new: 0, renewal: 1 } as const satisfies Record<RegistrationOutcome, number>;
const REASONS = { split_brain: 0, capacity: 1, budget: 2, rate_limit: 3 } as const satisfies Record<RefusalReason, number>;

/** Every combination of the label values, in index order (the last label varies fastest). */
function labelSets(dimensions: readonly [string, Record<string, number>][]): Record<string, string>[] {
  let sets: Record<string, string>[] = [{}];
  for (const [label, values] of dimensions) sets = sets.flatMap((set) => Object.keys(values).map((value) => ({ ...set, [label]: value })));
  return sets;
}

/** A counter over a fixed list of label sets: the hot path adds to `values[i]`, the exposition reads them. */
interface TallyCounter {
  readonly name: string;
  readonly help: string;
  readonly dimensions: readonly [string, Record<string, number>][];
  readonly values: Float64Array;
}

function tallyCounter(name: string, help: string, dimensions: readonly [string, Record<string, number>][]): TallyCounter {
  return { name, help, dimensions, values: new Float64Array(labelSets(dimensions).length) };
}

/** Observations of one histogram series: per bucket, then +Inf, the ones that were at most its bound (not cumulative). */
interface HistogramTally {
  readonly labels: Record<string, string>;
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

function histogramTally(labels: Record<string, string>, bounds: readonly number[]): HistogramTally {
  return { labels, buckets: new Float64Array(bounds.length + 1), sum: 0, count: 0 };
}

function observe(tally: HistogramTally, bounds: readonly number[], value: number): void {
  let b = 0;
  while (b < bounds.length && value > (bounds[b] as number)) b++;
  add(tally.buckets, b, 1);
  tally.sum += value;
  tally.count++;
}

/** One method's RPC tallies: answers per protocol and code, and its latency histogram. */
interface MethodTally {
  readonly method: string;
  readonly answers: Float64Array;
  /** Label sets of `answers`, made on first use. */
  readonly labels: (Record<string, string> | undefined)[];
  readonly latency: HistogramTally;
}

/** A counter of prom-client's over a tally: every series exists from the start (at 0), so rate() sees the first event. */
function exposeCounter(prom: PromClient, registers: Registry[], tally: TallyCounter): void {
  const sets = labelSets(tally.dimensions);
  new prom.Counter({
    name: tally.name,
    help: tally.help,
    labelNames: tally.dimensions.map(([label]) => label),
    registers,
    collect() {
      this.reset();
      for (let i = 0; i < sets.length; i++) this.inc(sets[i] as Record<string, string>, tally.values[i] as number);
    },
  });
}

/**
 * A histogram as prom-client's registry reads a metric, built from tallies at
 * scrape time (prom-client's own Histogram takes ~1.6 µs per observation).
 * Registered by hand: prom-client reads any object with get() (and
 * getForPromString() for the text format).
 */
function exposeHistogram(registry: Registry, name: string, help: string, bounds: readonly number[], labelNames: string[], tallies: () => readonly HistogramTally[]): void {
  const get = async () => {
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    for (const tally of tallies()) {
      let cumulative = 0;
      bounds.forEach((le, i) => {
        cumulative += tally.buckets[i] as number;
        values.push({ metricName: `${name}_bucket`, labels: { le, ...tally.labels }, value: cumulative });
      });
      values.push({ metricName: `${name}_bucket`, labels: { le: "+Inf", ...tally.labels }, value: tally.count });
      values.push({ metricName: `${name}_sum`, labels: tally.labels, value: tally.sum });
      values.push({ metricName: `${name}_count`, labels: tally.labels, value: tally.count });
    }
    return { name, help, type: "histogram", values, aggregator: "sum" };
  };
  registry.registerMetric({ name, help, type: "histogram", aggregator: "sum", labelNames: [...labelNames, "le"], get, getForPromString: get } as never);
}

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
  /** Active leases now (a shared store answers later; when it cannot, the gauges keep their last values). */
  readonly leases: () => LeaseCounts | Promise<LeaseCounts>;
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

/** Everything the hot path counts: plain numbers, no prom-client. */
interface Tallies {
  readonly methods: MethodTally[];
  readonly registrations: TallyCounter;
  readonly refusals: TallyCounter;
  readonly expirations: TallyCounter;
  readonly evictions: TallyCounter;
  readonly sweeps: HistogramTally;
}

/** The metrics of one app. */
export function createMetrics(options: MetricsOptions): Metrics {
  const tallies: Tallies = {
    methods: [],
    registrations: tallyCounter(
      `${PREFIX}registrations_total`,
      "Accepted registrations by kind (colony, agent) and outcome: new (no active lease under that key) or renewal.",
      [["kind", REGISTRATION_KINDS], ["outcome", OUTCOMES]],
    ),
    refusals: tallyCounter(
      `${PREFIX}registrations_refused_total`,
      "Refused registrations by kind and reason: split_brain, capacity (a count cap or per-address quota), budget (--max-registry-bytes), rate_limit.",
      [["kind", REGISTRATION_KINDS], ["reason", REASONS]],
    ),
    expirations: tallyCounter(`${PREFIX}expirations_total`, "Expired leases the sweeper removed, by kind.", [["kind", LEASE_KINDS]]),
    evictions: tallyCounter(`${PREFIX}evictions_total`, "Leases removed by an operator before they expired, by kind.", [["kind", LEASE_KINDS]]),
    sweeps: histogramTally({}, SWEEP_BUCKETS),
  };
  // Built on the first scrape (one import even when two scrapes race).
  let registry: Promise<Registry> | undefined;

  return {
    forMethod(method) {
      const answers = new Float64Array(PROTOCOL_LABELS.length * CODE_COUNT);
      const tally: MethodTally = { method, answers, labels: new Array(answers.length), latency: histogramTally({ method }, RPC_BUCKETS) };
      tallies.methods.push(tally);
      return (protocol, code, seconds) => {
        const p = protocol === "connect" ? 0 : protocol === "grpc" ? 1 : 2;
        const i = p * CODE_COUNT + code;
        if (answers[i] === 0) tally.labels[i] = { method, protocol: PROTOCOL_LABELS[p] as string, code: CODE_LABELS[code] as string };
        add(answers, i, 1);
        observe(tally.latency, RPC_BUCKETS, seconds);
      };
    },
    registered: (kind, outcome) => add(tallies.registrations.values, REGISTRATION_KINDS[kind] * 2 + OUTCOMES[outcome], 1),
    refused: (kind, reason) => add(tallies.refusals.values, REGISTRATION_KINDS[kind] * 4 + REASONS[reason], 1),
    evicted: (kind, count = 1) => add(tallies.evictions.values, LEASE_KINDS[kind], count),
    swept(removed, durationMs) {
      const expirations = tallies.expirations.values;
      add(expirations, LEASE_KINDS.colony, removed.colonies);
      add(expirations, LEASE_KINDS.agent, removed.agents);
      add(expirations, LEASE_KINDS.relay_session, removed.relaySessions);
      observe(tallies.sweeps, SWEEP_BUCKETS, durationMs / 1000);
    },
    scrape: async () => {
      registry ??= import("prom-client").then((prom) => buildRegistry(prom, tallies, options));
      return (await registry).metrics();
    },
    contentType: PROMETHEUS_CONTENT_TYPE,
  };
}

/** prom-client's registry over the tallies and the state read at scrape time. */
function buildRegistry(prom: PromClient, tallies: Tallies, options: MetricsOptions): Registry {
  const registry = new prom.Registry();
  const registers = [registry];
  // Their counters (CPU seconds, GC) start here: from the first scrape, not from process start.
  if (options.defaultMetrics ?? true) prom.collectDefaultMetrics({ register: registry });

  new prom.Counter({
    name: `${PREFIX}rpc_requests_total`,
    help: "Unary RPCs answered, by method, protocol (connect, grpc, grpc_web) and Connect code (ok on success).",
    labelNames: ["method", "protocol", "code"] as const,
    registers,
    collect() {
      this.reset();
      for (const tally of tallies.methods) {
        tally.answers.forEach((n, i) => {
          if (n > 0) this.inc(tally.labels[i] as Record<string, string>, n);
        });
      }
    },
  });
  exposeHistogram(registry, `${PREFIX}rpc_duration_seconds`, "Time from a unary RPC's arrival to its answer being written, by method.", RPC_BUCKETS, ["method"], () =>
    tallies.methods.map((m) => m.latency),
  );
  exposeCounter(prom, registers, tallies.registrations);
  exposeCounter(prom, registers, tallies.refusals);
  exposeCounter(prom, registers, tallies.expirations);
  exposeCounter(prom, registers, tallies.evictions);
  exposeHistogram(
    registry,
    `${PREFIX}sweep_duration_seconds`,
    "Duration of each sweep of expired leases, from its first turn to its last (its count is the number of sweeps).",
    SWEEP_BUCKETS,
    [],
    () => [tallies.sweeps],
  );
  // One read of the store per scrape: prom-client collects every metric at once, so both gauges share it.
  let reading: Promise<LeaseCounts | undefined> | undefined;
  const readLeases = () =>
    (reading ??= Promise.resolve()
      .then(() => options.leases())
      .catch(() => undefined)
      .finally(() => {
        reading = undefined;
      }));
  new prom.Gauge({
    name: `${PREFIX}leases`,
    help: "Active leases by kind (colony, agent, relay_session), read at scrape time.",
    labelNames: ["kind"] as const,
    registers,
    async collect() {
      const counts = await readLeases();
      if (counts === undefined) return; // the store is out of reach: /readyz and /health say so; the scrape still answers
      this.set({ kind: "colony" }, counts.colonies);
      this.set({ kind: "agent" }, counts.agents);
      this.set({ kind: "relay_session" }, counts.relaySessions);
    },
  });
  new prom.Gauge({
    name: `${PREFIX}registry_bytes`,
    help: "Estimated memory of every stored lease, expired-but-unswept ones included (what --max-registry-bytes limits).",
    registers,
    async collect() {
      const counts = await readLeases();
      if (counts !== undefined) this.set(counts.bytes);
    },
  });
  new prom.Gauge({ name: `${PREFIX}registry_bytes_limit`, help: "--max-registry-bytes.", registers }).set(options.limits.bytes);
  const leaseLimits = new prom.Gauge({
    name: `${PREFIX}lease_limit`,
    help: "Configured caps on leases by kind (--max-colonies, --max-agents, --max-relay-sessions).",
    labelNames: ["kind"] as const,
    registers,
  });
  leaseLimits.set({ kind: "colony" }, options.limits.colonies);
  leaseLimits.set({ kind: "agent" }, options.limits.agents);
  leaseLimits.set({ kind: "relay_session" }, options.limits.relaySessions);
  new prom.Gauge({
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
  const http2Sessions = new prom.Gauge({ name: `${PREFIX}http2_sessions`, help: "Open HTTP/2 sessions, read at scrape time.", registers });
  return registry;
}

/** `GET /metrics`: the exposition, uncached (a scrape reads current state). */
export function registerMetricsRoute(app: FastifyInstance, metrics: Metrics): void {
  app.get("/metrics", async (_req, reply) => {
    void reply.header("content-type", metrics.contentType).header("cache-control", "no-store");
    return metrics.scrape();
  });
}

function add(values: Float64Array, i: number, n: number): void {
  values[i] = (values[i] as number) + n;
}
