// Parsers for the token keys: a flag names a file, the env var holds the JSON
// itself, startDiscovery() takes the JSON text or the object.
import {
  KeyConfigError,
  parsePreviousKeys,
  parseSigningKey,
  type PublicKeyEntry,
  type SigningKey,
} from "../tokens/index.js";
import { describe, OptionProblem, type ParseContext, type Parser } from "./parsers.js";

function keyParser<T>(
  parse: (json: string, source: string) => T,
  empty: T,
  show: (value: T) => string,
): Parser<T, string | object> {
  const fromJson = (json: string, source: string): T => {
    try {
      return parse(json, source);
    } catch (error) {
      if (!(error instanceof KeyConfigError)) throw error;
      throw new OptionProblem(error.problem, error.source);
    }
  };
  const fromFile = (path: string, ctx: ParseContext): T => {
    let json: string;
    try {
      json = ctx.io.readFile(path);
    } catch (error) {
      throw new OptionProblem(`cannot read the key file (${(error as NodeJS.ErrnoException).code ?? String(error)})`, path);
    }
    return fromJson(json, path);
  };
  return {
    fromText: (texts, ctx) => fromFile(texts[texts.length - 1] ?? "", ctx),
    // An empty variable (`DISCOVERY_SIGNING_KEY=` in a compose file) is no key.
    fromEnv: (json, ctx) => (json.trim() === "" ? empty : fromJson(json, ctx.from)),
    fromValue: (value, ctx) => {
      if (typeof value === "string") return fromJson(value, ctx.from);
      if (typeof value !== "object" || value === null) {
        throw new OptionProblem(`${describe(value)} must be the key's JSON text or a plain object`);
      }
      let json: string;
      try {
        json = JSON.stringify(value);
      } catch {
        throw new OptionProblem("is an object that cannot be written as JSON (a circular reference?); give the key's JSON text or a plain object");
      }
      return fromJson(json, ctx.from);
    },
    show,
  };
}

/** `{"id","privateKey"}`: from `--signing-key-file`, `DISCOVERY_SIGNING_KEY` (the JSON) or startDiscovery({ signingKey }). */
export function signingKey(): Parser<SigningKey | undefined, string | object> {
  return keyParser<SigningKey | undefined>(parseSigningKey, undefined, (key) => (key === undefined ? "a fresh key per process" : key.kid));
}

/** A JSON array of earlier keys (public part enough), published in the JWKS and never used to sign. */
export function previousKeys(): Parser<readonly PublicKeyEntry[], string | object> {
  return keyParser<readonly PublicKeyEntry[]>(parsePreviousKeys, [], (keys) => (keys.length === 0 ? "none" : keys.map((k) => k.kid).join(",")));
}
