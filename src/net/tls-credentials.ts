// A TLS certificate chain and its private key, checked the way the server
// will use them: both PEM, the key belongs to the leaf certificate, and
// OpenSSL accepts the pair in a secure context. Used at start-up (a config
// error) and on SIGHUP (a failed reload keeps the old pair).
import { createPrivateKey, X509Certificate } from "node:crypto";
import { createSecureContext } from "node:tls";

/** What an operator wants to see of a server certificate in a log line. */
export interface CertificateSummary {
  /** SHA-256 fingerprint of the leaf certificate (colon-separated hex, as openssl prints it). */
  readonly fingerprint256: string;
  /** The leaf's subject, e.g. `CN=discovery.example.com`. */
  readonly subject: string;
  /** The leaf's subjectAltName, e.g. `DNS:discovery.example.com, IP Address:127.0.0.1`; empty when it has none. */
  readonly subjectAltName: string;
  /** When the leaf expires, as in the certificate (e.g. `Jan  1 00:00:00 2027 GMT`). */
  readonly validTo: string;
}

/** A checked certificate chain and key, with a summary of the leaf certificate. */
export interface TlsCredentials extends CertificateSummary {
  /** The certificate chain, PEM, leaf first. */
  readonly cert: string;
  /** The leaf's private key, PEM, unencrypted. */
  readonly key: string;
}

/** Where the two files come from, as messages should name them (a flag, a path). */
export interface TlsSources {
  readonly cert: string;
  readonly key: string;
}

/** A certificate or key that cannot be used; the message says which file and what is wrong. */
export class TlsCredentialsError extends Error {
  override readonly name = "TlsCredentialsError";
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;
const KEY_BLOCK = /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/;

/** Reads both files with `readFile` (UTF-8 text) and checks them; throws TlsCredentialsError naming the file at fault. */
export function readTlsCredentials(paths: TlsSources, readFile: (path: string) => string): TlsCredentials {
  const read = (path: string, what: string): string => {
    try {
      return readFile(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      throw new TlsCredentialsError(`cannot read the ${what} file ${path} (${code})`);
    }
  };
  return parseTlsCredentials(read(paths.cert, "certificate"), read(paths.key, "private key"), paths);
}

/** Checks a PEM certificate chain and PEM key; `sources` name them in messages. Throws TlsCredentialsError. */
export function parseTlsCredentials(cert: string, key: string, sources: TlsSources): TlsCredentials {
  if (!CERT_BLOCK.test(cert)) {
    throw new TlsCredentialsError(
      `${sources.cert} is not a PEM certificate: no "-----BEGIN CERTIFICATE-----" block found (give the certificate chain in PEM, the server's certificate first)`,
    );
  }
  if (!KEY_BLOCK.test(key)) {
    throw new TlsCredentialsError(
      `${sources.key} is not a PEM private key: no "-----BEGIN PRIVATE KEY-----" block found (PKCS#8, or PKCS#1 "RSA" / SEC1 "EC" keys, in PEM)`,
    );
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (error) {
    throw new TlsCredentialsError(`${sources.cert}: the certificate cannot be parsed (${messageOf(error)})`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new TlsCredentialsError(
      `${sources.key}: the private key cannot be read (${messageOf(error)}); an encrypted key is not supported, decrypt it first (openssl pkey -in key.pem -out plain.pem)`,
    );
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new TlsCredentialsError(
      `the private key in ${sources.key} does not belong to the certificate in ${sources.cert} (${leaf.subject.replaceAll("\n", ", ")}, SHA-256 ${leaf.fingerprint256}): give the key the certificate was issued for`,
    );
  }
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new TlsCredentialsError(`${sources.cert} and ${sources.key}: OpenSSL refuses the pair (${messageOf(error)})`);
  }
  return { cert, key, ...summarize(leaf) };
}

/** The summary of the first certificate of a PEM chain; throws when there is none that parses. */
export function summarizeCertificate(cert: string | Buffer): CertificateSummary {
  return summarize(new X509Certificate(cert));
}

function summarize(leaf: X509Certificate): CertificateSummary {
  return {
    fingerprint256: leaf.fingerprint256,
    subject: leaf.subject.replaceAll("\n", ", "),
    subjectAltName: leaf.subjectAltName ?? "",
    validTo: leaf.validTo,
  };
}

/** Node's crypto and tls throw Errors. */
function messageOf(error: unknown): string {
  return (error as Error).message;
}
