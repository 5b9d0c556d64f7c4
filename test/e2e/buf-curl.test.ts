// End to end with the real `buf curl` binary (from @bufbuild/buf): the
// commands RFD 001 and the README tell operators to run. Without --schema,
// buf curl learns the API from gRPC server reflection over h2c.
import { execFile } from "node:child_process";
import t, { type Test } from "tap";
import { VERSION } from "../../src/version.js";
import { KEY_1, KEY_2 } from "../fixtures/keys.js";
import { ROOT, fromRoot } from "../fixtures/paths.js";
import { startServer } from "../fixtures/server.js";

const BUF = fromRoot("node_modules/.bin/buf");
const SERVICE = "coral.discovery.v1.DiscoveryService";

interface BufResult {
  /** Process exit code; buf curl exits with `connect code × 8` on an RPC error. */
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `buf curl <args>` (no shell) from the repository root, so `--schema proto` resolves. */
function bufCurl(args: string[]): Promise<BufResult> {
  return new Promise((resolve, reject) => {
    execFile(BUF, ["curl", ...args], { cwd: ROOT, timeout: 20_000, encoding: "utf8" }, (error, stdout, stderr) => {
      if (error === null) return resolve({ code: 0, stdout, stderr });
      if (typeof error.code === "number") return resolve({ code: error.code, stdout, stderr });
      reject(new Error(`buf curl ${args.join(" ")} failed to run: ${error.message}\n${stderr}`));
    });
  });
}

/** Parses buf curl's JSON output, failing the test with the raw text when it is not JSON. */
function json(t: Test, result: BufResult): Record<string, unknown> {
  t.equal(result.code, 0, result.stderr === "" ? "buf curl exits 0" : `buf curl exits 0; stderr: ${result.stderr}`);
  try {
    return JSON.parse(result.stdout) as Record<string, unknown>;
  } catch {
    t.fail(`buf curl printed no JSON: ${result.stdout}`);
    return {};
  }
}

const server = await startServer(t);
const rpc = (method: string) => `${server.url}/${SERVICE}/${method}`;
const meshId = "my-app-prod";

t.test("a colony registered with buf curl over Connect on HTTP/1.1 gets its lease", async (t) => {
  const result = await bufCurl([
    "--data",
    JSON.stringify({
      mesh_id: meshId,
      pubkey: KEY_1,
      endpoints: ["203.0.113.42:41820"],
      mesh_ipv4: "10.42.0.1",
      connect_port: 9000,
      metadata: { region: "eu-west" },
    }),
    rpc("RegisterColony"),
  ]);
  const body = json(t, result);
  t.equal(body.success, true);
  t.equal(body.ttl, 300);
  t.ok(Date.parse(String(body.expiresAt)) > Date.now(), "expiresAt lies in the future");
  t.same(body.stunServers, ["stun.cloudflare.com:3478"]);
});

// The rest only read the registered colony (or are refused without changing it): run them side by side.
t.test("with the colony registered", async (group) => {
  group.jobs = 4;

  group.test("RFD 001's gRPC lookup command works through server reflection, without a schema", async (t) => {
    const before = Date.now();
    const result = await bufCurl([
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "--data",
      `{"mesh_id": "${meshId}"}`,
      rpc("LookupColony"),
    ]);
    const body = json(t, result);
    t.equal(body.meshId, meshId);
    t.equal(body.pubkey, KEY_1);
    t.same(body.endpoints, ["203.0.113.42:41820"]);
    t.equal(body.meshIpv4, "10.42.0.1");
    t.equal(body.connectPort, 9000);
    t.same(body.metadata, { region: "eu-west" });
    const lastSeen = Date.parse(String(body.lastSeen));
    t.ok(lastSeen <= before && lastSeen > before - 60_000, "lastSeen is the registration time");
    t.equal(body.observedEndpoints, undefined, "a loopback peer is not an observed endpoint");
  });

  group.test("buf curl --list-services lists the discovery service via reflection", async (t) => {
    const result = await bufCurl(["--list-services", server.url]);
    t.equal(result.code, 0, result.stderr);
    t.ok(result.stdout.split("\n").includes(SERVICE), result.stdout);
  });

  group.test("a lookup over gRPC-Web answers the same colony", async (t) => {
    const body = json(t, await bufCurl(["--protocol", "grpcweb", "--data", `{"meshId": "${meshId}"}`, rpc("LookupColony")]));
    t.equal(body.meshId, meshId);
    t.equal(body.pubkey, KEY_1);
  });

  group.test("looking up an unknown mesh exits with 40 (not_found × 8) and says not found", async (t) => {
    const result = await bufCurl(["--protocol", "grpc", "--data", '{"mesh_id": "no-such-mesh"}', rpc("LookupColony")]);
    t.equal(result.code, 40);
    t.match(result.stderr, /not_found/);
    t.match(result.stderr, /colony no-such-mesh not found/);
    t.equal(result.stdout, "");
  });

  group.test("a split-brain registration exits with 48 (already_exists × 8) and leaves the colony untouched", async (t) => {
    const result = await bufCurl([
      "--data",
      JSON.stringify({ mesh_id: meshId, pubkey: KEY_2, endpoints: ["198.51.100.7:41820"] }),
      rpc("RegisterColony"),
    ]);
    t.equal(result.code, 48);
    t.match(result.stderr, /already_exists/);
    t.match(result.stderr, /already registered/);
    t.match(result.stderr, /split-brain/);
    t.match(result.stderr, new RegExp(meshId));
    t.equal(server.registry.lookupColony(meshId)?.pubkey, KEY_1);
  });

  group.test("with --schema proto buf curl needs no reflection and sees zero values", async (t) => {
    const body = json(
      t,
      await bufCurl([
        "--schema",
        "proto",
        "--reflect=false",
        "--protocol",
        "grpc",
        "--emit-defaults",
        "--data",
        `{"mesh_id": "${meshId}"}`,
        rpc("LookupColony"),
      ]),
    );
    t.equal(body.meshId, meshId);
    t.equal(body.pubkey, KEY_1);
    t.equal(body.nat, "NAT_UNKNOWN");
    t.same(body.observedEndpoints, []);
    t.equal(body.publicPort, 0);
  });

  group.test("Health through --schema proto over Connect reports the registered colony", async (t) => {
    const body = json(t, await bufCurl(["--schema", "proto", "--emit-defaults", "--data", "{}", rpc("Health")]));
    t.equal(body.status, "ok");
    t.equal(body.version, VERSION);
    t.equal(body.registeredColonies, 1);
    t.type(body.uptimeSeconds, "string", "int64 is a JSON string");
  });
});

t.test("with --reflection off, buf curl --list-services fails (unimplemented), and calls work with --schema", async (t) => {
  const bare = await startServer(t, { reflection: false });
  const listed = await bufCurl(["--list-services", bare.url]);
  t.not(listed.code, 0, "buf curl --list-services fails");
  t.match(listed.stderr, /unimplemented/i, listed.stderr);
  const body = json(t, await bufCurl(["--schema", "proto", "--protocol", "grpc", "--http2-prior-knowledge", "--data", "{}", `${bare.url}/${SERVICE}/Health`]));
  t.equal(body.status, "ok", "the RPCs are still served");
});
