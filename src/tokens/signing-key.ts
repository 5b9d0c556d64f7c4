import { randomBytes as nodeRandomBytes } from "node:crypto";
import { decodeBase64, encodeBase64 } from "./base64.js";
import { bytesEqual, derivePublicKey, isUsablePublicKey } from "./ed25519.js";
import { generateKid, type KidSource } from "./kid.js";

/** The key tokens are signed with. Never log it: `seed` is the secret. */
export interface SigningKey {
  /** Key id, sent as the JWT header `kid` and the JWKS `kid`. */
  readonly kid: string;
  /** 32-byte RFC 8032 Ed25519 seed (the secret key). */
  readonly seed: Uint8Array;
  /** 32-byte Ed25519 public key derived from `seed`. */
  readonly publicKey: Uint8Array;
}

/** A verification-only key: published in the JWKS, never used to sign. */
export interface PublicKeyEntry {
  readonly kid: string;
  /** 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
}

/**
 * A signing-key setting is unusable. The message starts with `source` (the env var or file it came
 * from) and says what is wrong and what is allowed; it never contains key material.
 */
export class KeyConfigError extends Error {
  override readonly name = "KeyConfigError";
  /** Stable code for callers that map errors. */
  readonly code = "KEY_CONFIG_INVALID";
  /** Where the bad value came from, e.g. `DISCOVERY_SIGNING_KEY` or a file path. */
  readonly source: string;
  /** The message without the `source:` prefix. */
  readonly problem: string;

