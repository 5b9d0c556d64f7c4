import t from "tap";
import { readFileSync, writeFileSync } from "node:fs";
import { createDualProtocolServerFactory, type DualProtocolServer } from "../../src/server/dual-protocol.js";
import { loadTls, readUtf8, reloadTls, servedCertificate } from "../../src/server/tls-reload.js";
import { OPTIONS } from "../fixtures/dual-server.js";
import { makeTestPki } from "../fixtures/tls.js";

const pki = makeTestPki(t);

interface Line {
  level: "info" | "error";
  fields: Record<string, unknown>;
  message: string;
}

function recordingLog(): { lines: Line[]; info: (fields: object, message: string) => void; error: (fields: object, message: string) => void } {
  const lines: Line[] = [];
  return {
    lines,
    info: (fields, message) => lines.push({ level: "info", fields: fields as Record<string, unknown>, message }),
    error: (fields, message) => lines.push({ level: "error", fields: fields as Record<string, unknown>, message }),
  };
}

/** A dual-protocol server (never listening) serving `pair`, or cleartext. */
function server(pair?: { cert: string; key: string }): DualProtocolServer {
  const factory = createDualProtocolServerFactory(OPTIONS, pair === undefined ? {} : { tls: pair });
  return (factory as unknown as (handler: () => void) => DualProtocolServer)(() => {});
}

t.test("loadTls reads and checks the pair, or gives undefined without paths", async (t) => {
  t.equal(loadTls(undefined, undefined), undefined);
  t.equal(loadTls(pki.first.certPath, undefined), undefined);
  t.equal(loadTls(pki.first.certPath, pki.first.keyPath)?.fingerprint256, pki.first.fingerprint256);
  t.throws(() => loadTls(pki.first.certPath, pki.second.keyPath), { name: "TlsCredentialsError" });
  t.equal(readUtf8(pki.caPath), pki.ca);
});

t.test("servedCertificate summarizes what new connections get; nothing without TLS", async (t) => {
  t.same(servedCertificate(server()), {});
  const secure = server(pki.first);
  t.equal(servedCertificate(secure).fingerprint256, pki.first.fingerprint256);
  t.equal(servedCertificate(secure).subjectAltName, "IP Address:127.0.0.1, DNS:localhost");
});

t.test("a reload with good files serves the new pair and logs its certificate", async (t) => {
  const secure = server(pki.first);
  const paths = { cert: `${pki.dir}/live.pem`, key: `${pki.dir}/live.key` };
  writeFileSync(paths.cert, pki.second.cert);
  writeFileSync(paths.key, pki.second.key);
  const log = recordingLog();
  const next = reloadTls(secure, paths, log);
  t.equal(next?.fingerprint256, pki.second.fingerprint256);
  t.equal(servedCertificate(secure).fingerprint256, pki.second.fingerprint256, "new connections get the second certificate");
  t.same(log.lines.map((line) => [line.level, line.message]), [["info", "TLS certificate reloaded: new connections get the new certificate"]]);
  t.match(log.lines[0]?.fields, { cert: paths.cert, fingerprint256: pki.second.fingerprint256, subject: "CN=localhost" });
});

t.test("a reload with bad files keeps the old pair and logs why, without throwing", async (t) => {
  const secure = server(pki.first);
  for (const [paths, problem] of [
    [{ cert: pki.first.certPath, key: pki.second.keyPath }, /does not belong to the certificate/],
    [{ cert: pki.junkPath, key: pki.first.keyPath }, /is not a PEM certificate/],
    [{ cert: `${pki.dir}/gone.pem`, key: pki.first.keyPath }, /cannot read the certificate file .*gone\.pem \(ENOENT\)/],
  ] as const) {
    const log = recordingLog();
    t.equal(reloadTls(secure, paths, log), undefined);
    t.equal(log.lines.length, 1);
    t.equal(log.lines[0]?.level, "error");
    t.match(log.lines[0]?.message, /^TLS certificate reload failed, still serving the previous certificate: /);
    t.match(log.lines[0]?.fields, { cert: paths.cert, key: paths.key, problem });
  }
  t.equal(servedCertificate(secure).fingerprint256, pki.first.fingerprint256, "still the first certificate");
});

t.test("a server that refuses the pair (one without TLS) is logged too", async (t) => {
  const log = recordingLog();
  t.equal(reloadTls(server(), { cert: pki.first.certPath, key: pki.first.keyPath }, log, (path) => readFileSync(path, "utf8")), undefined);
  t.match(log.lines[0]?.fields, { problem: "the server refused the pair (this server was created without TLS: there is no certificate to replace)" });
});
