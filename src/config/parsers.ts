// Value parsers for the option table: each turns a flag's or env var's text,
// or a typed value given to startDiscovery(), into the configured value, or
// throws an OptionProblem saying what was wrong and what is allowed. One
// parser per kind of value, so every option of a kind reads and fails alike.
import { parseCidr } from "../net/address.js";
import { parseHostPort } from "../net/host-port.js";

/** What a parser may do besides parsing: read the files named by flags. */
export interface ConfigIo {
  readFile(path: string): string;
}

export interface ParseContext {
  /** Where the value came from, for messages: `--port`, `PORT` or `port` (a typed option). */
  readonly from: string;
  readonly io: ConfigIo;
}

/** A problem with one option's value; the loader prefixes where it came from (`from`, else the option's source). */
export class OptionProblem extends Error {
  override readonly name = "OptionProblem";
  constructor(
    message: string,
    readonly from?: string,
  ) {
    super(message);
  }
}

/**
 * How one kind of value is read. `I` is what startDiscovery() accepts for it
 * (in the unit the option's key names), besides the flag's text.
 */
export interface Parser<T, I> {
  /** From a flag (every occurrence, in order, when the option is repeatable) or from the env var. */
  readonly fromText: (texts: readonly string[], ctx: ParseContext) => T;
  /** From the env var, when it is read differently from the flag (another unit, JSON instead of a path). */
  readonly fromEnv?: (text: string, ctx: ParseContext) => T;
  /** From a typed option of startDiscovery(). */
  readonly fromValue: (value: I, ctx: ParseContext) => T;
  /** The value as a user would write it on the command line, for `--help` and the README. */
  readonly show: (value: T) => string;
}

/** Quotes at most 64 characters of user input in a message. */
export function clip(text: string, max = 64): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

export function last(texts: readonly string[]): string {
  return texts[texts.length - 1] ?? "";
}

/** A typed value as a message quotes it; never throws (a BigInt or a circular object is shown too). */
export function describe(value: unknown): string {
  if (typeof value === "string") return `"${clip(value)}"`;
  if (typeof value === "bigint") return `${value}n`;
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    json = undefined;
  }
  return clip(json ?? String(value));
}

/** An integer in [min, max]. */
export function integer(min: number, max: number): Parser<number, number | string> {
  const check = (value: number, shown: string): number => {
    if (Number.isSafeInteger(value) && value >= min && value <= max) return value;
    throw new OptionProblem(`${shown} must be an integer from ${min} to ${max}`);
  };
  const fromString = (text: string) => check(/^\s*\d+\s*$/.test(text) ? Number(text) : NaN, `"${clip(text)}"`);
  return {
    fromText: (texts) => fromString(last(texts)),
    fromValue: (value) => (typeof value === "string" ? fromString(value) : check(value, describe(value))),
    show: String,
  };
}

/**
 * A duration kept in milliseconds, written in whole seconds on the command
 * line (`min`..`max` seconds); typed values are milliseconds. `envUnit: "ms"`
 * reads the env var in milliseconds (`envMinMs`.. `max` seconds).
 */
export function seconds(min: number, max: number, env?: { unit: "ms"; minMs: number }): Parser<number, number> {
  const secondsParser = integer(min, max);
  const minMs = env?.minMs ?? min * 1000;
  const msParser = integer(minMs, max * 1000);
  return {
    fromText: (texts, ctx) => secondsParser.fromText(texts, ctx) * 1000,
    ...(env === undefined ? {} : { fromEnv: (text: string, ctx: ParseContext) => msParser.fromText([text], ctx) }),
    fromValue: (value) => {
      if (typeof value === "number" && Number.isSafeInteger(value) && value >= minMs && value <= max * 1000) return value;
      throw new OptionProblem(`${describe(value)} must be a whole number of milliseconds from ${minMs} to ${max * 1000}`);
    },
    show: (ms) => (ms % 1000 === 0 ? String(ms / 1000) : `${ms / 1000}`),
  };
}

const TRUE = new Set(["on", "true", "1", "yes"]);
const FALSE = new Set(["off", "false", "0", "no"]);

/** A switch: on/off, true/false, 1/0, yes/no (any case) from text; a boolean from startDiscovery(). */
export function onOff(): Parser<boolean, boolean | string> {
  const fromString = (text: string): boolean => {
    const word = text.trim().toLowerCase();
    if (TRUE.has(word)) return true;
    if (FALSE.has(word)) return false;
    throw new OptionProblem(`"${clip(text)}" must be on or off (also true/false, 1/0, yes/no)`);
  };
  return {
    fromText: (texts) => fromString(last(texts)),
    fromValue: (value) => {
      if (typeof value === "boolean") return value;
      if (typeof value === "string") return fromString(value);
      throw new OptionProblem(`${describe(value)} must be true or false`);
    },
    show: (value) => (value ? "on" : "off"),
  };
}

