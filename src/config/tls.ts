// The rule between --tls-cert and --tls-key: both or neither, and when both,
// a pair the server can really use (read and checked as at start-up).
import { readTlsCredentials, type TlsCredentialsError } from "../net/tls-credentials.js";
import type { Config } from "./options.js";
import type { ConfigIo } from "./parsers.js";

/** Adds to `problems` what is wrong with the TLS settings of `config`, reading the files with `io`. */
export function checkTls(config: Config, io: ConfigIo, problems: string[]): void {
  const { tlsCert, tlsKey } = config;
  if (tlsCert === undefined && tlsKey === undefined) return;
  if (tlsCert === undefined || tlsKey === undefined) {
    const [given, missing] = tlsCert === undefined ? ["--tls-key (TLS_KEY_FILE)", "--tls-cert (TLS_CERT_FILE)"] : ["--tls-cert (TLS_CERT_FILE)", "--tls-key (TLS_KEY_FILE)"];
    problems.push(`${given} is set but ${missing} is not: TLS needs both the certificate chain and its private key (or neither, for cleartext)`);
    return;
  }
  try {
    readTlsCredentials({ cert: tlsCert, key: tlsKey }, io.readFile);
  } catch (error) {
    // It throws TlsCredentialsError only: a read failure of any kind is one too.
    problems.push(`--tls-cert/--tls-key: ${(error as TlsCredentialsError).message}`);
  }
}
