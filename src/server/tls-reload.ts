// Loading the configured certificate at start-up and re-reading it on
// SIGHUP (main traps the signal): a renewed certificate (certbot, cert-manager)
// is picked up for new connections without a restart and without dropping
// open ones. A reload that fails keeps the certificate in use.
import { readFileSync } from "node:fs";
import {
  readTlsCredentials,
  summarizeCertificate,
  TlsCredentialsError,
  type CertificateSummary,
  type TlsCredentials,
  type TlsSources,
} from "../net/tls-credentials.js";
import type { DualProtocolServer } from "./dual-protocol.js";

/** The two files, by path. */
export type TlsPaths = TlsSources;

/** Where the reload reports: Fastify's logger fits. */
export interface ReloadLog {
  info(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** Reads a file as UTF-8 text (PEM). */
export const readUtf8 = (path: string): string => readFileSync(path, "utf8");

/** The pair to serve, read and checked, or undefined when TLS is off (no paths). Throws TlsCredentialsError. */
export function loadTls(cert: string | undefined, key: string | undefined, readFile = readUtf8): TlsCredentials | undefined {
  return cert === undefined || key === undefined ? undefined : readTlsCredentials({ cert, key }, readFile);
}

/**
 * What the server serves to new connections, for a log line (the leaf's
 * fingerprint, subject, SANs and expiry); empty without TLS.
 */
export function servedCertificate(server: unknown): Partial<CertificateSummary> {
  const pair = (server as DualProtocolServer).servedPair();
  return pair === undefined ? {} : summarizeCertificate(pair.cert);
}

/**
 * Re-reads both files and gives the server the new pair for connections
 * accepted from now on. Logs the new certificate, or the error and that the
 * old one stays; never throws for bad files. Returns the new credentials, or
 * undefined when it kept the old ones.
 */
export function reloadTls(
  server: unknown,
  paths: TlsPaths,
  log: ReloadLog,
  readFile = readUtf8,
): TlsCredentials | undefined {
  let next: TlsCredentials;
  try {
    next = readTlsCredentials(paths, readFile);
    (server as Pick<DualProtocolServer, "setSecureContext">).setSecureContext(next);
  } catch (error) {
    const problem = error instanceof TlsCredentialsError ? error.message : `the server refused the pair (${(error as Error).message})`;
    log.error({ cert: paths.cert, key: paths.key, problem }, `TLS certificate reload failed, still serving the previous certificate: ${problem}`);
    return undefined;
  }
  const { fingerprint256, subject, subjectAltName, validTo } = next;
  log.info({ cert: paths.cert, fingerprint256, subject, subjectAltName, validTo }, "TLS certificate reloaded: new connections get the new certificate");
  return next;
}
