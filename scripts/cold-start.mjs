// Cold start to the first healthy GET /health, as a user starts the daemon:
// spawns COMMAND with `--port 0 --host 127.0.0.1 --ready-file <tmp> --log-level warn`
// appended, polls the ready file and then /health every 5 ms, and records the
// milliseconds from spawn to the first 200; then stops it (SIGTERM to its
// process group) and waits for it. Prints min, median and max over the runs.
//
//   node scripts/cold-start.mjs [-n 10] -- node dist/src/main.js
//   node scripts/cold-start.mjs -- npx --no-install coral-discovery     (in a project that has it installed)
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const args = process.argv.slice(2);
const dash = args.indexOf("--");
const runs = args[0] === "-n" ? Number(args[1]) : 10;
const command = dash === -1 ? [] : args.slice(dash + 1);
if (command.length === 0 || !(runs >= 1)) {
  console.error("usage: node scripts/cold-start.mjs [-n RUNS] -- COMMAND [ARG ...]");
  process.exit(2);
}
const BOUND_MS = 60_000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function once() {
  const dir = mkdtempSync(join(tmpdir(), "coral-cold-"));
  const readyFile = join(dir, "ready.json");
  const started = performance.now();
  const child = spawn(command[0], [...command.slice(1), "--port", "0", "--host", "127.0.0.1", "--ready-file", readyFile, "--log-level", "warn"], {
    stdio: "ignore",
    detached: true,
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    for (;;) {
      if (performance.now() - started > BOUND_MS) throw new Error(`not healthy within ${BOUND_MS} ms`);
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited with ${child.exitCode ?? child.signalCode}`);
      if (existsSync(readyFile)) {
        const { url } = JSON.parse(readFileSync(readyFile, "utf8"));
        const res = await fetch(`${url}/health`).catch(() => undefined);
        if (res?.status === 200) {
          await res.arrayBuffer();
          return performance.now() - started;
        }
      }
      await sleep(5);
    }
  } finally {
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      // gone
    }
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

await once(); // warm-up: file system caches, npx's own caches
const times = [];
for (let i = 0; i < runs; i++) times.push(await once());
times.sort((a, b) => a - b);
const median = times.length % 2 === 1 ? times[(times.length - 1) / 2] : (times[times.length / 2 - 1] + times[times.length / 2]) / 2;
console.log(`${command.join(" ")}: start to first healthy /health over ${runs} runs: min ${times[0].toFixed(0)} ms, median ${median.toFixed(0)} ms, max ${times.at(-1).toFixed(0)} ms`);
