// The admin token's parser: `--admin-token-file` names a file holding it,
// `ADMIN_TOKEN` holds the token itself, startDiscovery() takes it as text.
// Never shown: help and messages say only whether one is set and how long it is.
import { describe, OptionProblem, type ParseContext, type Parser } from "./parsers.js";

/** Shortest admin token accepted, characters. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

const HOW = `an admin token must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters; make one with: openssl rand -hex 32`;

function token(text: string, from: string): string {
  const trimmed = text.trim();
  if (trimmed === "") throw new OptionProblem(`is empty: ${HOW}`, from);
  if (trimmed.length < MIN_ADMIN_TOKEN_LENGTH) throw new OptionProblem(`is only ${trimmed.length} characters long: ${HOW}`, from);
  return trimmed;
}

function fromFile(path: string, ctx: ParseContext): string {
  const from = `${ctx.from} ${path}`;
  let content: string;
  try {
    content = ctx.io.readFile(path);
  } catch (error) {
    throw new OptionProblem(`cannot read the admin token file (${(error as NodeJS.ErrnoException).code ?? String(error)})`, from);
  }
  return token(content, from);
}

/** The admin token, trimmed; undefined (the default) leaves the admin service disabled. */
export function adminToken(): Parser<string | undefined, string> {
  return {
    fromText: (texts, ctx) => fromFile(texts[texts.length - 1] as string, ctx),
    fromEnv: (text, ctx) => token(text, ctx.from),
    fromValue: (value, ctx) => {
      if (typeof value !== "string") throw new OptionProblem(`${describe(value)} must be the admin token as a string`);
      return token(value, ctx.from);
    },
    show: (value) => (value === undefined ? "none (admin service disabled)" : "set (not shown)"),
  };
}
