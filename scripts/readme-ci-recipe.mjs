// Runs the README's CI recipe as written: every ```sh block right after a
// `<!-- ci-recipe` comment, joined, with bash, twice in a row in the same fresh
// directory, against the packed tarball installed there as a CI project would
// have it. Each run must exit 0 within 2 minutes and leave no daemon and no
// ready file behind. Exit 0 = the recipe works, and works again.
//
//   node scripts/readme-ci-recipe.mjs     (packs first; needs the npm registry, like npm ci)
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const RUN_BOUND_MS = 120_000;

/** The shell blocks of the README marked as the CI recipe, joined. */
export function ciRecipe(readme) {
  const blocks = [...readme.matchAll(/^<!-- ci-recipe[^\n]*-->\n```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
  if (blocks.length === 0) throw new Error("the README has no block marked <!-- ci-recipe -->");
  return blocks.join("\n");
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

/** Runs `bash recipe.sh` in `dir` in its own process group (killed whole on time-out); resolves with its exit code and output. */
function runRecipe(dir) {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["recipe.sh"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // gone
      }
      reject(new Error(`the recipe did not finish within ${RUN_BOUND_MS / 1000} s; output:\n${output}`));
    }, RUN_BOUND_MS);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

const work = mkdtempSync(join(tmpdir(), "coral-ci-recipe-"));
try {
  const recipe = ciRecipe(readFileSync(join(root, "README.md"), "utf8"));
  const packed = JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", work], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }));
  const project = join(work, "project");
  execFileSync("mkdir", ["-p", project]);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "ci-project", private: true }));
  execFileSync("npm", ["install", "--save-dev", "--no-audit", "--no-fund", "--loglevel=error", join(work, packed[0].filename)], { cwd: project, stdio: ["ignore", "ignore", "inherit"] });
  // One line after the recipe, to learn the URL it used and check that nothing listens there any more.
  writeFileSync(join(project, "recipe.sh"), `${recipe}\necho "RECIPE_URL=$CORAL_DISCOVERY_URL"\n`);
  for (const round of [1, 2]) {
    const started = Date.now();
    const { code, output } = await runRecipe(project);
    if (code !== 0) throw new Error(`run ${round} exited ${code}; output:\n${output}`);
    const lookup = output.split("\n").find((line) => line.startsWith("{") && line.includes('"meshId"'));
    if (lookup === undefined || JSON.parse(lookup).meshId !== "ci") throw new Error(`run ${round}: no lookup output; output:\n${output}`);
    if (existsSync(join(project, "discovery.json"))) throw new Error(`run ${round} left discovery.json behind`);
    const url = /^RECIPE_URL=(\S+)$/m.exec(output)?.[1];
    if (url === undefined) throw new Error(`run ${round}: the recipe did not get to its end; output:\n${output}`);
    if (!(await refused(Number(new URL(url).port)))) throw new Error(`run ${round} left its daemon listening at ${url}`);
    console.log(`CI recipe run ${round}: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  console.log("README CI recipe: ok twice in a row");
} catch (error) {
  console.error(`README CI recipe FAILED: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
