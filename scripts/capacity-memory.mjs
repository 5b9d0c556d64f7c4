// Memory bound of a registry at its default caps (100,000 colonies, 100,000
// agents, --max-registry-bytes), measured in-process with the real service
// handlers from dist/ storing what they store for a request decoded from
// protobuf binary (as it arrives on the wire). Heap is measured after forced
// GCs, and compared with what the byte budget counts for the same entries
// (src/service/entry-size.ts), which must stay at or above the heap.
//
// Realistic payloads:
//   colony: 3 endpoints, 5 metadata entries, an observed endpoint, mesh IPv4, connect port
//   agent:  2 endpoints, 3 metadata entries, an observed endpoint (10 agents per mesh)
// Agents are measured in steps up to the cap (with --quick, up to half of it
// and extrapolated linearly, which the output says).
// Then worst cases on small samples, extrapolated to the caps: the largest
// payload the field rules accept, and one that also carries ~60 KiB of unknown
// fields inside observed_endpoint (which the registry must not keep).
//
//   npm run build && node scripts/capacity-memory.mjs [--quick]
// (re-runs itself with --expose-gc and a large enough heap)
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const HERE = fileURLToPath(import.meta.url);
if (typeof globalThis.gc !== "function") {
  const result = spawnSync(process.execPath, ["--expose-gc", "--max-old-space-size=12288", HERE, ...process.argv.slice(2)], { stdio: "inherit" });
  process.exit(result.status ?? 1);
}
const DIST = new URL("../dist/", import.meta.url);
if (!existsSync(new URL("src/registry/index.js", DIST))) {
  process.stderr.write("dist/ is missing: run npm run build first\n");
  process.exit(1);
}

const { create, fromBinary, toBinary } = await import("@bufbuild/protobuf");
const pb = await import(new URL("gen/coral/discovery/v1/discovery_pb.js", DIST).href);
const { createConfiguredRegistry } = await import(new URL("src/app.js", DIST).href);
const { resolveConfig } = await import(new URL("src/config/index.js", DIST).href);
const { createDiscoveryService } = await import(new URL("src/service/discovery-service.js", DIST).href);
const DEFAULTS = resolveConfig({});
const DEFAULT_REGISTRY_LIMITS = { colonies: DEFAULTS.maxColonies, agents: DEFAULTS.maxAgents, bytes: DEFAULTS.maxRegistryBytes };
/** No caller to see: observed endpoints come from the requests. */
const ctx = { clientIp: undefined, observedIp: undefined, timeoutMs: undefined, requestHeader: () => undefined, setResponseHeader: () => {} };

const QUICK = process.argv.includes("--quick");
const AGENT_STEPS = [25_000, 50_000, 100_000, 200_000, 500_000, 1_000_000].filter(
  (n) => n <= (QUICK ? DEFAULT_REGISTRY_LIMITS.agents / 2 : DEFAULT_REGISTRY_LIMITS.agents),
);
const now = () => 1_800_000_000_000; // a fixed clock: nothing expires during the measurement

/** A service whose registry has the default caps, or no byte budget (to measure past it). */
function newService(settings = {}) {
  const registry = createConfiguredRegistry(resolveConfig(settings), now);
  let ids = 0;
  const service = createDiscoveryService({
    registry,
    ttlSeconds: 300,
    stunServers: ["stun.cloudflare.com:3478"],
    relays: [],
    version: "capacity",
    startedAtMs: now(),
    now,
    randomId: () => `id-${++ids}`,
  });
  return { registry, service };
}

/** heapUsed + external (which includes ArrayBuffers) after full GCs, in bytes. */
function heap() {
  for (let i = 0; i < 4; i++) globalThis.gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed + m.external, rss: m.rss };
}

const key = () => randomBytes(32).toString("base64");
const hex = (n) => randomBytes(n).toString("hex");
/** Decoded from binary, so every string is a fresh allocation as on the wire. */
const wire = (schema, init) => fromBinary(schema, toBinary(schema, create(schema, init)));

function colonyRequest(i) {
  return wire(pb.RegisterColonyRequestSchema, {
    meshId: `mesh-${i}-${hex(6)}`,
    pubkey: key(),
    endpoints: [`:${51820 + (i % 100)}`, `203.0.${i % 256}.${(i >> 8) % 256}:51820`, `[2001:db8::${(i % 65535).toString(16)}]:51820`],
    meshIpv4: `10.${(i >> 16) % 256}.${(i >> 8) % 256}.${i % 256}`,
    connectPort: 9000,
    metadata: { region: "eu-west-1", version: "1.4.2", os: "linux", arch: "amd64", hostname: `colony-${hex(4)}` },
    observedEndpoint: { ip: `198.51.${(i >> 8) % 256}.${i % 256}`, port: 40000 + (i % 20000), protocol: "udp" },
  });
}

