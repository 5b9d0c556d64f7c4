import t, { type Test } from "tap";
import fastify, { type FastifyInstance } from "fastify";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { once } from "node:events";
import {
  createDualProtocolServerFactory,
  type DualProtocolOptions,
} from "../src/server/dual-protocol.js";

type Reply = { status: number; body: string };
const PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

async function startServer(
  t: Test,
  options: DualProtocolOptions = {},
  forceCloseConnections?: boolean,
): Promise<{ app: FastifyInstance; port: number }> {
  const app = fastify({
    serverFactory: createDualProtocolServerFactory(options),
    ...(forceCloseConnections === undefined ? {} : { forceCloseConnections }),
  });
  app.get("/ping", async (req) => ({ pong: true, httpVersion: req.raw.httpVersion }));
  await app.listen({ host: "127.0.0.1", port: 0 });
  t.teardown(() => app.close());
  return { app, port: (app.server.address() as net.AddressInfo).port };
}

function h1Get(port: number, agent: http.Agent | false = false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path: "/ping", agent }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}

function h2Connect(t: Test, port: number): http2.ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on("error", () => {}); // asserted through 'close'/requests instead
  t.teardown(() => session.destroy());
  return session;
}

function h2Get(session: http2.ClientHttp2Session): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ":path": "/ping" });
    let status = 0;
    let body = "";
    req.setEncoding("utf8");
    req.on("response", (headers) => (status = Number(headers[":status"])));
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => resolve({ status, body }));
    req.on("error", reject);
    req.end();
  });
}

/** Opens a raw TCP socket, cleaned up by teardown. */
async function rawSocket(t: Test, port: number): Promise<net.Socket> {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {}); // resets are an expected way to be closed here
  t.teardown(() => socket.destroy());
  await once(socket, "connect");
  return socket;
}

/** Milliseconds until the socket closes, or Infinity after limitMs. Also returns what it received. */
function closeOf(socket: net.Socket, limitMs = 2_000): Promise<{ ms: number; received: string }> {
  const start = Date.now();
  let received = "";
  socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ ms: Infinity, received }), limitMs);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve({ ms: Date.now() - start, received });
    });
  });
}

async function waitFor(condition: () => Promise<boolean>, limitMs = 2_000): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return false;
}

function connectionCount(app: FastifyInstance): Promise<number> {
  return new Promise((resolve, reject) =>
    app.server.getConnections((err, count) => (err ? reject(err) : resolve(count))),
  );
}

t.test("one port answers HTTP/1.1 and h2c prior knowledge in the same run", async (t) => {
  const { port } = await startServer(t);
  const h1 = await h1Get(port);
  t.equal(h1.status, 200);
  t.same(JSON.parse(h1.body), { pong: true, httpVersion: "1.1" });

  const h2 = await h2Get(h2Connect(t, port));
  t.equal(h2.status, 200);
  t.same(JSON.parse(h2.body), { pong: true, httpVersion: "2.0" });

  // And HTTP/1.1 still works after an h2 session was handed over.
  t.same(JSON.parse((await h1Get(port)).body), { pong: true, httpVersion: "1.1" });
});

t.test("an h2 preface split over several packets is still recognised", async (t) => {
  const { port } = await startServer(t);
  const socket = await rawSocket(t, port);
  socket.setNoDelay(true);
  socket.write(PREFACE.slice(0, 5));
  await new Promise((resolve) => setTimeout(resolve, 30));
  socket.write(PREFACE.slice(5, 20));
  await new Promise((resolve) => setTimeout(resolve, 30));
  // Rest of the preface plus an empty client SETTINGS frame.
  socket.write(Buffer.concat([Buffer.from(PREFACE.slice(20), "latin1"), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]));
  const [first] = (await once(socket, "data")) as [Buffer];
  t.equal(first[3], 0x04, "the server's first frame is SETTINGS, so h2 parsed the whole preface");
});

