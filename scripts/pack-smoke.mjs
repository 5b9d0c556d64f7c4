// Packs the npm tarball, installs it into an empty directory with production
// dependencies only (with --engine-strict: no dependency may want a newer
// Node than ours), starts `npx coral-discovery --port 0 --ready-file ...`,
// and drives it with the packed client library and CLI: what an
// `npx coral-discovery` user gets. Then kills npx's own pid (not its group)
// and expects the daemon to be gone and the port free within 10 s. Prints the
// installed size. Exit 0 = works.
//
//   npm run smoke:pack        (needs the npm registry, like `npm ci`)
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { connect } from "node:net";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), "coral-pack-"));
const app = join(work, "app");
let daemon;

function sh(cmd, args, cwd, extra = {}) {
  return execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], ...extra });
}

function duBytes(dir) {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += duBytes(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

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

async function waitFor(file, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8"));
    if (daemon.exitCode !== null) throw new Error(`the daemon exited with ${daemon.exitCode}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ready file after ${ms} ms`);
}

try {
  const packed = JSON.parse(sh("npm", ["pack", "--json", "--pack-destination", work], root, { stdio: ["ignore", "pipe", "ignore"] }));
  const tarball = join(work, packed[0].filename);
  console.log(`packed ${packed[0].filename}: ${(packed[0].size / 1024).toFixed(1)} kB, ${packed[0].entryCount} files`);
  const leaked = packed[0].files.map((f) => f.path).filter((p) => /^(src|test|scripts|gen)\/|\.map$|^dist\/test/.test(p));
  if (leaked.length > 0) throw new Error(`the tarball holds files that do not run: ${leaked.join(", ")}`);

  sh("mkdir", ["-p", app], work);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "smoke", private: true, type: "module" }));
  sh("npm", ["install", "--omit=dev", "--engine-strict", "--no-audit", "--no-fund", "--loglevel=error", tarball], app);
  const bytes = duBytes(join(app, "node_modules"));
  const packages = readdirSync(join(app, "node_modules"), { withFileTypes: true }).filter((d) => d.isDirectory() && !d.name.startsWith(".")).length;
  console.log(`production install: ${(bytes / 1024 / 1024).toFixed(1)} MB in node_modules (${packages} top-level entries)`);

  const readyFile = join(work, "ready.json");
  // Its own process group: npx runs the daemon as a child, and killing npx alone would leave it running.
  daemon = spawn("npx", ["--no-install", "coral-discovery", "--port", "0", "--host", "127.0.0.1", "--ready-file", readyFile, "--log-level", "warn"], {
    cwd: app,
    stdio: ["ignore", "ignore", "inherit"],
    detached: true,
  });
  const ready = await waitFor(readyFile, 20_000);
  console.log(`npx coral-discovery is ready at ${ready.url} (pid ${ready.pid})`);

  // The packed CLI and the packed client library, as a user would import them.
  sh("npx", ["--no-install", "coral-discovery", "wait", "--url", ready.url, "--timeout", "10s"], app);
  const check = `
    import { createDiscoveryClient } from "coral-discovery/client";
    import { startDiscovery, VERSION } from "coral-discovery";
    const key = "BcuEeTWEzeTRVdllE/II5416f9f9aOnrOXWOJFW07qQ=";
    const client = createDiscoveryClient({ baseUrl: ${JSON.stringify(ready.url)} });
    await client.registerColony({ meshId: "smoke", pubkey: key, endpoints: ["203.0.113.1:41820"] });
    const found = await client.findColony("smoke");
    if (found.pubkey !== key) throw new Error("lookup returned " + found.pubkey);
    const grpc = createDiscoveryClient({ baseUrl: ${JSON.stringify(ready.url)}, protocol: "grpc" });
    if ((await grpc.health({})).registeredColonies !== 1) throw new Error("health over gRPC");
    const inProcess = await startDiscovery();
    await inProcess.close();
    console.log("client library: register + findColony over Connect JSON, Health over gRPC, startDiscovery(): ok (v" + VERSION + ")");
  `;
  writeFileSync(join(app, "check.mjs"), check);
  process.stdout.write(sh("node", ["check.mjs"], app));
  const cli = sh("npx", ["--no-install", "coral-discovery", "lookup", "smoke", "--json", "--url", ready.url], app);
  if (JSON.parse(cli).meshId !== "smoke") throw new Error(`CLI lookup printed ${cli}`);
  console.log("CLI: wait + lookup --json: ok");

  // What `kill <pid of npx>` does: npm signals only its shell; the daemon must follow.
  const killedAt = Date.now();
  process.kill(daemon.pid, "SIGTERM");
  while (!(await refused(ready.port))) {
    if (Date.now() - killedAt > 10_000) throw new Error(`port ${ready.port} still accepts connections 10 s after kill <npx pid>`);
    await new Promise((r) => setTimeout(r, 50));
  }
  console.log(`kill <npx pid>: port free after ${Date.now() - killedAt} ms`);
  while (existsSync(readyFile)) {
    if (Date.now() - killedAt > 10_000) throw new Error("the ready file is still there 10 s after kill <npx pid>");
    await new Promise((r) => setTimeout(r, 50));
  }
  console.log("pack smoke: ok");
} catch (error) {
  console.error(`pack smoke FAILED: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  // exitCode stays null for a process ended by a signal: check both.
  if (daemon !== undefined && daemon.exitCode === null && daemon.signalCode === null) {
    const exited = new Promise((resolve) => daemon.once("exit", resolve));
    try {
      process.kill(-daemon.pid, "SIGTERM");
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-daemon.pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }, 10_000);
    await exited;
    clearTimeout(timer);
  }
  rmSync(work, { recursive: true, force: true });
}
