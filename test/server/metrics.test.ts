import t from "tap";
import { Code } from "@connectrpc/connect";
import fastify from "fastify";
import { createMetrics, registerMetricsRoute, type ConnectionStats, type LeaseCounts } from "../../src/server/metrics.js";
import { parseExposition, promtoolCheck } from "../fixtures/prometheus.js";

const P = "coral_discovery_";

function setup(options: { defaultMetrics?: boolean; connections?: ConnectionStats | undefined } = {}) {
  const leases: { current: LeaseCounts | Error; async?: boolean } = { current: { colonies: 0, agents: 0, relaySessions: 0, bytes: 0 } };
  let scrapes = 0;
  const metrics = createMetrics({
    leases: () => {
      scrapes++;
      const { current } = leases;
      if (leases.async) return current instanceof Error ? Promise.reject(current) : Promise.resolve(current);
      if (current instanceof Error) throw current;
      return current;
    },
    limits: { colonies: 100, agents: 200, relaySessions: 30, bytes: 4096 },
    connections: () => ("connections" in options ? options.connections : { open: 5, idle: 2, http2Sessions: 1 }),
    ...(options.defaultMetrics === undefined ? {} : { defaultMetrics: options.defaultMetrics }),
  });
  return { metrics, leases, scrapes: () => scrapes, read: async () => parseExposition(await metrics.scrape()) };
}

t.test("RPCs are counted by method, protocol and code, and timed by method", async (t) => {
  const { metrics, read } = setup({ defaultMetrics: false });
  const lookup = metrics.forMethod("LookupColony");
  const register = metrics.forMethod("RegisterColony");
  lookup("connect", 0, 0.0004);
  lookup("connect", 0, 0.002);
  lookup("grpc", Code.NotFound, 0.003);
  lookup("grpc-web", Code.NotFound, 0.2);
  register("grpc", Code.AlreadyExists, 0.0007);
  const m = await read();
  const rpc = (method: string, protocol: string, code: string) => m.value(`${P}rpc_requests_total`, { method, protocol, code });
  t.equal(rpc("LookupColony", "connect", "ok"), 2);
  t.equal(rpc("LookupColony", "grpc", "not_found"), 1);
  t.equal(rpc("LookupColony", "grpc_web", "not_found"), 1, "grpc-web is labelled grpc_web");
  t.equal(rpc("RegisterColony", "grpc", "already_exists"), 1);
  t.equal(rpc("RegisterColony", "connect", "ok"), undefined, "series appear on first use");
  t.equal(m.types.get(`${P}rpc_duration_seconds`), "histogram");
  const bucket = (le: string) => m.value(`${P}rpc_duration_seconds_bucket`, { method: "LookupColony", le });
  t.equal(bucket("0.0005"), 1);
  t.equal(bucket("0.0025"), 2);
  t.equal(bucket("0.005"), 3);
  t.equal(bucket("0.25"), 4);
  t.equal(m.value(`${P}rpc_duration_seconds_count`, { method: "LookupColony" }), 4);
  t.equal(m.value(`${P}rpc_duration_seconds_sum`, { method: "LookupColony" }), 0.0004 + 0.002 + 0.003 + 0.2);
  t.equal(m.value(`${P}rpc_duration_seconds_count`, { method: "RegisterColony" }), 1);
});

t.test("every Connect code has its Connect name as the label value", async (t) => {
  const { metrics, read } = setup({ defaultMetrics: false });
  const record = metrics.forMethod("Health");
  const codes = Object.values(Code).filter((v): v is Code => typeof v === "number");
  t.equal(codes.length, 16);
  for (const code of codes) record("connect", code, 0.001);
  record("connect", 0, 0.001);
  const m = await read();
  for (const code of codes) {
    const name = Code[code].replace(/[a-z][A-Z]/g, (pair) => `${pair[0]}_${pair[1]}`).toLowerCase();
    t.equal(m.value(`${P}rpc_requests_total`, { method: "Health", protocol: "connect", code: name }), 1, name);
  }
  t.equal(m.value(`${P}rpc_requests_total`, { method: "Health", protocol: "connect", code: "ok" }), 1);
});

