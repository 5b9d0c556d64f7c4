// The byte budget holds the daemon's memory: the built daemon, with its
// default settings, is sent colonies at the field maxima (~27 KB each on the
// wire) until it refuses them. The refusals must be resource_exhausted naming
// --max-registry-bytes, the process must stay well inside a $5 VPS (peak RSS
// under 512 MiB), renewals of accepted colonies must still succeed, and Health
// must count exactly the accepted ones.
import * as http from "node:http";
import { readFileSync } from "node:fs";
import t from "tap";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  HealthResponseSchema,
  RegisterColonyRequestSchema,
} from "../../gen/coral/discovery/v1/discovery_pb.js";
import { spawnDaemon } from "../fixtures/spawn.js";

const SERVICE = "/coral.discovery.v1.DiscoveryService";
const RSS_LIMIT_MIB = 512;
const CONNECTIONS = 4;
/** A failure bound: the budget admits about 10,000 of these. */
const MAX_SENT = 60_000;

/** A WireGuard-shaped key for colony `i` (base64 of 32 bytes). */
function key(i: number): string {
  const bytes = Buffer.alloc(32);
  bytes.writeUInt32BE(i, 0);
  return bytes.toString("base64");
}

/** The largest colony the field rules accept. */
function largestColony(i: number): Uint8Array {
  return toBinary(
    RegisterColonyRequestSchema,
    create(RegisterColonyRequestSchema, {
      meshId: `${"m".repeat(120)}${String(i).padStart(8, "0")}`,
      pubkey: key(i),
      endpoints: Array.from({ length: 16 }, (_, k) => `${"h".repeat(60)}.${"h".repeat(60)}.${"h".repeat(60)}.${"h".repeat(55)}${String(k).padStart(2, "0")}.example:51820`),
      metadata: Object.fromEntries(Array.from({ length: 32 }, (_, k) => [`${String(k).padStart(2, "0")}${"k".repeat(62)}`, "v".repeat(62)])),
      observedEndpoint: { ip: "198.51.100.1", port: 1, protocol: "udp" },
      publicEndpoint: { enabled: true, url: `https://${"u".repeat(2000)}.example/`, caCert: "c".repeat(16 * 1024) },
    }),
  );
}

function post(agent: http.Agent, port: number, method: string, body: Uint8Array): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, method: "POST", path: `${SERVICE}/${method}`, agent, headers: { "content-type": "application/proto", "content-length": body.byteLength } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** The process's peak resident memory so far, MiB (Linux). */
function peakRssMiB(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (match === null) throw new Error(`no VmHWM for ${pid}`);
  return Number(match[1]) / 1024;
}

t.test("colonies at the field maxima are refused at --max-registry-bytes, long before 512 MiB of RSS", { timeout: 300_000 }, async (t) => {
  const daemon = spawnDaemon(t, ["--port", "0", "--host", "127.0.0.1", "--log-level", "warn"]);
  const port = Number((await daemon.waitForStdout(/listening on :(\d+)/))[1]);
  const pid = daemon.child.pid as number;
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  t.teardown(() => agent.destroy());

  const accepted: number[] = [];
  const refusals = new Map<string, number>();
  let next = 0;
  let refused = false;
  const worker = async () => {
    while (!refused && next < MAX_SENT) {
      const i = next++;
      const answer = await post(agent, port, "RegisterColony", largestColony(i));
      if (answer.status === 200) {
        accepted.push(i);
      } else {
        const error = JSON.parse(answer.body.toString("utf8")) as { code: string; message: string };
        refusals.set(`${answer.status} ${error.code}: ${error.message.replace(/\d+/g, "N")}`, (refusals.get(error.message) ?? 0) + 1);
        refused = true;
      }
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  const peak = peakRssMiB(pid);
  t.comment(`accepted ${accepted.length} colonies of ~${largestColony(0).byteLength} bytes before the first refusal; peak RSS ${peak.toFixed(0)} MiB`);
  t.ok(refused, "the daemon refused a colony before the failure bound");
  const kinds = [...refusals.keys()];
  t.equal(kinds.length, 1, `one kind of refusal: ${kinds.join(" | ")}`);
  t.match(kinds[0], /^429 resource_exhausted: .*--max-registry-bytes/, "resource_exhausted (HTTP 429) naming --max-registry-bytes");
  t.ok(accepted.length > 1000, `thousands accepted first (${accepted.length})`);
  t.ok(peak < RSS_LIMIT_MIB, `peak RSS ${peak.toFixed(0)} MiB < ${RSS_LIMIT_MIB} MiB`);

  // Renewals with the same payload never grow the registry: they pass, even now.
  const sample = [...accepted.slice(0, 50), ...accepted.slice(-50)];
  for (const i of sample) {
    const renewal = await post(agent, port, "RegisterColony", largestColony(i));
    if (renewal.status !== 200) t.fail(`renewal of colony ${i}: HTTP ${renewal.status} ${renewal.body.toString()}`);
  }
  t.pass(`${sample.length} renewals of accepted colonies succeeded at the budget`);
  const again = await post(agent, port, "RegisterColony", largestColony(MAX_SENT + 1));
  t.equal(again.status, 429, "a new colony is still refused");

  const health = await post(agent, port, "Health", new Uint8Array(0));
  t.equal(fromBinary(HealthResponseSchema, health.body).registeredColonies, accepted.length, "Health counts exactly the accepted colonies");
  t.ok(peakRssMiB(pid) < RSS_LIMIT_MIB, "and the peak stays under the limit");
});
