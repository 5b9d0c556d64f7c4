// What a failed Redis call means to a caller, the same for every store in
// Redis: an out-of-reach or busy Redis is RegistryError("unavailable") in an
// operator's words; a reply error that says the script itself is wrong stays
// as it is (the service answers `internal`).
import type { Redis } from "ioredis";
import { RegistryError } from "../registry/errors.js";

/** Reply errors that mean "Redis cannot serve now", not "the script is wrong". */
const TRANSIENT = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN|OOM|NOREPLICAS)\b/;

/** The error to throw for `error`, raised by a call on `client` to the store `describe`d (e.g. "Redis at host:port"). */
export function redisFault(error: unknown, client: Pick<Redis, "status">, describe: string): unknown {
  const message = (error as Error).message;
  if ((error as Error).name === "ReplyError" && !TRANSIENT.test(message)) return error;
  return new RegistryError("unavailable", `${unreachable(describe)}: ${reason(message, client)}; retry shortly`);
}

/** What /readyz says while the store is out of reach. */
export function unreachable(describe: string): string {
  return `the state store (${describe}) is unreachable`;
}

/** ioredis's words for what went wrong, in an operator's. */
function reason(message: string, client: Pick<Redis, "status">): string {
  if (client.status !== "ready") return "not connected (reconnecting)";
  if (/timed out/i.test(message)) return "no answer in time (--redis-timeout)";
  return message;
}