function agentRequest(i, meshIds) {
  return wire(pb.RegisterAgentRequestSchema, {
    agentId: `agent-${i}-${hex(4)}`,
    meshId: meshIds[i % meshIds.length],
    pubkey: key(),
    endpoints: [`:${41820 + (i % 100)}`, `192.0.2.${i % 256}:41820`],
    metadata: { os: "linux", version: "1.4.2", hostname: `agent-${hex(4)}` },
    observedEndpoint: { ip: `198.51.${(i >> 8) % 256}.${i % 256}`, port: 30000 + (i % 30000), protocol: "udp" },
  });
}

const fmtMb = (bytes) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const fmtGb = (bytes) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;
const lines = [];
const report = (line) => {
  lines.push(line);
  process.stdout.write(`${line}\n`);
};

report(`caps: ${DEFAULT_REGISTRY_LIMITS.colonies} colonies, ${DEFAULT_REGISTRY_LIMITS.agents} agents (defaults); Node ${process.version}`);

// Realistic payloads at the caps.
const { registry, service } = newService();
const base = heap();
let t0 = performance.now();
const meshIds = [];
for (let i = 0; i < DEFAULT_REGISTRY_LIMITS.colonies; i++) {
  const req = colonyRequest(i);
  meshIds.push(req.meshId);
  service.registerColony(req, ctx);
}
const afterColonies = heap();
const colonyBytes = afterColonies.heap - base.heap;
report(
  `colonies: ${registry.counts().colonies} in ${((performance.now() - t0) / 1000).toFixed(1)} s: ` +
    `${fmtMb(colonyBytes)} heap, ${(colonyBytes / registry.counts().colonies).toFixed(0)} B per colony (includes this script's array of the ids, ~1 MiB); ` +
    `the byte budget counts ${(registry.counts().bytes / registry.counts().colonies).toFixed(0)} B per colony`,
);
const colonyEstimate = registry.counts().bytes;

const steps = [];
let stored = 0;
t0 = performance.now();
for (const target of AGENT_STEPS) {
  for (; stored < target; stored++) service.registerAgent(agentRequest(stored, meshIds), ctx);
  const h = heap();
  const bytes = h.heap - afterColonies.heap;
  steps.push({ agents: stored, bytes });
  report(
    `agents: ${registry.counts().agents} (t=${((performance.now() - t0) / 1000).toFixed(1)} s): ${fmtMb(bytes)} heap, ` +
      `${(bytes / stored).toFixed(0)} B per agent (the budget counts ${((registry.counts().bytes - colonyEstimate) / stored).toFixed(0)} B); process RSS ${fmtMb(h.rss)}`,
  );
}
let agentBytesAtCap;
const last = steps[steps.length - 1];
if (last.agents >= DEFAULT_REGISTRY_LIMITS.agents) {
  agentBytesAtCap = last.bytes;
  report(`agents at the cap: measured, ${fmtGb(agentBytesAtCap)}`);
} else {
  // Least-squares line through the measured points, extrapolated to the cap.
  const n = steps.length;
  const mx = steps.reduce((s, p) => s + p.agents, 0) / n;
  const my = steps.reduce((s, p) => s + p.bytes, 0) / n;
  const slope = steps.reduce((s, p) => s + (p.agents - mx) * (p.bytes - my), 0) / steps.reduce((s, p) => s + (p.agents - mx) ** 2, 0);
  agentBytesAtCap = my + slope * (DEFAULT_REGISTRY_LIMITS.agents - mx);
  report(`agents at the cap: EXTRAPOLATED linearly from ${steps.map((s) => s.agents).join("/")}: ${fmtGb(agentBytesAtCap)} (${slope.toFixed(0)} B per agent)`);
}
report(`registry at its caps, realistic payloads: ${fmtGb(colonyBytes + agentBytesAtCap)} of heap (colonies ${fmtMb(colonyBytes)} + agents ${fmtGb(agentBytesAtCap)})`);
report(
  `the byte budget counts ${fmtMb(registry.counts().bytes)} for the ${registry.counts().colonies} colonies and ${registry.counts().agents} agents stored: ` +
    `${((100 * registry.counts().bytes) / DEFAULT_REGISTRY_LIMITS.bytes).toFixed(0)} % of --max-registry-bytes ${fmtMb(DEFAULT_REGISTRY_LIMITS.bytes)} ` +
    `(the count caps come first when below 100 %)`,
);

