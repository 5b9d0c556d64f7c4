import t from "tap";
import { chmodSync, existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { temporaryPath, writeFileAtomically } from "../../src/state/atomic-file.js";

const mode = (path: string) => statSync(path).mode & 0o777;

t.test("writes the chunks in order, mode 0600, and says how many bytes", async (t) => {
  const path = join(t.testdir(), "state.ndjson");
  const bytes = await writeFileAtomically(path, ["a\n", "ключ\n"]);
  t.equal(readFileSync(path, "utf8"), "a\nключ\n");
  t.equal(bytes, Buffer.byteLength("a\nключ\n"));
  t.equal(mode(path), 0o600, "only the owner may read it: it can hold a private key");
  t.notOk(existsSync(temporaryPath(path)), "no temporary file is left");
});

t.test("replaces an existing file; a left-over temporary file of another mode is reused at 0600", async (t) => {
  const dir = t.testdir({ "state.ndjson": "old\n", "state.ndjson.tmp": "half a write\n" });
  const path = join(dir, "state.ndjson");
  chmodSync(temporaryPath(path), 0o644); // as a crash under an older umask would leave it
  await writeFileAtomically(path, (async function* () {
    yield "new\n";
  })());
  t.equal(readFileSync(path, "utf8"), "new\n", "async chunks are written too");
  t.equal(mode(path), 0o600);
  t.notOk(existsSync(temporaryPath(path)));
});

t.test("a rename that fails leaves the old file whole and no temporary file", async (t) => {
  const path = join(t.testdir({ "state.ndjson": "old\n" }), "state.ndjson");
  const failing = async () => {
    throw Object.assign(new Error("EXDEV: cross-device link not permitted"), { code: "EXDEV" });
  };
  await t.rejects(writeFileAtomically(path, ["new\n"], { rename: failing }), /EXDEV/);
  t.equal(readFileSync(path, "utf8"), "old\n");
  t.notOk(existsSync(temporaryPath(path)));
});

t.test("a producer that fails half-way leaves the old file whole and no temporary file", async (t) => {
  const path = join(t.testdir({ "state.ndjson": "old\n" }), "state.ndjson");
  function* chunks() {
    yield "first half\n";
    throw new Error("ENOSPC: no space left on device");
  }
  await t.rejects(writeFileAtomically(path, chunks()), /ENOSPC/);
  t.equal(readFileSync(path, "utf8"), "old\n");
  t.notOk(existsSync(temporaryPath(path)));
});

t.test("a directory that does not exist fails at once, creating nothing", async (t) => {
  const path = join(t.testdir(), "gone", "state.ndjson");
  await t.rejects(writeFileAtomically(path, ["x"]), { code: "ENOENT" });
  t.notOk(existsSync(join(t.testdirName, "gone")));
});
