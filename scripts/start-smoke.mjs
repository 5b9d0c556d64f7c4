// `npm start` as the README says, in a copy of the project, then `kill` of
// npm's own pid (what a supervisor or a user with `kill <pid of npm start>`
// does): the daemon must stop, the port must be free within 10 s, and the
// ready file must be gone. Exit 0 = npm start does not orphan the daemon.
//
//   node scripts/start-smoke.mjs      (offline; uses this checkout's node_modules)
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { spawn } from "node:child_process";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const STOP_BOUND_MS = 10_000;
const START_BOUND_MS = 120_000; // npm start builds first

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function refused(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(true));
  });
}

function running(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const work = mkdtempSync(join(tmpdir(), "coral-start-"));
const project = join(work, "project");
const readyFile = join(work, "ready.json");
let npm;
let daemonPid;
try {
  for (const entry of ["src", "gen", "proto", "package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json"]) {
    cpSync(join(root, entry), join(project, entry), { recursive: true });
  }
  symlinkSync(join(root, "node_modules"), join(project, "node_modules"));

  npm = spawn("npm", ["start", "--", "--port", "0", "--host", "127.0.0.1", "--ready-file", readyFile, "--log-level", "warn"], {
    cwd: project,
    stdio: ["ignore", "ignore", "inherit"],
    detached: true, // its own process group, so that a failure can clean up everything
  });
  const npmExited = new Promise((resolve) => npm.once("exit", (code, signal) => resolve({ code, signal })));
  const startDeadline = Date.now() + START_BOUND_MS;
  while (!existsSync(readyFile)) {
    if (npm.exitCode !== null) throw new Error(`npm start exited with ${npm.exitCode} before listening`);
    if (Date.now() > startDeadline) throw new Error(`no ready file within ${START_BOUND_MS / 1000} s`);
    await sleep(100);
  }
  const ready = JSON.parse(readFileSync(readyFile, "utf8"));
  daemonPid = ready.pid;
  const parent = Number(/^\d+ \(.*\) \S (\d+)/.exec(readFileSync(`/proc/${ready.pid}/stat`, "utf8"))?.[1]);
  console.log(`npm start (pid ${npm.pid}) serves ${ready.url} from node pid ${ready.pid}, whose parent is ${parent === npm.pid ? "npm itself (exec)" : `pid ${parent}`}`);

  const killedAt = Date.now();
  process.kill(npm.pid, "SIGTERM"); // npm's pid only, not its group
  while (!(await refused(ready.port))) {
    if (Date.now() - killedAt > STOP_BOUND_MS) throw new Error(`port ${ready.port} still accepts connections ${STOP_BOUND_MS / 1000} s after kill ${npm.pid}`);
    await sleep(50);
  }
  const freeMs = Date.now() - killedAt;
  const exit = await Promise.race([npmExited, sleep(STOP_BOUND_MS).then(() => undefined)]);
  if (exit === undefined) throw new Error("npm did not exit");
  while (running(ready.pid)) {
    if (Date.now() - killedAt > STOP_BOUND_MS) throw new Error(`the daemon (pid ${ready.pid}) still runs after npm exited`);
    await sleep(50);
  }
  daemonPid = undefined; // gone: nothing to clean up
  if (existsSync(readyFile)) throw new Error("the ready file was left behind");
  console.log(`kill <npm start pid>: port free after ${freeMs} ms, daemon gone, ready file removed (npm exit ${exit.code ?? exit.signal})`);
  console.log("start smoke: ok");
} catch (error) {
  console.error(`start smoke FAILED: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  for (const pid of [npm?.pid === undefined ? undefined : -npm.pid, daemonPid]) {
    if (pid === undefined) continue;
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone, as it should be
    }
  }
  rmSync(work, { recursive: true, force: true });
}