t.test("registrations, refusals, expirations, evictions and sweeps are counted; every series of a fixed set starts at 0", async (t) => {
  const { metrics, read } = setup({ defaultMetrics: false });
  let m = await read();
  for (const kind of ["colony", "agent"]) {
    for (const outcome of ["new", "renewal"]) t.equal(m.value(`${P}registrations_total`, { kind, outcome }), 0);
    for (const reason of ["split_brain", "capacity", "budget", "rate_limit"]) t.equal(m.value(`${P}registrations_refused_total`, { kind, reason }), 0);
  }
  for (const kind of ["colony", "agent", "relay_session"]) {
    t.equal(m.value(`${P}expirations_total`, { kind }), 0);
    t.equal(m.value(`${P}evictions_total`, { kind }), 0);
  }
  t.equal(m.value(`${P}sweep_duration_seconds_count`), 0);

  metrics.registered("colony", "new");
  metrics.registered("colony", "new");
  metrics.registered("colony", "renewal");
  metrics.registered("agent", "new");
  metrics.refused("colony", "split_brain");
  metrics.refused("agent", "budget");
  metrics.refused("agent", "rate_limit");
  metrics.refused("agent", "rate_limit");
  metrics.evicted("agent");
  metrics.evicted("colony", 3);
  metrics.swept({ colonies: 2, agents: 0, relaySessions: 1 }, 3);
  metrics.swept({ colonies: 0, agents: 4, relaySessions: 0 }, 40);
  m = await read();
  t.equal(m.value(`${P}registrations_total`, { kind: "colony", outcome: "new" }), 2);
  t.equal(m.value(`${P}registrations_total`, { kind: "colony", outcome: "renewal" }), 1);
  t.equal(m.value(`${P}registrations_total`, { kind: "agent", outcome: "new" }), 1);
  t.equal(m.value(`${P}registrations_total`, { kind: "agent", outcome: "renewal" }), 0);
  t.equal(m.value(`${P}registrations_refused_total`, { kind: "colony", reason: "split_brain" }), 1);
  t.equal(m.value(`${P}registrations_refused_total`, { kind: "agent", reason: "budget" }), 1);
  t.equal(m.value(`${P}registrations_refused_total`, { kind: "agent", reason: "rate_limit" }), 2);
  t.equal(m.value(`${P}evictions_total`, { kind: "agent" }), 1);
  t.equal(m.value(`${P}evictions_total`, { kind: "colony" }), 3);
  t.equal(m.value(`${P}expirations_total`, { kind: "colony" }), 2);
  t.equal(m.value(`${P}expirations_total`, { kind: "agent" }), 4);
  t.equal(m.value(`${P}expirations_total`, { kind: "relay_session" }), 1);
  t.equal(m.value(`${P}sweep_duration_seconds_count`), 2);
  t.equal(m.value(`${P}sweep_duration_seconds_sum`), 0.003 + 0.04);
  t.equal(m.value(`${P}sweep_duration_seconds_bucket`, { le: "0.005" }), 1);
  t.equal(m.value(`${P}sweep_duration_seconds_bucket`, { le: "0.05" }), 2);
});

