// End to end over HTTPS: the daemon with --tls-cert/--tls-key (a CA made for
// the test), spoken to by the clients operators use: connect-node's Connect,
// gRPC and gRPC-Web transports over HTTP/1.1 and HTTP/2 (ALPN), plain
// node:https with Connect JSON, and `buf curl --cacert`.
import { execFile } from "node:child_process";
import * as http2 from "node:http2";
import * as https from "node:https";
import type * as tls from "node:tls";
import { performance } from "node:perf_hooks";
import t from "tap";
import { createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { DiscoveryService } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { KEY_1 } from "../fixtures/keys.js";
import { ROOT, fromRoot } from "../fixtures/paths.js";
import { startServer } from "../fixtures/server.js";
import { makeTestPki } from "../fixtures/tls.js";

const pki = makeTestPki(t);
const server = await startServer(t, { tlsCert: pki.first.certPath, tlsKey: pki.first.keyPath });
const SERVICE = "coral.discovery.v1.DiscoveryService";

t.test("the server's URL is https://", async (t) => {
  t.equal(server.url, `https://127.0.0.1:${server.port}`);
});

const ca = pki.ca;
const transports: Record<string, Transport> = {
  "Connect JSON over HTTPS/1.1": createConnectTransport({ baseUrl: server.url, httpVersion: "1.1", nodeOptions: { ca } }),
  "Connect binary over HTTP/2 (TLS)": createConnectTransport({ baseUrl: server.url, httpVersion: "2", useBinaryFormat: true, nodeOptions: { ca } }),
  "gRPC over HTTP/2 (TLS)": createGrpcTransport({ baseUrl: server.url, nodeOptions: { ca } }),
  "gRPC-Web over HTTPS/1.1": createGrpcWebTransport({ baseUrl: server.url, httpVersion: "1.1", nodeOptions: { ca } }),
  "gRPC-Web over HTTP/2 (TLS)": createGrpcWebTransport({ baseUrl: server.url, httpVersion: "2", nodeOptions: { ca } }),
};

let n = 0;
for (const [name, transport] of Object.entries(transports)) {
  t.test(`${name}: register, look up, health`, async (t) => {
    const client = createClient(DiscoveryService, transport);
    const meshId = `tls-mesh-${++n}`;
    t.equal((await client.registerColony({ meshId, pubkey: KEY_1, endpoints: ["203.0.113.42:41820"] })).success, true);
    t.equal((await client.lookupColony({ meshId })).pubkey, KEY_1);
    t.equal((await client.health({})).status, "ok");
  });
}

t.test("Connect JSON with node:https, trusting the test CA", async (t) => {
  const answer = await new Promise<{ status: number; body: string; cert: tls.PeerCertificate }>((resolve, reject) => {
    const req = https.request(
      `${server.url}/${SERVICE}/Health`,
      { method: "POST", headers: { "content-type": "application/json" }, ca, agent: false },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, cert: (res.socket as tls.TLSSocket).getPeerCertificate() }));
      },
    );
    req.on("error", reject);
    req.end("{}");
  });
  t.equal(answer.status, 200);
  t.match(JSON.parse(answer.body), { status: "ok" });
  t.equal(answer.cert.fingerprint256, pki.first.fingerprint256);
});

t.test("a client that does not trust the CA is refused by its own TLS check", async (t) => {
  const client = createClient(DiscoveryService, createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }));
  await t.rejects(client.health({}), /self[- ]signed|unable to (verify|get local issuer)/i);
});

/** Runs `buf curl <args>` (no shell). */
function bufCurl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(fromRoot("node_modules/.bin/buf"), ["curl", ...args], { cwd: ROOT, timeout: 20_000, encoding: "utf8" }, (error, stdout, stderr) => {
      if (error === null) return resolve({ code: 0, stdout, stderr });
      if (typeof error.code === "number") return resolve({ code: error.code, stdout, stderr });
      reject(error);
    });
  });
}

t.test("buf curl --protocol grpc --cacert ca.pem over HTTPS, through server reflection", async (t) => {
  const result = await bufCurl(["--protocol", "grpc", "--cacert", pki.caPath, `${server.url}/${SERVICE}/Health`]);
  t.equal(result.code, 0, result.stderr);
  t.match(JSON.parse(result.stdout), { status: "ok" });
});

t.test("buf curl over Connect (HTTP/2 via ALPN) and gRPC-Web, to localhost", async (t) => {
  for (const protocol of ["connect", "grpcweb"]) {
    const result = await bufCurl(["--protocol", protocol, "--cacert", pki.caPath, `https://localhost:${server.port}/${SERVICE}/Health`]);
    t.equal(result.code, 0, `${protocol}: ${result.stderr}`);
    t.match(JSON.parse(result.stdout), { status: "ok" }, protocol);
  }
});

t.test("buf curl without the CA fails the handshake", async (t) => {
  const result = await bufCurl(["--protocol", "grpc", "--schema", "proto", `${server.url}/${SERVICE}/Health`]);
  t.not(result.code, 0);
  t.match(result.stderr, /certificate/);
});

// Not asserted (timing depends on the machine): what a fresh TLS connection
// costs, next to a request on an open one. Printed as TAP comments.
t.test("latency of a fresh TLS connection (handshake and first request), for the record", async (t) => {
  const rounds = 30;
  const h1: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    await new Promise<void>((resolve, reject) => {
      https.get(`${server.url}/health`, { ca, agent: false }, (res) => res.resume().on("end", resolve)).on("error", reject);
    });
    h1.push(performance.now() - start);
  }
  const h2: number[] = [];
  const reuse: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    const session = http2.connect(server.url, { ca });
    const get = () =>
      new Promise<void>((resolve, reject) => {
        const req = session.request({ ":path": "/health" });
        req.on("error", reject);
        req.resume().on("end", resolve);
        req.end();
      });
    await get();
    h2.push(performance.now() - start);
    const again = performance.now();
    await get();
    reuse.push(performance.now() - again);
    session.close();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  t.comment(`HTTPS/1.1 new connection + GET /health: median ${median(h1).toFixed(2)} ms over ${rounds}`);
  t.comment(`HTTP/2 over TLS new session + GET /health: median ${median(h2).toFixed(2)} ms; next request on it: ${median(reuse).toFixed(2)} ms`);
  t.equal(h1.length + h2.length, 2 * rounds);
});
