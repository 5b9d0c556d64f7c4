import { optionHelpLines } from "../config/index.js";

/** `coral-discovery --help` for the daemon itself, with every option of the table. */
export function serveUsage(): string {
  return [
    "Usage: coral-discovery [serve] [options]",
    "       coral-discovery keygen      print a new signing key in the DISCOVERY_SIGNING_KEY format",
    "       coral-discovery wg-key      print a new WireGuard key pair (--public: the public key alone)",
    "       coral-discovery help | version",
    "",
    "Discovery service for Coral meshes: colonies register, agents look them up.",
    "Serves Connect (JSON, binary), gRPC and gRPC-Web over HTTP/1.1 and h2c on one port.",
    "",
    "Options:",
    ...optionHelpLines(),
    `${"  -v, --version".padEnd(34)}print the version and exit`,
    `${"  -h, --help".padEnd(34)}print this help and exit`,
    "",
    "Flags win over environment variables.",
  ].join("\n");
}
