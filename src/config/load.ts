import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { buildJwks, KeyConfigError } from "../tokens/index.js";
import { checkTls } from "./tls.js";
import { optionRows, type Config, type ConfigInput, type OptionKey, type OptionSpec } from "./options.js";
import { clip, OptionProblem, type ConfigIo, type ParseContext } from "./parsers.js";
import { didYouMean } from "./suggest.js";

export type Env = Readonly<Record<string, string | undefined>>;

const defaultIo: ConfigIo = { readFile: (path) => readFileSync(path, "utf8") };

/** Thrown by `loadConfig` and `resolveConfig` with every problem found, so a user fixes them in one go. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

/** Where one option's value comes from, as the loader found it. */
type Source =
  | { readonly kind: "flag"; readonly from: string; readonly texts: readonly string[] }
  | { readonly kind: "env"; readonly from: string; readonly text: string }
  | { readonly kind: "value"; readonly from: string; readonly value: unknown };

/**
 * Builds the configuration from command-line flags (`argv`, without node and
 * script) and the environment. Flags win over env. Throws `ConfigError`
 * listing every problem at once.
 */
export function loadConfig(argv: readonly string[], env: Env, io: ConfigIo = defaultIo): Config {
  const problems: string[] = [];
  const flags = parseFlags(argv, problems);
  return build(
    (_key, spec) => {
      const texts = flags.get(spec.flag);
      if (texts !== undefined) return { kind: "flag", from: `--${spec.flag}`, texts };
      return fromEnv(spec, env);
    },
    io,
    problems,
  );
}

export interface ResolveOptions {
  /** Environment variables read for settings not given. Default none. */
  readonly env?: Env;
  /** Settings used when neither `input` nor `env` gives one, before the table's defaults. */
  readonly defaults?: ConfigInput;
  readonly io?: ConfigIo;
}

/**
 * Builds the configuration from typed settings (startDiscovery()), each
 * validated by the same parser as its flag; settings not given are read from
 * `env`, then from `defaults`, then the table's defaults. Throws `ConfigError`
 * listing every problem at once.
 */
export function resolveConfig(input: ConfigInput, options: ResolveOptions = {}): Config {
  const { env = {}, defaults = {}, io = defaultIo } = options;
  const problems: string[] = [];
  const keys = new Set(optionRows().map(([key]) => key as string));
  for (const name of Object.keys(input)) {
    if (!keys.has(name)) problems.push(`unknown option ${JSON.stringify(clip(name))}; the options are ${[...keys].join(", ")}`);
  }
  return build(
    (key, spec) => {
      const value = (input as Record<string, unknown>)[key];
      if (value !== undefined) return { kind: "value", from: key, value };
      const fallback = (defaults as Record<string, unknown>)[key];
      return fromEnv(spec, env) ?? (fallback === undefined ? undefined : { kind: "value", from: key, value: fallback });
    },
    io,
    problems,
  );
}

function fromEnv(spec: OptionSpec<unknown, unknown>, env: Env): Source | undefined {
  if (spec.env === undefined) return undefined;
  const text = env[spec.env];
  return text === undefined ? undefined : { kind: "env", from: spec.env, text };
}

function build(
  pick: (key: OptionKey, spec: OptionSpec<unknown, unknown>) => Source | undefined,
  io: ConfigIo,
  problems: string[],
): Config {
  const values: Record<string, unknown> = {};
  for (const [key, spec] of optionRows()) {
    const source = pick(key, spec);
    values[key] = spec.default;
    if (source === undefined) continue;
    const ctx: ParseContext = { from: source.from, io };
    try {
      if (source.kind === "flag") values[key] = spec.fromText(source.texts, ctx);
      else if (source.kind === "env") values[key] = spec.fromEnv === undefined ? spec.fromText([source.text], ctx) : spec.fromEnv(source.text, ctx);
      else values[key] = spec.fromValue(source.value, ctx);
    } catch (error) {
      if (!(error instanceof OptionProblem)) throw error;
      problems.push(`${error.from ?? source.from}: ${error.message}`);
    }
  }
  const config = values as Config;
  crossCheck(config, problems);
  checkTls(config, io, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}

/** Rules between options. */
function crossCheck(config: Config, problems: string[]): void {
  if (config.requestTimeoutMs < config.headersTimeoutMs) {
    problems.push(
      `--request-timeout (${config.requestTimeoutMs / 1000}s) must be at least --headers-timeout (${config.headersTimeoutMs / 1000}s)`,
    );
  }
  // One request of the largest allowed size must fit in every budget that holds it.
  const largest = config.maxBodyBytes + config.maxHeaderBytes;
  for (const [flag, value] of [
    ["max-buffered-bytes-per-ip", config.maxBufferedBytesPerIp],
    ["max-buffered-bytes", config.maxBufferedBytes],
  ] as const) {
    if (value < largest) {
      problems.push(
        `--${flag} (${value}) must hold at least one request of the largest allowed size: --max-body-bytes + --max-header-bytes = ${largest}`,
      );
    }
  }
  if (config.maxBufferedBytes < config.maxBufferedBytesPerIp) {
    problems.push(`--max-buffered-bytes (${config.maxBufferedBytes}) must be at least --max-buffered-bytes-per-ip (${config.maxBufferedBytesPerIp})`);
  }
  if (config.redisUrl !== undefined && config.signingKey === undefined) {
    problems.push(
      "--redis-url needs --signing-key-file (or DISCOVERY_SIGNING_KEY): every instance must sign bootstrap tokens with the same key, " +
        "so that a token minted by one verifies against the JWKS of all; create one with `coral-discovery keygen`",
    );
  }
  if (config.redisUrl !== undefined && config.stateFile !== undefined) {
    problems.push("--state-file keeps one instance's in-memory registry: with --redis-url the leases already live in Redis; give only one of them");
  }
  if (config.signingKey !== undefined) {
    try {
      buildJwks(config.signingKey, config.previousKeys);
    } catch (error) {
      if (!(error instanceof KeyConfigError)) throw error;
      problems.push(error.message);
    }
  }
}

/** Every occurrence of every known flag, by flag name; unknown flags and stray arguments are problems. */
function parseFlags(argv: readonly string[], problems: string[]): Map<string, string[]> {
  const rows = optionRows().map(([, spec]) => spec);
  const options: Record<string, { type: "string"; multiple: true; short?: string }> = {};
  for (const spec of rows) {
    options[spec.flag] = spec.short === undefined ? { type: "string", multiple: true } : { type: "string", multiple: true, short: spec.short };
  }
  const { values, positionals } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true });
  const known = new Set(rows.map((spec) => spec.flag));
  const flags = new Map<string, string[]>();
  for (const [name, value] of Object.entries(values)) {
    if (!known.has(name)) {
      const given = `${name.length === 1 ? "-" : "--"}${name}`;
      const hint = didYouMean(given, [...known].map((flag) => `--${flag}`).concat("--help", "--version"));
      problems.push(`unknown option ${given}${hint || "; see --help for the options"}`);
      continue;
    }
    const all = Array.isArray(value) ? value : [value];
    if (all.some((v) => typeof v !== "string")) {
      problems.push(`--${name} needs a value`);
      continue;
    }
    flags.set(name, all as string[]);
  }
  for (const positional of positionals) problems.push(`unexpected argument "${clip(positional)}"; see --help`);
  return flags;
}
