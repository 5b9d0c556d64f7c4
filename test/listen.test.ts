import t from "tap";
import { mkdtemp, readdir, readFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fastify from "fastify";
import { listen, writeReadyFile } from "../src/listen.js";

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
  await t.rejects(listen(second, "127.0.0.1", port), { code: "EADDRINUSE" });
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