/** One of a fixed set of words (case-insensitive). */
export function oneOf<const W extends string>(words: readonly W[]): Parser<W, W> {
  const fromString = (text: string): W => {
    const word = text.trim().toLowerCase();
    const match = words.find((w) => w === word);
    if (match !== undefined) return match;
    throw new OptionProblem(`"${clip(text)}" must be one of ${words.join(", ")}`);
  };
  return {
    fromText: (texts) => fromString(last(texts)),
    fromValue: (value) => {
      if (typeof value !== "string") throw new OptionProblem(`${describe(value)} must be one of ${words.join(", ")}`);
      return fromString(value);
    },
    show: String,
  };
}

/** Free text, trimmed; empty text means the default. */
export function text(fallback: string): Parser<string, string> {
  const fromString = (value: string) => value.trim() || fallback;
  return {
    fromText: (texts) => fromString(last(texts)),
    fromValue: (value) => {
      if (typeof value !== "string") throw new OptionProblem(`${describe(value)} must be a string`);
      return fromString(value);
    },
    show: String,
  };
}

/** An optional path: empty text means none. */
export function optionalPath(): Parser<string | undefined, string | undefined> {
  return {
    fromText: (texts) => last(texts).trim() || undefined,
    fromValue: (value) => {
      if (value !== undefined && typeof value !== "string") throw new OptionProblem(`${describe(value)} must be a path`);
      return value?.trim() || undefined;
    },
    show: (value) => value ?? "none",
  };
}

