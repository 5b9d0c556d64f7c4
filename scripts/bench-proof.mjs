// What a registration proof costs the service, per registration:
//   - the RegisterColony handler (validation, proof check, registry, response)
//     called in process, with and without a valid Coral-Registration-Proof,
//     each colony renewing its own mesh (1,000 meshes, round robin), so the
//     difference is the proof check alone, without HTTP or protocol noise;
//   - the parts of the check: verifyRegistrationProof with the MAC key cached
//     (a renewal: what the handler case measures) and without (a pubkey's
//     first proof), of which the X25519 agreement (public key import +
//     diffieHellman) and the canonical bytes.
// Alternating rounds (A, B, A, B, ...), medians; "CPU" is process.cpuUsage()
// (user + system) per call, less sensitive than wall time to other load.
//
//   npm run build && node scripts/bench-proof.mjs [--calls 20000] [--rounds 5]
import { availableParallelism, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { RegisterColonyRequestSchema } from "../dist/gen/coral/discovery/v1/discovery_pb.js";
import { createConfiguredRegistry } from "../dist/src/app.js";
import { resolveConfig } from "../dist/src/config/index.js";
import { createDiscoveryService, parseRelays } from "../dist/src/service/discovery-service.js";
import { createProofCheck } from "../dist/src/service/proof.js";
import {
  canonicalRequestBytes,
  createProofKeyCache,
  createRegistrationProof,
  deriveServiceKey,
  verifyRegistrationProof,
  x25519PrivateKey,
} from "../dist/src/tokens/index.js";

const { values } = parseArgs({ options: { calls: { type: "string", default: "20000" }, rounds: { type: "string", default: "5" } } });
const CALLS = Number(values.calls);
const ROUNDS = Number(values.rounds);
const MESHES = 1_000;

const nowMs = Date.UTC(2026, 0, 1);
const now = () => nowMs;
const serviceKey = x25519PrivateKey(deriveServiceKey(new Uint8Array(32).fill(5)));
const config = resolveConfig({ logLevel: "silent" });
const service = createDiscoveryService({
  registry: createConfiguredRegistry(config, now),
  ttlSeconds: config.ttlSeconds,
  stunServers: config.stunServers,
  relays: parseRelays([]),
  version: "bench",
  startedAtMs: nowMs,
  now,
  randomId: () => "x",
  proofs: createProofCheck({ serviceKey, maxSkewSeconds: 120, now }),
});

// One key pair and one request per mesh, with a realistic payload; proofs made up front.
const colonies = Array.from({ length: MESHES }, (_, i) => {
  const raw = new Uint8Array(32);
  raw[0] = i & 0xff;
  raw[1] = i >> 8;
  raw[2] = 7;
  const key = x25519PrivateKey(raw);
  const request = create(RegisterColonyRequestSchema, {
    meshId: `bench-mesh-${i}`,
    pubkey: Buffer.from(key.publicKey).toString("base64"),
    endpoints: ["203.0.113.7:41820", "[2001:db8::7]:41820"],
    meshIpv4: "10.42.0.1",
    connectPort: 9000,
    metadata: { region: "eu-west-1", version: "1.4.2", role: "colony" },
  });
  const proof = createRegistrationProof(request, key, serviceKey.publicKey, nowMs / 1000);
  return { request, proof };
});
const context = (proof) => ({
  clientIp: "203.0.113.9",
  observedIp: "203.0.113.9",
  signal: new AbortController().signal,
  timeoutMs: undefined,
  requestHeader: (name) => (name === "coral-registration-proof" ? proof : undefined),
  setResponseHeader: () => {},
});
const plainContexts = colonies.map(() => context(undefined));
const provenContexts = colonies.map((c) => context(c.proof));

function measure(run) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < CALLS; i++) run(i % MESHES);
  const wall = (performance.now() - t0) / CALLS;
  const cpu = process.cpuUsage(cpu0);
  return { wallUs: wall * 1000, cpuUs: (cpu.user + cpu.system) / CALLS };
}

const keyCache = createProofKeyCache(MESHES);
const cases = {
  "RegisterColony handler, unproven": (i) => service.registerColony(colonies[i].request, plainContexts[i]),
  "RegisterColony handler, proven (renewal)": (i) => service.registerColony(colonies[i].request, provenContexts[i]),
  "verifyRegistrationProof, key cached": (i) =>
    verifyRegistrationProof(colonies[i].proof, colonies[i].request, { serviceKey, nowSeconds: nowMs / 1000, maxSkewSeconds: 120, keyCache }),
  "verifyRegistrationProof, first proof": (i) => verifyRegistrationProof(colonies[i].proof, colonies[i].request, { serviceKey, nowSeconds: nowMs / 1000, maxSkewSeconds: 120 }),
  "  of which X25519 (key import + agreement)": (i) => serviceKey.sharedSecret(Buffer.from(colonies[i].request.pubkey, "base64")),
  "  of which canonical bytes": (i) => canonicalRequestBytes(colonies[i].request),
};

// The proven case first registers every mesh with a proof, so the unproven case would be refused: give it its own meshes.
for (const c of colonies) service.registerColony(c.request, context(c.proof));
const plainService = createDiscoveryService({
  registry: createConfiguredRegistry(config, now),
  ttlSeconds: config.ttlSeconds,
  stunServers: config.stunServers,
  relays: parseRelays([]),
  version: "bench",
  startedAtMs: nowMs,
  now,
  randomId: () => "x",
  proofs: createProofCheck({ serviceKey, maxSkewSeconds: 120, now }),
});
cases["RegisterColony handler, unproven"] = (i) => plainService.registerColony(colonies[i].request, plainContexts[i]);

for (const run of Object.values(cases)) measure(run); // warm-up
const results = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, run] of Object.entries(cases)) results[name].push(measure(run));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`bench-proof: ${CALLS} calls x ${ROUNDS} rounds per case, ${MESHES} meshes; node ${process.version}, ${availableParallelism()} CPUs, load ${loadavg()[0].toFixed(2)}`);
for (const [name, runs] of Object.entries(results)) {
  const wall = median(runs.map((r) => r.wallUs));
  const cpu = median(runs.map((r) => r.cpuUs));
  console.log(`${name.padEnd(44)} ${wall.toFixed(1).padStart(7)} µs wall  ${cpu.toFixed(1).padStart(7)} µs CPU`);
}
const cpuOf = (name) => median(results[name].map((r) => r.cpuUs));
console.log(
  `a proven renewal adds ~${(cpuOf("RegisterColony handler, proven (renewal)") - cpuOf("RegisterColony handler, unproven")).toFixed(0)} µs of CPU to the handler; ` +
    `a pubkey's first proof (or one past the key cache) ~${cpuOf("verifyRegistrationProof, first proof").toFixed(0)} µs`,
);
