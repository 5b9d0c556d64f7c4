import t from "tap";
import { mkdir, mkdtemp, readdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fastify from "fastify";
import { findListeningPid, listen, PortInUseError, removeReadyFile, writeReadyFile } from "../src/listen.js";

t.test("listen binds the host and port and reports a URL clients on this machine can use", async (t) => {
  const app = fastify();
  t.teardown(() => app.close());
  const listening = await listen(app, "127.0.0.1", 0);
  t.ok(listening.port > 0);
  t.equal(listening.url, `http://127.0.0.1:${listening.port}`);
});

t.test("a wildcard host is reported as 127.0.0.1, an IPv6 host in brackets", async (t) => {
  const wildcard = fastify();
  t.teardown(() => wildcard.close());
  const any = await listen(wildcard, "0.0.0.0", 0);
  t.equal(any.url, `http://127.0.0.1:${any.port}`);
  const v6 = fastify();
  t.teardown(() => v6.close());
  const loop6 = await listen(v6, "::1", 0).catch((error: NodeJS.ErrnoException) => error);
  if (loop6 instanceof Error) {
    t.match(loop6.code, /EADDRNOTAVAIL|EAFNOSUPPORT/, "this machine has no IPv6 loopback");
  } else {
    t.equal(loop6.url, `http://[::1]:${loop6.port}`);
  }
});

t.test("a port in use is an error from listen (nothing is swallowed)", async (t) => {
  const first = fastify();
  t.teardown(() => first.close());
  const { port } = await listen(first, "127.0.0.1", 0);
  const second = fastify();
  t.teardown(() => second.close());
  const error = await listen(second, "127.0.0.1", port).catch((e: unknown) => e);
  t.type(error, PortInUseError);
  t.match(error, { code: "EADDRINUSE", port, cause: { code: "EADDRINUSE" } });
  // This very process holds the port, and /proc says so on Linux.
  if (process.platform === "linux") t.equal((error as PortInUseError).ownerPid, process.pid);
  t.match((error as Error).message, `port ${port} is already in use by process ${process.pid}`);
  t.match((error as Error).message, "--port <n>");
  t.match((error as Error).message, "--port 0");
  t.match((error as Error).message, `kill ${process.pid}`);
});

t.test("a PortInUseError without a known owner says so, and still says what to do", async (t) => {
  const error = new PortInUseError(8080, new Error("listen EADDRINUSE"), undefined);
  t.match(error.message, /^port 8080 is already in use by another process \(another coral-discovery\?\)\. Stop it, choose another port with --port <n>/);
  t.notMatch(error.message, /kill/);
});

t.test("findListeningPid reads the listening socket's inode from /proc/net and finds the process holding it", async (t) => {
  const proc = await mkdtemp(join(tmpdir(), "coral-proc-"));
  await mkdir(join(proc, "net"));
  const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
  // 0x1F90 = 8080: one listening (0A) socket with inode 777, one established (01) socket on the same port.
  await writeFile(
    join(proc, "net/tcp"),
    header +
      "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1\n" +
      "   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 888 1\n" +
      "   2: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 555 1\n",
  );
  // no net/tcp6: a machine without IPv6
  await mkdir(join(proc, "12/fd"), { recursive: true });
  await symlink("socket:[888]", join(proc, "12/fd/3"));
  await symlink("/dev/null", join(proc, "12/fd/0"));
  await mkdir(join(proc, "34/fd"), { recursive: true });
  await symlink("socket:[777]", join(proc, "34/fd/5"));
  await mkdir(join(proc, "20")); // a process whose fds this user cannot read
  await writeFile(join(proc, "self"), "");
  t.equal(findListeningPid(8080, proc), 34);
  t.equal(findListeningPid(8081, proc), undefined, "a listener no visible process holds");
  t.equal(findListeningPid(8082, proc), undefined, "nobody listens there");
  t.equal(findListeningPid(8080, join(proc, "missing")), undefined, "no /proc at all");

  // IPv6 listeners count too; an fd that is no link (closed meanwhile) is skipped.
  const v6 = await mkdtemp(join(tmpdir(), "coral-proc-"));
  await mkdir(join(v6, "net"));
  await writeFile(join(v6, "net/tcp6"), header + "   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 0:0 0:0 0 0 0 999 1\n");
  await mkdir(join(v6, "7/fd"), { recursive: true });
  await writeFile(join(v6, "7/fd/1"), "");
  await mkdir(join(v6, "8/fd"), { recursive: true });
  await symlink("socket:[999]", join(v6, "8/fd/4"));
  t.equal(findListeningPid(8080, v6), 8);
});

t.test("listen rethrows errors other than a port in use as they are", async (t) => {
  const app = fastify();
  t.teardown(() => app.close());
  // TEST-NET-3: an address no interface of this machine has.
  await t.rejects(listen(app, "203.0.113.1", 0), { code: "EADDRNOTAVAIL" });
});

t.test("removeReadyFile removes the file only while it names this process", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "coral-listen-"));
  const file = join(dir, "ready.json");
  await writeReadyFile(file, { url: "http://127.0.0.1:1234", port: 1234 }, 42);
  t.equal(await removeReadyFile(file, 43), false, "another daemon's file stays");
  t.same(await readdir(dir), ["ready.json"]);
  t.equal(await removeReadyFile(file, 42), true);
  t.same(await readdir(dir), []);
  t.equal(await removeReadyFile(file, 42), false, "a missing file is fine");
});

t.test("writeReadyFile writes {url, port, pid} atomically, readable only as a whole, mode 0644", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "coral-listen-"));
  const file = join(dir, "ready.json");
  await writeReadyFile(file, { url: "http://127.0.0.1:1234", port: 1234 }, 42);
  t.same(JSON.parse(await readFile(file, "utf8")), { url: "http://127.0.0.1:1234", port: 1234, pid: 42 });
  t.same(await readdir(dir), ["ready.json"], "no temporary file left behind");
  t.equal((await stat(file)).mode & 0o777, 0o644);
  await writeReadyFile(file, { url: "http://127.0.0.1:5678", port: 5678 }, 43);
  t.match(JSON.parse(await readFile(file, "utf8")), { port: 5678, pid: 43 }, "an old file is replaced");
});