/** Splits a comma-separated list, dropping blanks. */
export function splitList(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

const HOST_PORT_RULE = "host:port (a DNS name, IPv4 or [IPv6], port 1-65535)";

function hostPorts(items: readonly string[]): string[] {
  const problems: string[] = [];
  for (const item of items) {
    if (parseHostPort(item) === undefined) problems.push(`"${clip(item)}" is not ${HOST_PORT_RULE}`);
  }
  if (problems.length > 0) throw new OptionProblem(problems.join("; "));
  return [...items];
}

function stringList(value: unknown): string[] {
  if (typeof value === "string") return splitList(value);
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value.map((v: string) => v.trim()).filter((v) => v !== "");
  throw new OptionProblem(`${describe(value)} must be a list of strings`);
}

/** A comma-separated list of `host:port` (one flag, or an array from startDiscovery()); empty for none. */
export function hostPortList(): Parser<readonly string[], readonly string[] | string> {
  return {
    fromText: (texts) => hostPorts(splitList(last(texts))),
    fromValue: (value) => hostPorts(stringList(value)),
    show: (value) => (value.length === 0 ? "none" : value.join(",")),
  };
}

/** A repeatable flag of `host:port` values (`--relay a --relay b`). */
export function repeatedHostPort(): Parser<readonly string[], readonly string[] | string> {
  return {
    fromText: (texts) => hostPorts(texts.map((t) => t.trim())),
    fromValue: (value) => hostPorts(stringList(value)),
    show: (value) => (value.length === 0 ? "none" : value.join(" ")),
  };
}

const LOOPBACK = ["127.0.0.0/8", "::1/128"] as const;

/**
 * Address ranges: `none`, `loopback`, or CIDRs and addresses, comma-separated
 * (`loopback` may be one of the entries). The value is the CIDR list.
 */
export function addressRanges(): Parser<readonly string[], readonly string[] | string> {
  const parse = (entries: readonly string[]): string[] => {
    if (entries.length === 1 && ["none", "false", ""].includes((entries[0] as string).toLowerCase())) return [];
    const cidrs: string[] = [];
    const problems: string[] = [];
    for (const entry of entries) {
      if (entry.toLowerCase() === "loopback") cidrs.push(...LOOPBACK);
      else if (parseCidr(entry) === undefined) problems.push(`"${clip(entry)}" is not a CIDR or IP address; use none, loopback or CIDR[,CIDR...]`);
      else cidrs.push(entry);
    }
    if (problems.length > 0) throw new OptionProblem(problems.join("; "));
    return cidrs;
  };
  return {
    fromText: (texts) => parse(splitList(last(texts))),
    fromValue: (value) => parse(stringList(value)),
    show: (value) => {
      if (value.length === 0) return "none";
      const text = value.join(",");
      return text === LOOPBACK.join(",") ? "loopback" : text;
    },
  };
}

/** A token bucket rate: `perSecond` sustained, `burst` at once. */
export interface RateSetting {
  readonly perSecond: number;
  readonly burst: number;
}

const RATE_RULE = "must be rate[:burst], e.g. 20:40 (a positive rate per second, a burst of at least 1)";

const UNITS: Record<string, number> = { "": 1, b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

/** A size in bytes, `min`..`max`: a whole number, optionally in KiB, MiB or GiB (`256MiB`). */
export function byteSize(min: number, max: number): Parser<number, number | string> {
  const rule = `must be a size from ${min} to ${max} bytes: a whole number, optionally with KiB, MiB or GiB (e.g. 256MiB)`;
  const fromString = (text: string): number => {
    const match = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(text);
    const unit = UNITS[(match?.[2] ?? "").toLowerCase()];
    const value = match === null || unit === undefined ? NaN : Number(match[1]) * unit;
    if (Number.isSafeInteger(value) && value >= min && value <= max) return value;
    throw new OptionProblem(`"${clip(text)}" ${rule}`);
  };
  return {
    fromText: (texts) => fromString(last(texts)),
    fromValue: (value) => {
      if (typeof value === "string") return fromString(value);
      if (Number.isSafeInteger(value) && value >= min && value <= max) return value;
      throw new OptionProblem(`${describe(value)} ${rule}`);
    },
    show: (value) => {
      for (const [unit, size] of [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const) {
        if (value % size === 0) return `${value / size}${unit}`;
      }
      return String(value);
    },
  };
}

/** `rate[:burst]`, both positive (burst at least 1; default twice the rate). */
export function rate(): Parser<RateSetting, RateSetting | string> {
  const check = (perSecond: number, burst: number, shown: string): RateSetting => {
    if (!(perSecond > 0) || perSecond > 1_000_000 || !Number.isInteger(burst) || !(burst >= 1) || burst > 10_000_000) {
      throw new OptionProblem(`${shown} ${RATE_RULE}`);
    }
    return Object.freeze({ perSecond, burst });
  };
  const fromString = (text: string): RateSetting => {
    const match = /^\s*(\d+(?:\.\d+)?)\s*(?::\s*(\d+)\s*)?$/.exec(text);
    if (match === null) throw new OptionProblem(`"${clip(text)}" ${RATE_RULE}`);
    const perSecond = Number(match[1]);
    const burst = match[2] === undefined ? Math.max(1, Math.ceil(perSecond * 2)) : Number(match[2]);
    return check(perSecond, burst, `"${clip(text)}"`);
  };
  return {
    fromText: (texts) => fromString(last(texts)),
    fromValue: (value) => {
      if (typeof value === "string") return fromString(value);
      if (typeof value === "object" && value !== null) return check(value.perSecond, value.burst, describe(value));
      throw new OptionProblem(`${describe(value)} ${RATE_RULE}`);
    },
    show: (value) => `${value.perSecond}:${value.burst}`,
  };
}

const PER_MINUTE_RULE = "must be rate[:burst], e.g. 5:10 (a positive rate per minute, a burst of at least 1)";

/**
 * `rate[:burst]` per minute (burst default: the rate, at least 1); the value
 * is a per-second RateSetting, as the rate limiters take it.
 */
export function ratePerMinute(): Parser<RateSetting, RateSetting | string> {
  const check = (perMinute: number, burst: number, shown: string): RateSetting => {
    if (!(perMinute > 0) || perMinute > 60_000_000 || !Number.isInteger(burst) || !(burst >= 1) || burst > 10_000_000) {
      throw new OptionProblem(`${shown} ${PER_MINUTE_RULE}`);
    }
    return Object.freeze({ perSecond: perMinute / 60, burst });
  };
  const fromString = (text: string): RateSetting => {
    const match = /^\s*(\d+(?:\.\d+)?)\s*(?::\s*(\d+)\s*)?$/.exec(text);
    if (match === null) throw new OptionProblem(`"${clip(text)}" ${PER_MINUTE_RULE}`);
    const perMinute = Number(match[1]);
    const burst = match[2] === undefined ? Math.max(1, Math.ceil(perMinute)) : Number(match[2]);
    return check(perMinute, burst, `"${clip(text)}"`);
  };
  return {
    fromText: (texts) => fromString(last(texts)),
    fromValue: (value) => {
      if (typeof value === "string") return fromString(value);
      if (typeof value === "object" && value !== null) return check(value.perSecond * 60, value.burst, describe(value));
      throw new OptionProblem(`${describe(value)} ${PER_MINUTE_RULE}`);
    },
    show: (value) => `${Math.round(value.perSecond * 60 * 1000) / 1000}:${value.burst}`,
  };
}

/** A repeatable flag of CIDRs or addresses (`--x 10.0.0.0/8 --x ::1`; each may be a comma list); empty for none. */
export function repeatedCidrs(): Parser<readonly string[], readonly string[] | string> {
  const parse = (entries: readonly string[]): string[] => {
    const problems = entries.filter((entry) => parseCidr(entry) === undefined).map((entry) => `"${clip(entry)}" is not a CIDR or IP address`);
    if (problems.length > 0) throw new OptionProblem(problems.join("; "));
    return [...entries];
  };
  return {
    fromText: (texts) => parse(texts.flatMap(splitList)),
    fromValue: (value) => parse(stringList(value)),
    show: (value) => (value.length === 0 ? "none" : value.join(" ")),
  };
}