// Worst cases, sampled and extrapolated to the caps.
meshIds.length = 0;
const SAMPLE = 2_000;
const maxMetadata = () => Object.fromEntries(Array.from({ length: 32 }, (_, k) => [`${String(k).padStart(2, "0")}${"k".repeat(62)}`, "v".repeat(62)]));
const maxEndpoints = () => Array.from({ length: 16 }, (_, k) => `${"h".repeat(60)}.${"h".repeat(60)}.${"h".repeat(60)}.${"h".repeat(55)}${String(k).padStart(2, "0")}.example:51820`);
const varint = (value) => {
  const out = [];
  for (let v = value; ; v >>>= 7) {
    if (v < 128) return [...out, v];
    out.push((v & 127) | 128);
  }
};
/**
 * A whole request body as the server decodes it: `init` plus an
 * observed_endpoint (field `observedField`) that carries a `bytes`-long
 * unknown field 99. protobuf-es keeps unknown fields as views of the request
 * buffer, so the stored entry retains the whole body.
 */
const withUnknown = (schema, init, observedField, bytes) => {
  const endpoint = toBinary(pb.EndpointSchema, create(pb.EndpointSchema, { ip: "198.51.100.1", port: 1 }));
  const observed = Buffer.concat([Buffer.from(endpoint), Buffer.from([0x9a, 0x06, ...varint(bytes)]), Buffer.alloc(bytes, 0x41)]);
  const body = Buffer.concat([Buffer.from(toBinary(schema, create(schema, init))), Buffer.from([(observedField << 3) | 2, ...varint(observed.length)]), observed]);
  return fromBinary(schema, new Uint8Array(body));
};
const worst = {
  "colony, largest payload the field rules accept": (i) =>
    wire(pb.RegisterColonyRequestSchema, {
      meshId: `${"m".repeat(120)}${String(i).padStart(8, "0")}`,
      pubkey: key(),
      endpoints: maxEndpoints(),
      metadata: maxMetadata(),
      observedEndpoint: { ip: "198.51.100.1", port: 1, protocol: "udp" },
      publicEndpoint: { enabled: true, url: `https://${"u".repeat(2000)}.example/`, caCert: "c".repeat(16 * 1024) },
    }),
  "colony, plus ~60 KiB of unknown fields": (i) =>
    withUnknown(pb.RegisterColonyRequestSchema, { meshId: `w${i}`, pubkey: key(), endpoints: [":1"] }, 8, 60_000),
  "agent, largest payload the field rules accept": (i) =>
    wire(pb.RegisterAgentRequestSchema, {
      agentId: `${"a".repeat(120)}${String(i).padStart(8, "0")}`,
      meshId: `mesh-${i}`,
      pubkey: key(),
      endpoints: maxEndpoints(),
      metadata: maxMetadata(),
      observedEndpoint: { ip: "198.51.100.1", port: 1, protocol: "udp" },
    }),
  "agent, plus ~60 KiB of unknown fields": (i) =>
    withUnknown(pb.RegisterAgentRequestSchema, { agentId: `a${i}`, meshId: `mesh-${i}`, pubkey: key(), endpoints: [":1"] }, 5, 60_000),
};
for (const [name, make] of Object.entries(worst)) {
  const { registry: r, service: s } = newService();
  const before = heap();
  const isColony = name.startsWith("colony");
  let refused = 0;
  for (let i = 0; i < SAMPLE; i++) {
    try {
      if (isColony) s.registerColony(make(i), ctx);
      else s.registerAgent(make(i), ctx);
    } catch (error) {
      refused++;
      if (refused === 1) report(`  (${name}: refused: ${error.message})`);
    }
  }
  const stored = isColony ? r.counts().colonies : r.counts().agents;
  const per = (heap().heap - before.heap) / Math.max(1, stored);
  const counted = r.counts().bytes / Math.max(1, stored);
  const admitted = Math.min(isColony ? DEFAULT_REGISTRY_LIMITS.colonies : DEFAULT_REGISTRY_LIMITS.agents, Math.floor(DEFAULT_REGISTRY_LIMITS.bytes / counted));
  report(
    `worst case, ${name}: ${per.toFixed(0)} B of heap per entry, ${counted.toFixed(0)} B counted (${stored} sampled; ` +
      `counted/heap ${(counted / per).toFixed(2)}) -> the budget admits ${admitted} of them: ${fmtMb(per * admitted)} of heap`,
  );
}
