// `npm install git+https://...` (or `npx github:...`) as a user does it, with
// a local clone of this commit: npm clones it, installs its devDependencies
// there, runs `prepare` (the build) and packs it. The installed package must
// hold the compiled code only, and `npx coral-discovery` must run.
// Exit 0 = a git install gives a working binary.
//
//   node scripts/git-install-smoke.mjs     (the committed HEAD; needs the npm registry, like npm ci)
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), "coral-git-install-"));

function run(cmd, args, cwd) {
  return execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
}

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

try {
  const commit = run("git", ["rev-parse", "HEAD"], root).trim();
  const repo = join(work, "repo");
  run("git", ["clone", "--quiet", "--no-checkout", root, repo], work);
  run("git", ["checkout", "--quiet", commit], repo);
  const project = join(work, "project");
  run("mkdir", ["-p", project], work);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "git-install", private: true }));
  const started = Date.now();
  run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", `git+file://${repo}#${commit}`], project);
  console.log(`npm install git+file://...#${commit.slice(0, 12)}: ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const installed = join(project, "node_modules/coral-discovery");
  const shipped = files(installed).map((f) => relative(installed, f));
  const leaked = shipped.filter((p) => /^(src|test|scripts|gen)\/|\.map$|^dist\/test|\.ts$/.test(p) && !p.endsWith(".d.ts"));
  if (leaked.length > 0) throw new Error(`the installed package holds files that do not run: ${leaked.slice(0, 5).join(", ")}`);
  if (!shipped.includes("dist/src/main.js")) throw new Error("dist/src/main.js is missing: prepare did not build");

  const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const printed = run("npx", ["--no-install", "coral-discovery", "--version"], project).trim();
  if (printed !== version) throw new Error(`npx coral-discovery --version printed ${JSON.stringify(printed)}, not ${version}`);
  const key = run("npx", ["--no-install", "coral-discovery", "wg-key", "--public"], project).trim();
  if (!/^[A-Za-z0-9+/]{43}=$/.test(key)) throw new Error(`wg-key --public printed ${JSON.stringify(key)}`);
  console.log(`npx coral-discovery --version: ${printed}; ${shipped.length} files installed, compiled code only`);
  console.log("git install smoke: ok");
} catch (error) {
  console.error(`git install smoke FAILED: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
