// `--redis-url`: where the shared state store lives. Checked at start-up, so
// a typo stops the daemon with a message instead of retrying a bad address.
import { clip, describe, last, OptionProblem, type Parser } from "./parsers.js";

const RULE = "use redis://[user:password@]host:port[/db] or rediss://... (TLS)";

/** An optional Redis URL: `redis:` or `rediss:`, a host, a port, a database number. */
export function redisUrl(): Parser<string | undefined, string | undefined> {
  const fromString = (text: string): string | undefined => {
    const value = text.trim();
    if (value === "") return undefined;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new OptionProblem(`"${clip(redactUrl(value))}" is not a URL: ${RULE}`);
    }
    if (url.protocol !== "redis:" && url.protocol !== "rediss:") throw new OptionProblem(`"${clip(redactUrl(value))}" is not a Redis URL: ${RULE}`);
    if (url.hostname === "") throw new OptionProblem(`"${clip(redactUrl(value))}" names no host: ${RULE}`);
    const db = url.pathname.replace(/^\//, "");
    if (db !== "" && !/^\d{1,5}$/.test(db)) throw new OptionProblem(`"${clip(redactUrl(value))}": the database "${clip(db)}" is not a number: ${RULE}`);
    return value;
  };
  return {
    fromText: (texts) => fromString(last(texts)),
    fromValue: (value) => {
      if (value !== undefined && typeof value !== "string") throw new OptionProblem(`${describe(value)} must be a Redis URL`);
      return value === undefined ? undefined : fromString(value);
    },
    show: (value) => (value === undefined ? "none" : redactUrl(value)),
  };
}

/** The URL with any password replaced by `***`, for logs and messages. */
export function redactUrl(value: string): string {
  return value.replace(/^(rediss?:\/\/[^:@/]*:)[^@/]*@/i, "$1***@");
}
