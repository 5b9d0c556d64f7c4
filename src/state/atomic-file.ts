// Replacing a file so that a crash at any moment leaves either the old file or
// the new one, never a mix: write a temporary file beside it, fsync it, rename
// it over the target, fsync the directory (so the rename itself survives a
// power cut).
import { open, rename as fsRename, unlink } from "node:fs/promises";
import { dirname } from "node:path";

export interface AtomicWriteOptions {
  /** Permission bits of the file. Default 0o600: only the owner reads it. */
  readonly mode?: number;
  /** Injected for tests (a rename that fails). Default `fs.promises.rename`. */
  readonly rename?: (from: string, to: string) => Promise<void>;
}

/** The temporary file `writeFileAtomically(path)` writes first. A left-over one (a crash mid-write) is overwritten by the next write. */
export function temporaryPath(path: string): string {
  return `${path}.tmp`;
}

/**
 * Writes the chunks to `path`, replacing it atomically; resolves with the
 * bytes written. Each chunk is written (and awaited) before the next is
 * asked for, so a producer that builds them lazily never holds the whole file
 * in memory and the event loop runs between chunks. On any failure the
 * temporary file is removed, the target is untouched and the error is thrown.
 */
export async function writeFileAtomically(path: string, chunks: Iterable<string> | AsyncIterable<string>, options: AtomicWriteOptions = {}): Promise<number> {
  const temporary = temporaryPath(path);
  const file = await open(temporary, "w", options.mode ?? 0o600);
  let bytes = 0;
  try {
    // open()'s mode applies only to a file it creates: a left-over temporary file keeps its own.
    await file.chmod(options.mode ?? 0o600);
    for await (const chunk of chunks) {
      const buffer = Buffer.from(chunk, "utf8");
      await file.write(buffer, 0, buffer.length);
      bytes += buffer.length;
    }
    await file.sync();
    await file.close();
    await (options.rename ?? fsRename)(temporary, path);
  } catch (error) {
    await file.close().catch(() => {}); // already closed when the rename failed
    await unlink(temporary).catch(() => {});
    throw error;
  }
  await syncDirectory(dirname(path));
  return bytes;
}

/**
 * Makes a rename in `dir` durable. Windows cannot fsync a directory (and
 * renames are journalled there): skipped. Elsewhere a failure is one of the
 * write: the new file is in place, but a power cut could still undo it.
 */
async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === "win32") return;
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
