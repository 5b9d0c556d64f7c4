// The built daemon with a certificate, as an operator runs it: the banner,
// a renewal picked up on SIGHUP without dropping an open connection (its call
// in progress finishes), a bad renewal kept out, and bad files at start-up.
import { copyFileSync, writeFileSync } from "node:fs";
import * as http2 from "node:http2";
import * as https from "node:https";
import type * as tls from "node:tls";
import { join } from "node:path";
import t, { type Test } from "tap";
import { KEY_1 } from "../fixtures/keys.js";
import { spawnDaemon, type Daemon } from "../fixtures/spawn.js";
import { makeTestPki } from "../fixtures/tls.js";

t.jobs = 3;
const pki = makeTestPki(t);
const SERVICE = "coral.discovery.v1.DiscoveryService";

/** The fingerprint a new HTTPS connection to `port` is shown. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    https
      .get({ host: "127.0.0.1", port, path: "/health", ca: pki.ca, agent: false }, (res) => {
        const fingerprint = (res.socket as tls.TLSSocket).getPeerCertificate().fingerprint256;
        res.resume().on("end", () => resolve(fingerprint));
      })
      .on("error", reject);
  });
}

/** A daemon serving copies of the first pair, which the test may overwrite in place. */
async function startTlsDaemon(t: Test, extra: string[] = []): Promise<{ daemon: Daemon; port: number; cert: string; key: string }> {
  const cert = join(pki.dir, `live-${t.name.length}-${Math.random().toString(36).slice(2)}.pem`);
  const key = `${cert}.key`;
  copyFileSync(pki.first.certPath, cert);
  copyFileSync(pki.first.keyPath, key);
  const daemon = spawnDaemon(t, ["--port", "0", "--host", "127.0.0.1", "--tls-cert", cert, "--tls-key", key, ...extra]);
  const port = Number((await daemon.waitForStdout(/^gRPC server listening on :(\d+) over TLS \(https:\/\/\)$/m))[1]);
  await daemon.waitForStdout(/serving TLS/);
  return { daemon, port, cert, key };
}

/** JSON log lines on stdout whose msg matches. */
function logs(daemon: Daemon, msg: RegExp): Record<string, unknown>[] {
  return daemon
    .stdout()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => msg.test(String(line.msg)));
}

t.test("the banner and the log say TLS and https://; the log shows the certificate", async (t) => {
  const { daemon, port } = await startTlsDaemon(t);
  t.match(daemon.stdout(), /^Discovery Service v.*\ngRPC server listening on :\d+ over TLS \(https:\/\/\)\nReady to accept registrations\n/);
  t.match(logs(daemon, /^listening$/)[0], { url: `https://127.0.0.1:${port}`, jwks: `https://127.0.0.1:${port}/.well-known/jwks.json` });
  t.match(logs(daemon, /serving TLS/)[0], { fingerprint256: pki.first.fingerprint256, subjectAltName: "IP Address:127.0.0.1, DNS:localhost" });
  t.equal(await servedFingerprint(port), pki.first.fingerprint256);
});

t.test("SIGHUP after a renewal: new connections get the new certificate, an open connection finishes its call", async (t) => {
  const { daemon, port, cert, key } = await startTlsDaemon(t, ["--body-timeout", "60"]);
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca: pki.ca });
  session.on("error", () => {});
  t.teardown(() => session.destroy());
  // A call held open by its client: half of its body now, the rest after the reload.
  const body = JSON.stringify({ mesh_id: "renewed", pubkey: KEY_1, endpoints: ["203.0.113.42:41820"] });
  const call = session.request({ ":method": "POST", ":path": `/${SERVICE}/RegisterColony`, "content-type": "application/json" });
  const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
    let status = 0;
    let text = "";
    call.setEncoding("utf8");
    call.on("response", (headers) => (status = Number(headers[":status"])));
    call.on("data", (chunk: string) => (text += chunk));
    call.on("end", () => resolve({ status, text }));
    call.on("error", reject);
  });
  call.write(body.slice(0, 20));
  await new Promise((resolve) => session.once("remoteSettings", resolve).once("connect", resolve));
  t.equal((session.socket as tls.TLSSocket).getPeerCertificate().fingerprint256, pki.first.fingerprint256);

  writeFileSync(cert, pki.second.cert);
  writeFileSync(key, pki.second.key);
  daemon.child.kill("SIGHUP");
  await daemon.waitForStdout(/TLS certificate reloaded/);
  t.match(logs(daemon, /TLS certificate reloaded/)[0], { level: 30, cert, fingerprint256: pki.second.fingerprint256 });
  t.equal(await servedFingerprint(port), pki.second.fingerprint256, "a new connection sees the second certificate");

  call.end(body.slice(20));
  const { status, text } = await answer;
  t.equal(status, 200, "the open connection's call finished");
  t.match(JSON.parse(text), { success: true });
  t.notOk(session.closed, "and the connection is still open");
  t.equal((session.socket as tls.TLSSocket).getPeerCertificate().fingerprint256, pki.first.fingerprint256, "with its first certificate");
});

t.test("SIGHUP with bad files keeps the certificate in use, logs why, and goes on serving", async (t) => {
  const { daemon, port, key } = await startTlsDaemon(t);
  writeFileSync(key, pki.second.key); // the key of another certificate
  daemon.child.kill("SIGHUP");
  await daemon.waitForStdout(/TLS certificate reload failed/);
  t.match(logs(daemon, /TLS certificate reload failed/)[0], { level: 50, problem: /does not belong to the certificate/ });
  writeFileSync(key, "not a key\n");
  daemon.child.kill("SIGHUP");
  await daemon.waitForStdout(/TLS certificate reload failed[^\n]*not a PEM private key/);
  t.equal(await servedFingerprint(port), pki.first.fingerprint256, "still the first certificate");
  t.equal(daemon.child.exitCode, null, "still running");
});

for (const [name, args, message] of [
  ["a certificate without its key", ["--tls-cert", pki.first.certPath], /--tls-cert \(TLS_CERT_FILE\) is set but --tls-key \(TLS_KEY_FILE\) is not/],
  ["an unreadable file", ["--tls-cert", join(pki.dir, "missing.pem"), "--tls-key", pki.first.keyPath], /cannot read the certificate file .*missing\.pem \(ENOENT\)/],
  ["a file that is not PEM", ["--tls-cert", pki.junkPath, "--tls-key", pki.first.keyPath], /junk\.pem is not a PEM certificate/],
  ["a key of another certificate", ["--tls-cert", pki.first.certPath, "--tls-key", pki.second.keyPath], /does not belong to the certificate/],
] as const) {
  t.test(`start-up with ${name} exits 2 with a message`, async (t) => {
    const daemon = spawnDaemon(t, ["--port", "0", ...args]);
    const { code } = await daemon.exited();
    t.equal(code, 2);
    t.match(daemon.stderr(), /^coral-discovery: invalid configuration:\n  - --tls-/);
    t.match(daemon.stderr(), message);
    t.equal(daemon.stdout(), "", "nothing started");
  });
}

t.test("the environment variables work like the flags", async (t) => {
  const daemon = spawnDaemon(t, ["--port", "0", "--host", "127.0.0.1"], { TLS_CERT_FILE: pki.second.certPath, TLS_KEY_FILE: pki.second.keyPath });
  const port = Number((await daemon.waitForStdout(/listening on :(\d+) over TLS/))[1]);
  t.equal(await servedFingerprint(port), pki.second.fingerprint256);
});
