import { rename, writeFile } from "node:fs/promises";
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
    await app.listen({ port, host });
  } catch (error) {
    if (host !== "::" || (error as NodeJS.ErrnoException).code !== "EAFNOSUPPORT") throw error;
    bound = "0.0.0.0";
    await app.listen({ port, host: bound });
  }
  const address = app.server.address();
  if (address === null || typeof address === "string") throw new Error("the server has no TCP address");
  const local = bound === "::" || bound === "0.0.0.0" ? "127.0.0.1" : bound;
  const hostPart = isIP(local) === 6 ? `[${local}]` : local;
  return { port: address.port, url: `http://${hostPart}:${address.port}` };
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
