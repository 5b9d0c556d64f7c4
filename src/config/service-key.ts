// The registration-proof service key's parser: `--service-key-file` names a
// file holding it, `DISCOVERY_SERVICE_KEY` holds the key itself,
// startDiscovery() takes it as text. A WireGuard-format X25519 private key
// (base64 of 32 bytes; a file may hold a `PrivateKey = ...` line). Never
// shown: help and messages say only whether one is set.
import { readWireGuardPrivateKey } from "../tokens/index.js";
import { describe, OptionProblem, type ParseContext, type Parser } from "./parsers.js";

function key(text: string, from: string): Uint8Array {
  const read = readWireGuardPrivateKey(text);
  if (!read.ok) throw new OptionProblem(read.problem, from);
  return read.bytes;
}

function fromFile(path: string, ctx: ParseContext): Uint8Array {
  const from = `${ctx.from} ${path}`;
  let content: string;
  try {
    content = ctx.io.readFile(path);
  } catch (error) {
    throw new OptionProblem(`cannot read the service key file (${(error as NodeJS.ErrnoException).code ?? String(error)})`, from);
  }
  return key(content, from);
}

/** The service's X25519 private key (raw 32 bytes); undefined (the default): derived from the signing key. */
export function serviceKey(): Parser<Uint8Array | undefined, string> {
  return {
    fromText: (texts, ctx) => fromFile(texts[texts.length - 1] as string, ctx),
    // An empty variable (`DISCOVERY_SERVICE_KEY=` in a compose file) is no key.
    fromEnv: (text, ctx) => (text.trim() === "" ? undefined : key(text, ctx.from)),
    fromValue: (value, ctx) => {
      if (typeof value !== "string") throw new OptionProblem(`${describe(value)} must be the key's base64 text`);
      return key(value, ctx.from);
    },
    show: (value) => (value === undefined ? "derived from the signing key" : "set (not shown)"),
  };
}
