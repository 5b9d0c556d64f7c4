// What `coral-discovery wait --ready-file` reads: the file the daemon writes
// once it listens (src/listen.ts writeReadyFile) and removes at a graceful exit.
import { readFile } from "node:fs/promises";

export interface ReadyFile {
  /** Where the daemon listens, e.g. http://127.0.0.1:41234. */
  readonly url: string;
  /** The daemon's process id. */
  readonly pid: number;
}

/** The ready file's contents, or undefined while it does not exist; throws when it is unreadable or malformed. */
export async function readReadyFile(path: string): Promise<ReadyFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const { url, pid } = JSON.parse(text) as { url?: unknown; pid?: unknown };
  if (typeof url !== "string") throw new Error(`${path} has no "url"`);
  if (typeof pid !== "number" || !Number.isSafeInteger(pid) || pid <= 0) throw new Error(`${path} has no "pid"`);
  return { url, pid };
}

/** Whether a process with this id runs (one of another user's counts too). */
export function isRunning(pid: number, kill: (pid: number, signal: 0) => unknown = process.kill): boolean {
  try {
    kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