t.test("state is read at scrape time: leases, bytes, limits and connections", async (t) => {
  const { leases, read, scrapes } = setup({ defaultMetrics: false });
  t.equal(scrapes(), 0, "nothing is read before a scrape");
  leases.current = { colonies: 3, agents: 7, relaySessions: 2, bytes: 1234 };
  let m = await read();
  t.equal(scrapes(), 1, "one read of the registry per scrape");
  t.equal(m.value(`${P}leases`, { kind: "colony" }), 3);
  t.equal(m.value(`${P}leases`, { kind: "agent" }), 7);
  t.equal(m.value(`${P}leases`, { kind: "relay_session" }), 2);
  t.equal(m.value(`${P}registry_bytes`), 1234);
  t.equal(m.value(`${P}registry_bytes_limit`), 4096);
  t.equal(m.value(`${P}lease_limit`, { kind: "colony" }), 100);
  t.equal(m.value(`${P}lease_limit`, { kind: "agent" }), 200);
  t.equal(m.value(`${P}lease_limit`, { kind: "relay_session" }), 30);
  t.equal(m.value(`${P}connections`, { state: "active" }), 3);
  t.equal(m.value(`${P}connections`, { state: "idle" }), 2);
  t.equal(m.value(`${P}http2_sessions`), 1);
  leases.current = { colonies: 1, agents: 0, relaySessions: 0, bytes: 10 };
  m = await read();
  t.equal(m.value(`${P}leases`, { kind: "colony" }), 1, "the next scrape reads again");
  t.equal(m.value(`${P}registry_bytes`), 10);
});

t.test("a store that answers later is read once per scrape; one that fails leaves the last values and the scrape answers", async (t) => {
  const { leases, read, scrapes } = setup({ defaultMetrics: false });
  leases.async = true;
  leases.current = { colonies: 4, agents: 1, relaySessions: 0, bytes: 99 };
  let m = await read();
  t.equal(scrapes(), 1, "both gauges share one read");
  t.equal(m.value(`${P}leases`, { kind: "colony" }), 4);
  t.equal(m.value(`${P}registry_bytes`), 99);
  leases.current = new Error("the state store (Redis) is unreachable");
  m = await read();
  t.equal(m.value(`${P}leases`, { kind: "colony" }), 4, "kept");
  t.equal(m.value(`${P}registry_bytes`), 99, "kept");
  t.equal(m.value(`${P}registry_bytes_limit`), 4096, "the rest of the scrape is there");
  leases.async = false;
  m = await read();
  t.equal(m.value(`${P}leases`, { kind: "colony" }), 4, "a synchronous failure too");
  t.equal(scrapes(), 3, "one read per scrape, failed or not");
});

t.test("before the server exists, connections read as 0", async (t) => {
  const m = await setup({ defaultMetrics: false, connections: undefined }).read();
  t.equal(m.value(`${P}connections`, { state: "active" }), 0);
  t.equal(m.value(`${P}connections`, { state: "idle" }), 0);
  t.equal(m.value(`${P}http2_sessions`), 0);
});

t.test("the default process and Node.js metrics are included unless turned off", async (t) => {
  const on = await setup().read();
  t.equal(on.types.get("process_cpu_seconds_total"), "counter");
  t.equal(on.types.get("nodejs_heap_size_used_bytes"), "gauge");
  t.ok((on.value("process_resident_memory_bytes") ?? 0) > 0, "resident memory is measured");
  const off = await setup({ defaultMetrics: false }).read();
  t.equal(off.types.get("process_cpu_seconds_total"), undefined);
  t.ok([...off.types.keys()].every((name) => name.startsWith(P)), "only ours");
});

t.test("the exposition passes the strict grammar check", async (t) => {
  const { metrics } = setup();
  metrics.forMethod("LookupColony")("grpc-web", Code.NotFound, 0.01);
  const m = parseExposition(await metrics.scrape());
  t.ok(m.samples.length > 50, "our metrics and the default ones");
});

const PROMTOOL_MISSING = promtoolCheck("") === undefined ? "promtool is not installed (Debian: apt-get install prometheus); the grammar check still runs" : false;