  constructor(source: string, problem: string) {
    super(`${source}: ${problem}`);
    this.source = source;
    this.problem = problem;
  }
}

const SIGNING_KEY_SHAPE = `{"id": "<key id>", "privateKey": "<base64 of the 32-byte seed, or of 64 bytes: seed then public key>"}`;
const PRIVATE_KEY_RULE = "base64 or base64url (padded or not) of the 32-byte Ed25519 seed, or of 64 bytes: the seed followed by its public key";

/** Parses `{"id", "privateKey"}` (the `DISCOVERY_SIGNING_KEY` format); throws `KeyConfigError`. */
export function parseSigningKey(json: string, source: string): SigningKey {
  const value = parseJson(json, source, SIGNING_KEY_SHAPE);
  if (!isPlainObject(value)) {
    throw new KeyConfigError(source, `must be a JSON object like ${SIGNING_KEY_SHAPE}, got ${describe(value)}`);
  }
  const kid = readKid(value, "", source);
  if (value.privateKey === undefined) {
    throw new KeyConfigError(source, `is missing "privateKey": give ${PRIVATE_KEY_RULE}`);
  }
  const { seed, publicKey } = readPrivateKey(value.privateKey, "privateKey", source);
  return { kid, seed, publicKey };
}

/**
 * Parses a JSON array of `{"id", "publicKey"}` or `{"id", "privateKey"}` entries: retired keys whose
 * tokens may still be in flight. Only their public keys are kept. Throws `KeyConfigError`.
 */
export function parsePreviousKeys(json: string, source: string): PublicKeyEntry[] {
  const shape = `[{"id": "<key id>", "publicKey": "<base64 of 32 bytes>"} or {"id": ..., "privateKey": ...}, ...]`;
  const value = parseJson(json, source, shape);
  if (!Array.isArray(value)) {
    throw new KeyConfigError(source, `must be a JSON array like ${shape}, got ${describe(value)}`);
  }
  const entries: PublicKeyEntry[] = [];
  const seen = new Map<string, number>();
  value.forEach((item: unknown, index) => {
    const at = `[${index}]`;
    if (!isPlainObject(item)) {
      throw new KeyConfigError(source, `${at} must be an object with "id" and one of "publicKey" or "privateKey", got ${describe(item)}`);
    }
    const kid = readKid(item, at, source);
    const first = seen.get(kid);
    if (first !== undefined) {
      throw new KeyConfigError(source, `${at}.id ${JSON.stringify(kid)} is already used by [${first}]; key ids must be unique`);
    }
    seen.set(kid, index);
    const hasPublic = item.publicKey !== undefined;
    const hasPrivate = item.privateKey !== undefined;
    if (hasPublic === hasPrivate) {
      throw new KeyConfigError(
        source,
        `${at} has ${hasPublic ? "both" : "neither"} "publicKey" ${hasPublic ? "and" : "nor"} "privateKey"; give exactly one`,
      );
    }
    const publicKey = hasPublic
      ? readPublicKey(item.publicKey, `${at}.publicKey`, source)
      : readPrivateKey(item.privateKey, `${at}.privateKey`, source).publicKey;
    entries.push({ kid, publicKey });
  });
  return entries;
}

/** Options for `generateSigningKey`; time and randomness default to the real ones. */
export interface GenerateSigningKeyOptions extends KidSource {
  /** Key id. Default: a fresh ULID-style id from `now` and `randomBytes` (see `generateKid`). */
  kid?: string;
}

/** A fresh random key (used at start-up when no key is configured, and by `keygen`). */
export function generateSigningKey(options: GenerateSigningKeyOptions = {}): SigningKey {
  const kid = options.kid ?? generateKid(options);
  if (kid.trim() === "") {
    throw new RangeError("kid must be a non-empty string");
  }
  const seed = Uint8Array.from((options.randomBytes ?? nodeRandomBytes)(32));
  if (seed.length !== 32) {
    throw new RangeError(`randomBytes(32) returned ${seed.length} bytes`);
  }
  return { kid, seed, publicKey: derivePublicKey(seed) };
}

/** `{"id":...,"privateKey":"<base64 of seed + public key>"}`, the form `parseSigningKey` reads. */
export function formatSigningKey(key: SigningKey): string {
  const both = new Uint8Array(64);
  both.set(key.seed, 0);
  both.set(key.publicKey, 32);
  return JSON.stringify({ id: key.kid, privateKey: encodeBase64(both) });
}

function parseJson(json: string, source: string, shape: string): unknown {
  if (json.trim() === "") {
    throw new KeyConfigError(source, `is empty; expected JSON like ${shape}`);
  }
  try {
    return JSON.parse(json) as unknown;
  } catch (err) {
    // V8's message quotes the input, which may hold a private key: keep only the position.
    const position = /position (\d+)/.exec(err instanceof Error ? err.message : "")?.[1];
    const where = position === undefined ? "" : ` (at character ${position})`;
    const hint = decodeBase64(json.trim()).ok ? " (it looks like a bare base64 key: wrap it in the JSON object)" : "";
    throw new KeyConfigError(source, `is not valid JSON${where}${hint}; expected JSON like ${shape}`);
  }
}

function readKid(object: Record<string, unknown>, at: string, source: string): string {
  const field = at === "" ? "id" : `${at}.id`;
  const id = object.id;
  if (id === undefined) {
    throw new KeyConfigError(source, `is missing "${field}": give the key id as a non-empty string (e.g. a ULID)`);
  }
  if (typeof id !== "string") {
    throw new KeyConfigError(source, `${field} must be a non-empty string, got ${describe(id)}`);
  }
  if (id.trim() === "") {
    const what = id === "" ? "is empty" : "is only whitespace";
    throw new KeyConfigError(source, `${field} ${what}; give the key id as a non-empty string (e.g. a ULID)`);
  }
  return id;
}

function readPrivateKey(value: unknown, field: string, source: string): { seed: Uint8Array; publicKey: Uint8Array } {
  const bytes = readBytes(value, field, source, PRIVATE_KEY_RULE);
  if (bytes.length !== 32 && bytes.length !== 64) {
    throw new KeyConfigError(
      source,
      `${field} decodes to ${bytes.length} bytes; expected 32 (the Ed25519 seed) or 64 (the seed followed by its public key)`,
    );
  }
  const seed = bytes.slice(0, 32);
  const publicKey = derivePublicKey(seed);
  if (bytes.length === 64 && !bytesEqual(bytes.subarray(32), publicKey)) {
    throw new KeyConfigError(
      source,
      `${field} is 64 bytes but its public half does not match the seed: the last 32 bytes must be the public key derived from the first 32 (or give only the 32-byte seed)`,
    );
  }
  return { seed, publicKey };
}

function readPublicKey(value: unknown, field: string, source: string): Uint8Array {
  const bytes = readBytes(value, field, source, "base64 or base64url (padded or not) of the 32-byte Ed25519 public key");
  if (bytes.length !== 32) {
    throw new KeyConfigError(source, `${field} decodes to ${bytes.length} bytes; expected 32 (an Ed25519 public key)`);
  }
  if (!isUsablePublicKey(bytes)) {
    throw new KeyConfigError(source, `${field} is not a valid Ed25519 public key (not a canonical curve point, or of small order)`);
  }
  return bytes;
}

function readBytes(value: unknown, field: string, source: string, rule: string): Uint8Array {
  if (typeof value !== "string") {
    throw new KeyConfigError(source, `${field} must be a string: ${rule}; got ${describe(value)}`);
  }
  const decoded = decodeBase64(value);
  if (!decoded.ok) {
    throw new KeyConfigError(source, `${field} ${decoded.problem}; expected ${rule}`);
  }
  return decoded.bytes;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Names a JSON value's type for messages. Strings are never quoted: they may be keys. */
function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return "a string";
  if (typeof value === "number" || typeof value === "boolean") return `${typeof value} ${String(value)}`;
  return `an ${typeof value}`;
}
