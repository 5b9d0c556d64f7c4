// `coral-discovery wg-key`: a WireGuard key pair as `wg genkey` and `wg pubkey`
// print them (X25519, base64 of 32 bytes), with node:crypto alone, so that
// every example can be pasted on a machine without wireguard-tools.
import { createPrivateKey, createPublicKey, randomBytes } from "node:crypto";
import { parseArgs } from "node:util";

/** DER (PKCS #8) of an X25519 private key, up to its 32 bytes. */
const PKCS8_X25519_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");

export interface WireGuardKeyPair {
  /** Base64 of 32 bytes, clamped as `wg genkey` clamps it. */
  readonly privateKey: string;
  /** Base64 of 32 bytes: what a colony or agent registers as its `pubkey`. */
  readonly publicKey: string;
}

/** A fresh key pair; `random` (default crypto.randomBytes) is injectable for tests. */
export function generateWireGuardKeyPair(random: (size: number) => Buffer = randomBytes): WireGuardKeyPair {
  const secret = Buffer.from(random(32));
  // Curve25519 clamping, as wg genkey does.
  secret[0] = (secret[0] as number) & 248;
  secret[31] = ((secret[31] as number) & 127) | 64;
  const privateKey = secret.toString("base64");
  return { privateKey, publicKey: wireGuardPublicKey(privateKey) };
}

/** The public key of a base64 private key, as `wg pubkey` prints it. */
export function wireGuardPublicKey(privateKey: string): string {
  const secret = Buffer.from(privateKey.trim(), "base64");
  if (secret.length !== 32 || secret.toString("base64") !== privateKey.trim()) {
    throw new RangeError("a WireGuard private key is the base64 of 32 bytes (44 characters ending in =)");
  }
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, secret]), format: "der", type: "pkcs8" });
  const { x } = createPublicKey(key).export({ format: "jwk" });
  return Buffer.from(x as string, "base64url").toString("base64");
}

export const WG_KEY_USAGE = `Usage: coral-discovery wg-key [--public | --json]
  Prints a new WireGuard key pair (X25519, base64), as wg genkey | wg pubkey would:
    (default)   PrivateKey = ... and PublicKey = ... lines (a file of them works as
                register --private-key-file and --service-key-file)
    --public    the public key alone, for PUBKEY="$(coral-discovery wg-key --public)"
    --json      {"privateKey","publicKey"}`;

/** Runs `wg-key <argv>`; returns the exit code (2 for bad arguments). */
export function runWgKey(argv: readonly string[], io: { stdout(text: string): void; stderr(text: string): void }): number {
  let values: { public?: boolean; json?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { public: { type: "boolean" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
      strict: true,
    }));
  } catch (error) {
    io.stderr(`coral-discovery: ${(error as Error).message}\n\n${WG_KEY_USAGE}\n`);
    return 2;
  }
  if (values.help === true) {
    io.stdout(`${WG_KEY_USAGE}\n`);
    return 0;
  }
  const pair = generateWireGuardKeyPair();
  if (values.public === true) io.stdout(`${pair.publicKey}\n`);
  else if (values.json === true) io.stdout(`${JSON.stringify(pair)}\n`);
  else io.stdout(`PrivateKey = ${pair.privateKey}\nPublicKey = ${pair.publicKey}\n`);
  return 0;
}