t.test("promtool check metrics accepts the exposition", { skip: PROMTOOL_MISSING }, async (t) => {
  const { metrics } = setup();
  metrics.forMethod("LookupColony")("grpc-web", Code.NotFound, 0.01);
  metrics.registered("agent", "renewal");
  const checked = promtoolCheck(await metrics.scrape());
  // 0: clean; 3: lint problems only (1 would be a parse error).
  t.ok(checked?.status === 0 || checked?.status === 3, `promtool parsed it (exit ${checked?.status}): ${checked?.output}`);
  const problems = (checked?.output ?? "").split("\n").filter((line) => line.trim() !== "");
  t.same(
    problems.filter((line) => !/^nodejs_active_(handles|requests|resources)_total non-counter/.test(line)),
    [],
    "no lint problem but prom-client's own nodejs_active_*_total gauge names",
  );
  const broken = promtoolCheck("# TYPE a counter\na{k=v} 1\n");
  t.equal(broken?.status, 1, "and promtool does refuse a broken exposition");
});

t.test("the grammar check refuses what a scraper would", async (t) => {
  const bad: Record<string, string> = {
    "no final line feed": "# TYPE a counter\na 1",
    "a value that is no number": "# TYPE a counter\na one\n",
    "an unquoted label value": "# TYPE a counter\na{k=v} 1\n",
    "a series twice": "# TYPE a counter\na{k=\"v\"} 1\na{k=\"v\"} 2\n",
    "a sample after its family's block": "# TYPE a counter\na 1\n# TYPE b gauge\nb 1\na 2\n",
    "a second TYPE": "# TYPE a counter\n# TYPE a gauge\n",
    "non-cumulative buckets": "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 1\n",
    "+Inf bucket differs from count": "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_count 2\nh_sum 1\n",
  };
  for (const [what, text] of Object.entries(bad)) t.throws(() => parseExposition(text), what);
  const good = parseExposition('# HELP a An \\"a\\".\n# TYPE a gauge\na{k="x\\"y\\\\z"} -Inf\n');
  t.equal(good.value("a", { k: 'x"y\\z' }), -Infinity, "escapes are read back");
});

t.test("GET /metrics serves the exposition with Prometheus's content type, never cached", async (t) => {
  const { metrics } = setup({ defaultMetrics: false });
  metrics.registered("colony", "new");
  const app = fastify();
  registerMetricsRoute(app, metrics);
  t.teardown(() => app.close());
  const res = await app.inject({ method: "GET", url: "/metrics" });
  t.equal(res.statusCode, 200);
  t.equal(res.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  t.equal(res.headers["cache-control"], "no-store");
  t.equal(parseExposition(res.body).value(`${P}registrations_total`, { kind: "colony", outcome: "new" }), 1);
});

t.test("prom-client comes in on the first scrape: what happened before is there, racing first scrapes agree, later ones see new events", async (t) => {
  const { metrics } = setup({ defaultMetrics: true });
  metrics.registered("agent", "renewal");
  metrics.swept({ colonies: 1, agents: 0, relaySessions: 0 }, 2);
  const [a, b] = await Promise.all([metrics.scrape(), metrics.scrape()]);
  const ours = (text: string) => text.split("\n").filter((line) => line.includes(P));
  t.same(ours(a), ours(b), "both first scrapes read the same tallies");
  const first = parseExposition(a);
  t.equal(first.value(`${P}registrations_total`, { kind: "agent", outcome: "renewal" }), 1, "an event before any scrape is counted");
  t.equal(first.value(`${P}expirations_total`, { kind: "colony" }), 1);
  t.equal(first.value(`${P}sweep_duration_seconds_count`), 1);
  t.ok(first.value("process_cpu_seconds_total") !== undefined, "process metrics start with the first scrape");
  metrics.registered("agent", "renewal");
  t.equal(parseExposition(await metrics.scrape()).value(`${P}registrations_total`, { kind: "agent", outcome: "renewal" }), 2, "a later scrape sees later events");
  const { Registry } = await import("prom-client");
  t.equal(metrics.contentType, Registry.PROMETHEUS_CONTENT_TYPE, "the content type is prom-client's, known before it loads");
});
