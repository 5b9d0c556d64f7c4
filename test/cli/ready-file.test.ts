import t from "tap";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRunning, readReadyFile } from "../../src/cli/ready-file.js";

/** Above Linux's largest pid_max (2^22): never a running process. */
const NO_SUCH_PID = 2 ** 30;

t.test("readReadyFile gives url and pid, undefined while the file is missing, and names what is wrong otherwise", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "coral-ready-"));
  const file = join(dir, "ready.json");
  t.equal(await readReadyFile(file), undefined);
  await writeFile(file, JSON.stringify({ url: "http://127.0.0.1:1234", port: 1234, pid: 42 }));
  t.same(await readReadyFile(file), { url: "http://127.0.0.1:1234", pid: 42 });
  await writeFile(file, JSON.stringify({ pid: 42 }));
  await t.rejects(readReadyFile(file), { message: `${file} has no "url"` });
  for (const pid of [undefined, "42", 0, 1.5]) {
    await writeFile(file, JSON.stringify({ url: "http://127.0.0.1:1234", pid }));
    await t.rejects(readReadyFile(file), { message: `${file} has no "pid"` }, `pid ${String(pid)}`);
  }
  await writeFile(file, "{");
  await t.rejects(readReadyFile(file), SyntaxError);
  const notAFile = join(dir, "dir.json");
  await mkdir(notAFile);
  await t.rejects(readReadyFile(notAFile), { code: "EISDIR" });
});

t.test("isRunning tells a live process from a gone one", async (t) => {
  t.equal(isRunning(process.pid), true);
  t.equal(isRunning(NO_SUCH_PID), false);
  const denied = () => {
    throw Object.assign(new Error("kill EPERM"), { code: "EPERM" });
  };
  t.equal(isRunning(1, denied), true, "another user's process runs too");
});