t.test("an h2 client that half-closes is closed, as on a plain http2 server", async (t) => {
  const { port } = await startServer(t);
  const socket = await rawSocket(t, port);
  const closed = closeOf(socket);
  socket.end(Buffer.concat([Buffer.from(PREFACE, "latin1"), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]));
  const { ms, received } = await closed;
  t.ok(received.length > 0, "the server answered with its SETTINGS");
  t.ok(ms < 2_000, `socket closed after the client's FIN (${ms} ms)`);
});

for (const force of [undefined, false, true]) {
  t.test(`app.close() is quick with an h1 keep-alive socket and an h2 session open (forceCloseConnections: ${String(force)})`, async (t) => {
    const { app, port } = await startServer(t, {}, force);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.teardown(() => agent.destroy());
    t.equal((await h1Get(port, agent)).status, 200);
    const [h1Socket] = Object.values(agent.freeSockets).flat();
    t.ok(h1Socket && !h1Socket.destroyed, "the h1 socket is kept alive");
    const h1Closed = once(h1Socket!, "close");

    const session = h2Connect(t, port);
    t.equal((await h2Get(session)).status, 200);
    t.notOk(session.closed, "the h2 session is still open");
    const h2Closed = once(session, "close");

    const start = Date.now();
    await app.close();
    const elapsed = Date.now() - start;
    t.ok(elapsed < 2_000, `app.close() took ${elapsed} ms`);
    await Promise.all([h1Closed, h2Closed]); // both clients were told, nothing dangles
    t.pass("both client connections closed");
  });
}

t.test("app.close() does not wait for sockets that are still being sniffed", async (t) => {
  // Longer than the assertion below, so waiting for the sniff timeout would fail it.
  const { app, port } = await startServer(t, { sniffTimeoutMs: 5_000 });
  const socket = await rawSocket(t, port);
  socket.write("PRI * HT");
  t.ok(await waitFor(async () => (await connectionCount(app)) === 1), "server holds the socket");
  const start = Date.now();
  await app.close();
  t.ok(Date.now() - start < 2_000, `app.close() took ${Date.now() - start} ms`);
});

t.test("a socket that sends nothing is destroyed after sniffTimeoutMs", async (t) => {
  const { port } = await startServer(t, { sniffTimeoutMs: 200 });
  const { ms } = await closeOf(await rawSocket(t, port));
  t.ok(ms >= 150, `not closed before the timeout (${ms} ms)`);
  t.ok(ms < 2_000, `closed by the sniff timeout (${ms} ms)`);
});

t.test("a socket that sends part of the preface and stalls is destroyed", async (t) => {
  const { port } = await startServer(t, { sniffTimeoutMs: 200 });
  const socket = await rawSocket(t, port);
  const closed = closeOf(socket);
  socket.write("PRI * HTTP/2.0\r\n");
  const { ms, received } = await closed;
  t.ok(ms >= 150 && ms < 2_000, `closed by the sniff timeout (${ms} ms)`);
  t.equal(received, "", "nothing was answered");
});

t.test("a client that half-closes during sniffing is dropped at once", async (t) => {
  const { port } = await startServer(t, { sniffTimeoutMs: 60_000 });
  const socket = await rawSocket(t, port);
  const closed = closeOf(socket);
  socket.end("PRI");
  const { ms } = await closed;
  t.ok(ms < 2_000, `closed without waiting for the sniff timeout (${ms} ms)`);
});

