// The built daemon (dist/src/main.js) as a child process, for the drills and
// benchmarks under scripts/: started on an ephemeral loopback port, its port
// read from the banner, its output kept, stopped with SIGTERM.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const MAIN_JS = fileURLToPath(new URL("../../dist/src/main.js", import.meta.url));

/** Exits with a hint when the daemon has not been built. */
export function requireBuild() {
  if (existsSync(MAIN_JS)) return;
  process.stderr.write(`${MAIN_JS} is missing: run npm run build first\n`);
  process.exit(1);
}

/**
 * Starts the daemon with `args` after `--port 0 --host 127.0.0.1`, with only
 * PATH and HOME (plus `env`) from this environment. Resolves once it listens.
 * `stop({ echoStderr })` ends it (SIGKILL after 10 s) and may print its stderr.
 */
export async function startDaemon(args = [], env = {}) {
  const child = spawn(process.execPath, [MAIN_JS, "--port", "0", "--host", "127.0.0.1", ...args], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  let lastWriteAt = Date.now();
  child.stdout.setEncoding("utf8").on("data", (c) => {
    out += c;
    lastWriteAt = Date.now();
  });
  child.stderr.setEncoding("utf8").on("data", (c) => {
    err += c;
    lastWriteAt = Date.now();
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner within 10 s; stdout: ${out} stderr: ${err}`)), 10_000);
    child.stdout.on("data", () => {
      const match = /listening on :(\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once("exit", (code) => reject(new Error(`daemon exited (${code}) before listening; stderr: ${err}`)));
  });
  return {
    child,
    pid: child.pid,
    port,
    output: () => ({ stdout: out, stderr: err }),
    /** Resolves once the daemon has written nothing for `ms`. */
    async quiet(ms) {
      while (Date.now() - lastWriteAt < ms) await new Promise((resolve) => setTimeout(resolve, ms - (Date.now() - lastWriteAt)));
    },
    async stop({ echoStderr = false } = {}) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
      if (echoStderr && err.trim() !== "") process.stderr.write(`daemon stderr:\n${err}\n`);
    },
  };
}
