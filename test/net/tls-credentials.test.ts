import t from "tap";
import { readFileSync } from "node:fs";
import { parseTlsCredentials, readTlsCredentials, summarizeCertificate, TlsCredentialsError } from "../../src/net/tls-credentials.js";
import { makeTestPki } from "../fixtures/tls.js";

const pki = makeTestPki(t);
const read = (path: string) => readFileSync(path, "utf8");
const sources = { cert: "cert.pem", key: "key.pem" };

/** The message of the TlsCredentialsError `fn` throws (fails the test when it throws nothing or something else). */
function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof TlsCredentialsError) return error.message;
    throw error;
  }
  throw new Error("accepted");
}

t.test("a matching pair is accepted, with the leaf's fingerprint, subject, SANs and expiry", async (t) => {
  const credentials = readTlsCredentials({ cert: pki.first.certPath, key: pki.first.keyPath }, read);
  t.equal(credentials.cert, pki.first.cert);
  t.equal(credentials.key, pki.first.key);
  t.equal(credentials.fingerprint256, pki.first.fingerprint256);
  t.equal(credentials.subject, "CN=localhost");
  t.equal(credentials.subjectAltName, "IP Address:127.0.0.1, DNS:localhost");
  t.ok(Date.parse(credentials.validTo) > Date.now(), `validTo ${credentials.validTo} is a future date`);
  t.same(summarizeCertificate(pki.second.cert).fingerprint256, pki.second.fingerprint256, "summarizeCertificate reads a PEM");
});

t.test("a chain (leaf then CA) is accepted and summarized by its leaf", async (t) => {
  const credentials = parseTlsCredentials(pki.first.cert + pki.ca, pki.first.key, sources);
  t.equal(credentials.fingerprint256, pki.first.fingerprint256);
});

t.test("a certificate without SANs (here the CA's own, with its key) has an empty subjectAltName", async (t) => {
  const ca = readTlsCredentials({ cert: pki.caPath, key: `${pki.dir}/ca.key` }, read);
  t.equal(ca.subjectAltName, "");
  t.equal(ca.subject, "CN=coral test CA");
});

t.test("unreadable files are named with the system's code", async (t) => {
  const missing = refusal(() => readTlsCredentials({ cert: "/nowhere/cert.pem", key: pki.first.keyPath }, read));
  t.equal(missing, "cannot read the certificate file /nowhere/cert.pem (ENOENT)");
  const dir = refusal(() => readTlsCredentials({ cert: pki.first.certPath, key: pki.dir }, read));
  t.equal(dir, `cannot read the private key file ${pki.dir} (EISDIR)`);
  const odd = refusal(() => readTlsCredentials(sources, () => { throw "odd"; }));
  t.equal(odd, "cannot read the certificate file cert.pem (odd)", "a throw without a code is shown as is");
});

t.test("files that are not PEM say which one and what PEM block was expected", async (t) => {
  t.match(refusal(() => parseTlsCredentials("not pem", pki.first.key, sources)), /^cert\.pem is not a PEM certificate: no "-----BEGIN CERTIFICATE-----" block/);
  t.match(refusal(() => parseTlsCredentials(pki.first.cert, "not pem", sources)), /^key\.pem is not a PEM private key: no "-----BEGIN PRIVATE KEY-----" block/);
  t.match(refusal(() => parseTlsCredentials(pki.first.key, pki.first.cert, sources)), /^cert\.pem is not a PEM certificate/, "the two swapped: the certificate is checked first");
});

t.test("a PEM block whose content is broken cannot be parsed", async (t) => {
  const broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  t.match(refusal(() => parseTlsCredentials(broken, pki.first.key, sources)), /^cert\.pem: the certificate cannot be parsed \(/);
  const brokenKey = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
  t.match(refusal(() => parseTlsCredentials(pki.first.cert, brokenKey, sources)), /^key\.pem: the private key cannot be read \(.*\); an encrypted key is not supported/);
});

t.test("a key that belongs to another certificate is refused, naming both files and the certificate", async (t) => {
  const message = refusal(() => parseTlsCredentials(pki.first.cert, pki.second.key, sources));
  t.equal(
    message,
    `the private key in key.pem does not belong to the certificate in cert.pem (CN=localhost, SHA-256 ${pki.first.fingerprint256}): give the key the certificate was issued for`,
  );
});

t.test("a matching pair OpenSSL refuses (a 512-bit RSA key) is refused with OpenSSL's reason", async (t) => {
  t.match(refusal(() => parseTlsCredentials(pki.weak.cert, pki.weak.key, sources)), /^cert\.pem and key\.pem: OpenSSL refuses the pair \(.*ee key too small\)/);
  const badChain = `${pki.first.cert}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`;
  t.match(refusal(() => parseTlsCredentials(badChain, pki.first.key, sources)), /OpenSSL refuses the pair/, "a broken certificate later in the chain");
});
