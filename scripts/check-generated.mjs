// Checks that the committed gen/ is exactly what `buf generate` makes from proto/.
//
// Copies buf.yaml, buf.gen.yaml (unchanged) and proto/ into a temporary
// directory, links node_modules there (for the local protoc-gen-es plugin),
// runs node_modules/.bin/buf generate in it, and compares every file of the
// temporary gen/ with the repo's gen/ byte for byte. buf.gen.yaml has
// `clean: true`, which is why buf never runs in the repo itself.
// Works offline (no remote plugins, no deps in buf.yaml).
//
//   node scripts/check-generated.mjs      (or: npm run check-generated)
//
// Exit 0: gen/ is up to date. Exit 1: gen/ differs (each missing, extra or
// changed file is listed). Exit 2: the check itself could not run.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const committed = join(root, "gen");

/** Relative paths (with "/") of every file under `dir`, sorted. */
function listFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => !entry.isDirectory())
    .map((entry) => relative(dir, join(entry.parentPath ?? entry.path, entry.name)).split(sep).join("/"))
    .sort();
}

/** 1-based number of the first line where `a` and `b` differ. */
function firstDifferentLine(a, b) {
  const left = a.toString("utf8").split("\n");
  const right = b.toString("utf8").split("\n");
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    if (left[i] !== right[i]) return i + 1;
  }
  return 0;
}

class CheckError extends Error {}

function fail(message) {
  throw new CheckError(message);
}

/** Generates into a temporary directory; returns the differences (one line each) and the file count. */
function check() {
  const buf = join(root, "node_modules", ".bin", "buf");
  if (!existsSync(buf)) fail(`${buf} not found: run npm ci first`);
  for (const name of ["buf.yaml", "buf.gen.yaml", "proto"]) {
    if (!existsSync(join(root, name))) fail(`${name} not found in ${root}`);
  }
  const work = mkdtempSync(join(tmpdir(), "coral-check-generated-"));
  try {
    return compareWith(buf, work);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function compareWith(buf, work) {
  cpSync(join(root, "buf.yaml"), join(work, "buf.yaml"));
  cpSync(join(root, "buf.gen.yaml"), join(work, "buf.gen.yaml"));
  cpSync(join(root, "proto"), join(work, "proto"), { recursive: true });
  symlinkSync(join(root, "node_modules"), join(work, "node_modules"), "dir");
  try {
    execFileSync(buf, ["generate"], { cwd: work, stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 });
  } catch (error) {
    fail(`buf generate failed:\n${error.stderr?.toString() || error.message}`);
  }

  const fresh = join(work, "gen");
  const freshFiles = listFiles(fresh);
  if (freshFiles.length === 0) fail("buf generate produced no files under gen/; check buf.gen.yaml");
  const committedFiles = new Set(listFiles(committed));
  const problems = [];
  for (const file of freshFiles) {
    if (!committedFiles.has(file)) {
      problems.push(`missing   gen/${file} (buf generates it, gen/ does not have it)`);
      continue;
    }
    committedFiles.delete(file);
    const want = readFileSync(join(fresh, file));
    const have = readFileSync(join(committed, file));
    if (!want.equals(have)) {
      problems.push(`different gen/${file} (first difference at line ${firstDifferentLine(want, have)})`);
    }
  }
  for (const file of committedFiles) {
    problems.push(`extra     gen/${file} (not generated from proto/)`);
  }
  return { problems, fileCount: freshFiles.length };
}

let result;
try {
  result = check();
} catch (error) {
  if (!(error instanceof CheckError)) throw error;
  process.stderr.write(`check-generated: ${error.message}\n`);
  process.exit(2);
}
const { problems, fileCount } = result;
if (problems.length === 0) {
  process.stdout.write(`check-generated: OK, gen/ matches proto/ (${fileCount} files)\n`);
} else {
  process.stderr.write(
    `gen/ is out of date: run npm run generate and commit gen/\n${problems.map((p) => `  ${p}`).join("\n")}\n`,
  );
  process.exit(1);
}
