import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { readFile, rename, unlink, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import type { FastifyInstance } from "fastify";

export interface Listening {
  /** The port bound (useful with port 0). */
  readonly port: number;
  /** A URL clients on this machine can use: wildcard hosts become 127.0.0.1. */
  readonly url: string;
}

/**
 * Listens on `host:port`. The default dual-stack `::` falls back to
 * `0.0.0.0` on machines without IPv6.
 */
export async function listen(app: FastifyInstance, host: string, port: number): Promise<Listening> {
  let bound = host;
  try {
    try {
      await app.listen({ port, host });
    } catch (error) {
      if (host !== "::" || (error as NodeJS.ErrnoException).code !== "EAFNOSUPPORT") throw error;
      bound = "0.0.0.0";
      await app.listen({ port, host: bound });
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") throw new PortInUseError(port, error as Error);
    throw error;
  }
  const address = app.server.address();
  if (address === null || typeof address === "string") throw new Error("the server has no TCP address");
  const local = bound === "::" || bound === "0.0.0.0" ? "127.0.0.1" : bound;
  const hostPart = isIP(local) === 6 ? `[${local}]` : local;
  // The dual-protocol server says whether it serves TLS.
  const scheme = (app.server as unknown as { secure?: unknown }).secure === true ? "https" : "http";
  return { port: address.port, url: `${scheme}://${hostPart}:${address.port}` };
}

/**
 * Writes `{"url","port","pid"}` to `path` atomically (a temporary file in the
 * same directory, then rename), so a CI step polling for it never reads half.
 */
export async function writeReadyFile(path: string, listening: Listening, pid: number): Promise<void> {
  const temporary = `${path}.${pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify({ url: listening.url, port: listening.port, pid })}\n`, { mode: 0o644 });
  await rename(temporary, path);
}

/**
 * Removes the ready file at graceful exit, if it is still this process's (a
 * newer daemon may have replaced it), so that a later `wait --ready-file`
 * never polls a port nobody listens on. Resolves whether it removed it.
 */
export async function removeReadyFile(path: string, pid: number): Promise<boolean> {
  let owner: unknown;
  try {
    owner = (JSON.parse(await readFile(path, "utf8")) as { pid?: unknown }).pid;
  } catch {
    return false; // gone already, or not ours to judge
  }
  if (owner !== pid) return false;
  await unlink(path).catch(() => undefined);
  return true;
}

/** Thrown by listen() when the port is taken; the message says what to do instead. */
export class PortInUseError extends Error {
  override readonly name = "PortInUseError";
  readonly code = "EADDRINUSE";
  constructor(
    readonly port: number,
    cause: Error,
    /** The process listening there, when the system tells us cheaply (Linux /proc, same user). */
    readonly ownerPid: number | undefined = findListeningPid(port),
  ) {
    const who = ownerPid === undefined ? "another process (another coral-discovery?)" : `process ${ownerPid} (another coral-discovery?)`;
    super(
      `port ${port} is already in use by ${who}. Stop it${ownerPid === undefined ? "" : ` (kill ${ownerPid})`}, ` +
        `choose another port with --port <n> (or PORT), or let the system pick a free one with --port 0 (with --ready-file to learn it)`,
      { cause },
    );
  }
}

/**
 * The pid of a process listening on TCP `port`, from Linux's /proc: the
 * listening socket's inode in /proc/net/tcp{,6}, then the process holding it.
 * Undefined elsewhere, or when the owner is not visible to this user.
 */
export function findListeningPid(port: number, proc = "/proc"): number | undefined {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  for (const table of ["net/tcp", "net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(`${proc}/${table}`, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is HEX_IP:HEX_PORT; state 0A is LISTEN; the inode is the tenth field.
      if (fields[1]?.endsWith(`:${hexPort}`) && fields[3] === "0A" && fields[9] !== undefined && fields[9] !== "0") inodes.add(fields[9]);
    }
  }
  if (inodes.size === 0) return undefined;
  // A proc whose net/tcp was readable is a directory.
  for (const pid of readdirSync(proc).filter((name) => /^\d+$/.test(name))) {
    let fds: string[];
    try {
      fds = readdirSync(`${proc}/${pid}/fd`);
    } catch {
      continue; // gone, or another user's
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`${proc}/${pid}/fd/${fd}`);
      } catch {
        continue; // closed meanwhile
      }
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (match !== null && inodes.has(match[1] as string)) return Number(pid);
    }
  }
  return undefined;
}