t.test("garbage gets an HTTP/1.1 400 and the server keeps serving", async (t) => {
  const { app, port } = await startServer(t);
  const payloads = [
    Buffer.from("GARBAGE\r\n\r\n"),
    Buffer.from("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"), // preface look-alike, differs at byte 19
    Buffer.from([0, 1, 2, 3, 255, 254]),
  ];
  for (const payload of payloads) {
    const socket = await rawSocket(t, port);
    const closed = closeOf(socket);
    socket.write(payload);
    const { ms, received } = await closed;
    t.ok(ms < 2_000, `connection closed for ${JSON.stringify(payload.toString("latin1"))}`);
    t.match(received, /^HTTP\/1\.1 400 /, "answered 400 Bad Request");
  }
  // A TCP reset while sniffing, or right after the hand-over, must not crash the process.
  for (const sent of ["PR", PREFACE, "GET /ping HTTP/1.1\r\n"]) {
    const reset = await rawSocket(t, port);
    reset.write(sent);
    t.ok(await waitFor(async () => (await connectionCount(app)) === 1), "server holds the socket");
    await new Promise((resolve) => setTimeout(resolve, 20)); // let the bytes arrive before the RST
    reset.resetAndDestroy();
    t.ok(await waitFor(async () => (await connectionCount(app)) === 0), `reset after ${JSON.stringify(sent)} released`);
  }

  t.equal((await h1Get(port)).status, 200, "h1 still served");
  t.equal((await h2Get(h2Connect(t, port))).status, 200, "h2 still served");
});

t.test("maxConnections destroys sockets beyond the limit", async (t) => {
  const { app, port } = await startServer(t, { maxConnections: 2, sniffTimeoutMs: 60_000 });
  const first = await rawSocket(t, port);
  const second = await rawSocket(t, port);
  t.ok(await waitFor(async () => (await connectionCount(app)) === 2), "two sockets accepted");

  const { ms } = await closeOf(await rawSocket(t, port));
  t.ok(ms < 2_000, `the third socket was dropped (${ms} ms)`);
  t.notOk(first.destroyed || second.destroyed, "the first two are untouched");

  first.destroy();
  t.ok(await waitFor(async () => (await connectionCount(app)) === 1), "a slot was freed");
  t.equal((await h1Get(port)).status, 200, "a new connection is served again");
  second.destroy();
});

t.test("idle keep-alive sockets and idle h2 sessions are closed by their timeouts", async (t) => {
  const { port } = await startServer(t, { keepAliveTimeoutMs: 200, http2SessionIdleTimeoutMs: 200 });
  // A raw socket: http.Agent itself drops sockets when the server's keep-alive hint is under 1 s.
  const h1Socket = await rawSocket(t, port);
  const h1Closed = closeOf(h1Socket);
  h1Socket.write("GET /ping HTTP/1.1\r\nHost: localhost\r\n\r\n");
  const session = h2Connect(t, port);
  t.equal((await h2Get(session)).status, 200);
  const start = Date.now();
  const h2Ms = await Promise.race([
    once(session, "close").then(() => Date.now() - start),
    new Promise<number>((resolve) => setTimeout(resolve, 2_000, Infinity)),
  ]);

  const h1 = await h1Closed;
  t.match(h1.received, /^HTTP\/1\.1 200 .*Connection: keep-alive/s, "answered and kept alive");
  t.ok(h1.ms >= 150 && h1.ms < 2_000, `h1 keep-alive socket closed when idle (${h1.ms} ms)`);
  t.ok(h2Ms >= 150 && h2Ms < 2_000, `h2 session closed when idle (${h2Ms} ms)`);
});

t.test("invalid options are all reported at once", async (t) => {
  t.throws(
    () => createDualProtocolServerFactory({ sniffTimeoutMs: -1, maxConnections: 1.5, maxHeaderSize: 0 }),
    /sniffTimeoutMs must be a non-negative integer, got -1.*maxConnections must be a non-negative integer, got 1\.5.*maxHeaderSize must be at least 1/,
  );
  t.throws(
    () => createDualProtocolServerFactory({ headersTimeoutMs: 5_000, requestTimeoutMs: 1_000 }),
    { name: "RangeError", message: /headersTimeoutMs \(5000\) must not exceed requestTimeoutMs \(1000\)/ },
  );
  t.doesNotThrow(() => createDualProtocolServerFactory());
});
