import t, { type Test } from "tap";
import fastify, { type FastifyInstance } from "fastify";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { EventEmitter, once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import {
  createDualProtocolServerFactory,
  type DualProtocolHooks,
  type DualProtocolOptions,
  type DualProtocolServer,
} from "../../src/server/dual-protocol.js";

// Timing discipline: a test waits for the event it is about ('close' of a
// socket or session, a connection count reaching a value), never for a fixed
// time. BOUND_MS only turns "it never happens" into a failure; a passing test
// never waits for it, so it can be generous. Every server-side limit that a
// test does not set is far above BOUND_MS, so nothing but the behaviour under
// test can close a socket before the bound. Lower bounds are kept where they
// cannot flake: a timer never fires early, so "closed no earlier than the
// timeout, minus a little" holds however loaded the machine is, provided the
// clock starts before the server's timer does (so it starts before connecting
// or before the last activity).

/** How long a test waits for something that should happen before calling it a failure. */
const BOUND_MS = 20_000;
/** Slack for lower bounds: timer granularity and millisecond truncation, nothing more. */
const TOLERANCE_MS = 50;
/** IDLE_CLOSE_GRACE_MS in src/server/dual-protocol.ts (not exported, not configurable). */
const IDLE_CLOSE_GRACE_MS = 2_000;

type Reply = { status: number; body: string };
const PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Independent tests that mostly wait (on sockets, timers or child processes): run a few at once.
t.jobs = 4;
const EMPTY_SETTINGS = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);

/** Limits far above BOUND_MS (and sizes no test reaches), so that a test sees only the one it sets. */
const OPTIONS: DualProtocolOptions = {
  sniffTimeoutMs: 120_000,
  keepAliveTimeoutMs: 120_000,
  headersTimeoutMs: 120_000,
  requestTimeoutMs: 120_000,
  maxHeaderSize: 16_384,
  http2SessionIdleTimeoutMs: 120_000,
  http2MaxConcurrentStreams: 100,
  http2MaxHeaderListSize: 16_384,
  maxConnections: 0,
  maxConnectionsPerAddress: 0,
};

interface StartOptions {
  forceCloseConnections?: boolean;
  hooks?: DualProtocolHooks;
  /** Listen on this Unix socket instead of 127.0.0.1. */
  socketPath?: string;
}

/** The /held route's answers: they wait until the test lets them go. */
interface Held {
  /** True once `n` requests are waiting in the handler; false if not within BOUND_MS. */
  waiting(n: number): Promise<boolean>;
  /** Lets every waiting answer go. */
  release(): void;
}

/** A bare Fastify app on the dual-protocol server (this unit only), with a few routes. */
async function startDualServer(
  t: Test,
  options: Partial<DualProtocolOptions> = {},
  { forceCloseConnections, hooks, socketPath }: StartOptions = {},
): Promise<{ app: FastifyInstance; port: number; held: Held }> {
  const app = fastify({
    serverFactory: createDualProtocolServerFactory({ ...OPTIONS, ...options }, hooks),
    ...(forceCloseConnections === undefined ? {} : { forceCloseConnections }),
  });
  app.get("/ping", async (req) => ({ pong: true, httpVersion: req.raw.httpVersion }));
  app.post("/echo", async (req) => req.body);
  const held = holdRoute(app);
  t.teardown(async () => {
    held.release();
    // A failed test may leave connections a graceful close would wait for.
    (app.server as unknown as DualProtocolServer).closeAllConnections();
    await app.close();
  });
  if (socketPath !== undefined) {
    await app.listen({ path: socketPath });
    return { app, port: 0, held };
  }
  await app.listen({ host: "127.0.0.1", port: 0 });
  return { app, port: (app.server.address() as net.AddressInfo).port, held };
}

/** GET and POST /held: answers that come only when the test says so. */
function holdRoute(app: FastifyInstance): Held {
  const arrivals = new EventEmitter();
  let waiting = 0;
  let letGo = () => {};
  let gate = new Promise<void>((resolve) => (letGo = resolve));
  app.route({
    method: ["GET", "POST"],
    url: "/held",
    handler: async (req) => {
      waiting++;
      arrivals.emit("arrived");
      await gate;
      return { held: true, body: req.body ?? null };
    },
  });
  return {
    waiting: (n) =>
      settles(
        new Promise<void>((resolve) => {
          const check = () => {
            if (waiting < n) return;
            arrivals.off("arrived", check);
            resolve();
          };
          arrivals.on("arrived", check);
          check();
        }),
      ),
    release() {
      waiting = 0;
      letGo();
      gate = new Promise<void>((resolve) => (letGo = resolve));
    },
  };
}

function h1Get(target: number | string, agent: http.Agent | false = false, path = "/ping"): Promise<Reply> {
  const where = typeof target === "number" ? { host: "127.0.0.1", port: target } : { socketPath: target };
  return new Promise((resolve, reject) => {
    http
      .get({ ...where, path, agent }, (res) => {
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

function h2Get(session: http2.ClientHttp2Session, path = "/ping"): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ":path": path });
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

/** Sends a whole h2 request (END_STREAM with the body, or with the headers when there is none). */
function h2Request(
  session: http2.ClientHttp2Session,
  method: "GET" | "POST",
  path: string,
  body?: string,
): Promise<Reply & { rstCode: number | undefined }> {
  return new Promise((resolve) => {
    const headers = { ":method": method, ":path": path, ...(body === undefined ? {} : { "content-type": "application/json" }) };
    const req = session.request(headers);
    let status = 0;
    let text = "";
    req.setEncoding("utf8");
    req.on("response", (h) => (status = Number(h[":status"])));
    req.on("data", (chunk: string) => (text += chunk));
    req.on("close", () => resolve({ status, body: text, rstCode: req.rstCode }));
    req.on("error", () => {}); // a reset shows as rstCode on 'close'
    req.end(body);
  });
}

/** Opens a raw TCP (or Unix) socket, cleaned up by teardown. */
async function rawSocket(t: Test, target: number | string): Promise<net.Socket> {
  const socket = typeof target === "number" ? net.connect(target, "127.0.0.1") : net.connect(target);
  socket.on("error", () => {}); // resets are an expected way to be closed here
  t.teardown(() => socket.destroy());
  await once(socket, "connect");
  return socket;
}

interface Closure {
  /** False when the socket was still open after BOUND_MS. */
  closed: boolean;
  /** Milliseconds from `since` to 'close'. */
  ms: number;
  /** Everything the socket received meanwhile, as latin1. */
  received: string;
}

/** Waits for the socket's 'close', up to BOUND_MS, collecting what it receives. Call it before causing the close. */
function closeOf(socket: net.Socket, since = performance.now()): Promise<Closure> {
  let received = "";
  socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ closed: false, ms: Infinity, received }), BOUND_MS);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve({ closed: true, ms: performance.now() - since, received });
    });
  });
}

/** Milliseconds from `since` until `emitter` emits `event`, or Infinity after BOUND_MS. */
function msUntil(emitter: NodeJS.EventEmitter, event: string, since = performance.now()): Promise<number> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(Infinity), BOUND_MS);
    emitter.once(event, () => {
      clearTimeout(timer);
      resolve(performance.now() - since);
    });
  });
}

/** `promise`'s value, or `fallback` if it has not settled within BOUND_MS (rejections propagate). */
async function within<T, F>(promise: Promise<T>, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<F>((resolve) => (timer = setTimeout(resolve, BOUND_MS, fallback)));
  try {
    return await Promise.race([promise, bound]);
  } finally {
    clearTimeout(timer);
  }
}

/** True once `promise` settles (rejections propagate), false if it has not within BOUND_MS. */
const settles = (promise: Promise<unknown>): Promise<boolean> => within(promise.then(() => true), false);

/** Polls `condition` every 10 ms; false if it never held within BOUND_MS. */
async function waitFor(condition: () => Promise<boolean>): Promise<boolean> {
  const deadline = performance.now() + BOUND_MS;
  while (performance.now() < deadline) {
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

const connectionsReach = (app: FastifyInstance, n: number) => waitFor(async () => (await connectionCount(app)) === n);

/**
 * The server side of the next socket the server accepts. The unit's own
 * 'connection' handler runs first, so its 'data' listener comes before any
 * the test adds: when the test's listener runs, the unit has handled the chunk.
 */
function nextAccepted(app: FastifyInstance): Promise<net.Socket> {
  return new Promise((resolve) => app.server.once("connection", resolve));
}

/** Resolves when the server-side `socket` has delivered its next chunk (to the unit first). */
function chunkHandled(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => socket.once("data", () => resolve()));
}

t.test("one port answers HTTP/1.1 and h2c prior knowledge in the same run", async (t) => {
  const { port } = await startDualServer(t);
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
  const { app, port } = await startDualServer(t);
  const accepted = nextAccepted(app);
  const socket = await rawSocket(t, port);
  socket.setNoDelay(true);
  const server = await accepted;
  const firstData = Promise.race([once(socket, "data"), once(socket, "close")]);
  // Each part is sent once the server has handled the one before, so the
  // server reads them separately.
  for (const part of [PREFACE.slice(0, 5), PREFACE.slice(5, 20)]) {
    const handled = chunkHandled(server);
    socket.write(part);
    t.ok(await settles(handled), `the server read ${JSON.stringify(part)} on its own`);
  }
  // Rest of the preface plus an empty client SETTINGS frame.
  socket.write(Buffer.concat([Buffer.from(PREFACE.slice(20), "latin1"), EMPTY_SETTINGS]));
  t.ok(await settles(firstData), "the server answered");
  const [first] = (await firstData) as [Buffer | undefined];
  t.equal(first?.[3], 0x04, "the server's first frame is SETTINGS, so h2 parsed the whole preface");
});

t.test("an h2 client that half-closes is closed, as on a plain http2 server", async (t) => {
  const { port } = await startDualServer(t);
  const socket = await rawSocket(t, port);
  const closed = closeOf(socket);
  socket.end(Buffer.concat([Buffer.from(PREFACE, "latin1"), EMPTY_SETTINGS]));
  const { closed: wasClosed, ms, received } = await closed;
  t.ok(received.length > 0, "the server answered with its SETTINGS");
  t.ok(wasClosed, `socket closed after the client's FIN (${ms.toFixed(0)} ms)`);
});

for (const force of [undefined, false, true]) {
  t.test(`app.close() does not wait for an idle h1 keep-alive socket or h2 session (forceCloseConnections: ${String(force)})`, async (t) => {
    const { app, port } = await startDualServer(t, {}, { ...(force === undefined ? {} : { forceCloseConnections: force }) });
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

    // Both idle timeouts are 120 s: waiting for either would exceed the bound.
    const start = performance.now();
    t.ok(await settles(app.close()), `app.close() finished (${(performance.now() - start).toFixed(0)} ms)`);
    t.ok(await settles(Promise.all([h1Closed, h2Closed])), "both client connections closed");
  });
}

for (const force of [undefined, false, true]) {
  t.test(`app.close() does not wait for sockets that are still being sniffed (forceCloseConnections: ${String(force)})`, async (t) => {
    // The sniff timeout (120 s) is far past the bound: only app.close() can close this socket in time.
    const { app, port } = await startDualServer(t, {}, force === undefined ? {} : { forceCloseConnections: force });
    const socket = await rawSocket(t, port);
    const closed = closeOf(socket);
    socket.write("PRI * HT");
    t.ok(await connectionsReach(app, 1), "server holds the socket");
    t.ok(await settles(app.close()), "app.close() finished");
    t.ok((await closed).closed, "the sniffed socket was closed");
  });
}

t.test("with forceCloseConnections: true, app.close() cuts h1 and h2 requests still in progress", async (t) => {
  const { app, port, held } = await startDualServer(t, {}, { forceCloseConnections: true });
  const h1 = h1Get(port, false, "/held").then(
    () => "answered",
    (error: Error) => `cut: ${error.message}`,
  );
  const session = h2Connect(t, port);
  const h2 = h2Request(session, "GET", "/held");
  t.ok(await held.waiting(2), "both requests reached the handler");
  const sessionClosed = msUntil(session, "close");
  t.ok(await settles(app.close()), "app.close() finished without waiting for their answers");
  t.match(await within(h1, "still waiting"), /^cut: /, "the h1 request was cut");
  t.ok(Number.isFinite(await sessionClosed), "the h2 session was closed");
  t.equal((await within(h2, undefined))?.status, 0, "without an answer");
});

for (const force of [undefined, false]) {
  t.test(`without forced closing, app.close() lets h1 and h2 answers in progress finish (forceCloseConnections: ${String(force)})`, async (t) => {
    const { app, port, held } = await startDualServer(t, {}, force === undefined ? {} : { forceCloseConnections: force });
    const h1 = h1Get(port, false, "/held");
    const session = h2Connect(t, port);
    const h2 = h2Request(session, "GET", "/held");
    t.ok(await held.waiting(2), "both requests reached the handler");
    const goaway = msUntil(session, "goaway");
    const closing = app.close();
    t.ok(Number.isFinite(await goaway), "the h2 client was told to go away");
    held.release();
    t.equal((await within(h1, undefined))?.status, 200, "the h1 answer in progress was delivered");
    t.equal((await within(h2, undefined))?.status, 200, "the h2 answer in progress was delivered");
    t.ok(await settles(closing), "then app.close() finished");
  });
}

t.test("a socket that sends nothing is destroyed after sniffTimeoutMs", async (t) => {
  const sniffTimeoutMs = 200;
  const { port } = await startDualServer(t, { sniffTimeoutMs });
  const opened = performance.now(); // before the server's deadline can start
  const socket = await rawSocket(t, port);
  const { closed, ms } = await closeOf(socket, opened);
  t.ok(closed, `closed by the sniff timeout (${ms.toFixed(0)} ms)`);
  t.ok(ms >= sniffTimeoutMs - TOLERANCE_MS, `not closed before the timeout (${ms.toFixed(0)} ms)`);
});

t.test("a socket that sends part of the preface and stalls is destroyed after sniffTimeoutMs from accept", async (t) => {
  const sniffTimeoutMs = 200;
  const { port } = await startDualServer(t, { sniffTimeoutMs });
  const opened = performance.now();
  const socket = await rawSocket(t, port);
  const closing = closeOf(socket, opened);
  socket.write("PRI * HTTP/2.0\r\n");
  const { closed, ms, received } = await closing;
  t.ok(closed, `closed by the sniff timeout (${ms.toFixed(0)} ms)`);
  t.ok(ms >= sniffTimeoutMs - TOLERANCE_MS, `not closed before the timeout (${ms.toFixed(0)} ms)`);
  t.equal(received, "", "nothing was answered");
});

t.test("a client that half-closes during sniffing is dropped at once, with no sniff deadline at all", async (t) => {
  // sniffTimeoutMs 0 disables the deadline: only the FIN can close this socket.
  const { port } = await startDualServer(t, { sniffTimeoutMs: 0 });
  const socket = await rawSocket(t, port);
  const closing = closeOf(socket);
  socket.end("PRI");
  const { closed, ms, received } = await closing;
  t.ok(closed, `closed after the client's FIN (${ms.toFixed(0)} ms)`);
  t.equal(received, "", "nothing was answered");
});

t.test("garbage gets an HTTP/1.1 400 and the server keeps serving", async (t) => {
  const { app, port } = await startDualServer(t);
  const payloads = [
    Buffer.from("GARBAGE\r\n\r\n"),
    Buffer.from("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"), // preface look-alike, differs at byte 19
    Buffer.from([0, 1, 2, 3, 255, 254]),
  ];
  for (const payload of payloads) {
    const socket = await rawSocket(t, port);
    const closing = closeOf(socket);
    socket.write(payload);
    const { closed, received } = await closing;
    t.ok(closed, `connection closed for ${JSON.stringify(payload.toString("latin1"))}`);
    t.match(received, /^HTTP\/1\.1 400 /, "answered 400 Bad Request");
  }
  t.ok(await connectionsReach(app, 0), "no socket left behind");
  t.equal((await h1Get(port)).status, 200, "h1 still served");
  t.equal((await h2Get(h2Connect(t, port))).status, 200, "h2 still served");
});

t.test("a TCP reset while sniffing or right after the hand-over releases the socket without crashing", async (t) => {
  const { app, port } = await startDualServer(t);
  for (const [sent, state] of [
    ["PR", "while sniffing"],
    [PREFACE, "after the h2 hand-over"],
    ["GET /ping HTTP/1.1\r\n", "after the h1 hand-over, mid-request"],
  ] as const) {
    const accepted = nextAccepted(app);
    const socket = await rawSocket(t, port);
    const handled = chunkHandled(await accepted);
    socket.write(sent);
    t.ok(await settles(handled), `the server handled the first bytes (${state})`);
    socket.resetAndDestroy();
    t.ok(await connectionsReach(app, 0), `reset ${state}: released`);
  }
  t.equal((await h1Get(port)).status, 200, "h1 still served");
  t.equal((await h2Get(h2Connect(t, port))).status, 200, "h2 still served");
});

t.test("without a clientError listener (no Fastify), a malformed request's socket is dropped", async (t) => {
  const server = createDualProtocolServerFactory(OPTIONS)((_req, res) => res.end("ok"), {}) as unknown as DualProtocolServer;
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const port = (server.address() as net.AddressInfo).port;
  const socket = await rawSocket(t, port);
  const closing = closeOf(socket);
  socket.write("GARBAGE\r\n\r\n");
  const { closed, received } = await closing;
  t.ok(closed, "the socket was closed");
  t.equal(received, "", "without an answer, as Node does with no listener");
  t.equal((await h1Get(port)).status, 200, "the server still serves");
});

t.test("maxConnections destroys sockets beyond the limit", async (t) => {
  const { app, port } = await startDualServer(t, { maxConnections: 2 });
  const first = await rawSocket(t, port);
  const second = await rawSocket(t, port);
  t.ok(await connectionsReach(app, 2), "two sockets accepted");

  const { closed } = await closeOf(await rawSocket(t, port));
  t.ok(closed, "the third socket was dropped");
  t.notOk(first.destroyed || second.destroyed, "the first two are untouched");

  first.destroy();
  t.ok(await connectionsReach(app, 1), "a slot was freed");
  t.equal((await h1Get(port)).status, 200, "a new connection is served again");
  second.destroy();
});

t.test("maxConnectionsPerAddress drops an address's sockets beyond the cap and frees slots as they close", async (t) => {
  const { app, port } = await startDualServer(t, { maxConnectionsPerAddress: 2 });
  const first = await rawSocket(t, port);
  const second = await rawSocket(t, port);
  t.ok(await connectionsReach(app, 2), "two sockets from 127.0.0.1 accepted");

  const third = await closeOf(await rawSocket(t, port));
  t.ok(third.closed, "the third socket from the same address was dropped");
  t.equal(third.received, "", "without an answer");
  t.notOk(first.destroyed || second.destroyed, "the first two are untouched");

  first.destroy();
  t.ok(await connectionsReach(app, 1), "one closed");
  t.equal((await h1Get(port)).status, 200, "its slot is free again");
  t.ok(await connectionsReach(app, 1), "that request's socket closed too");
  const refill = await rawSocket(t, port);
  t.ok(await connectionsReach(app, 2), "the cap is reached again");
  t.ok((await closeOf(await rawSocket(t, port))).closed, "and enforced again");

  second.destroy();
  refill.destroy();
  t.ok(await connectionsReach(app, 0), "all closed");
  await rawSocket(t, port);
  await rawSocket(t, port);
  t.ok(await connectionsReach(app, 2), "a fresh start: the address counts from zero");
});

t.test("addresses the isExempt hook names are not capped per address", async (t) => {
  const asked: string[] = [];
  const isExempt = (ip: string) => {
    asked.push(ip);
    return ip === "127.0.0.1";
  };
  const { app, port } = await startDualServer(t, { maxConnectionsPerAddress: 1 }, { hooks: { isExempt } });
  const sockets = [await rawSocket(t, port), await rawSocket(t, port), await rawSocket(t, port)];
  t.ok(await connectionsReach(app, 3), "three sockets from one exempt address accepted");
  t.equal((await h1Get(port)).status, 200, "and a fourth is served");
  t.notOk(
    sockets.some((socket) => socket.destroyed),
    "none was dropped",
  );
  t.ok(asked.length >= 4 && asked.every((ip) => ip === "127.0.0.1"), "the hook was asked with the normalized peer address");
});

t.test("an address the isExempt hook does not name is capped", async (t) => {
  const { app, port } = await startDualServer(t, { maxConnectionsPerAddress: 1 }, { hooks: { isExempt: () => false } });
  await rawSocket(t, port);
  t.ok(await connectionsReach(app, 1));
  t.ok((await closeOf(await rawSocket(t, port))).closed, "the second socket was dropped");
});

t.test("peers without an IP address (a Unix socket) are not capped per address", async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "dual-protocol-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const socketPath = path.join(dir, "server.sock");
  const { app } = await startDualServer(t, { maxConnectionsPerAddress: 1 }, { socketPath });
  const first = await rawSocket(t, socketPath);
  t.ok(await connectionsReach(app, 1));
  t.equal((await h1Get(socketPath)).status, 200, "a second connection is served");
  t.notOk(first.destroyed, "the first is untouched");
});

t.test("an h1 keep-alive socket is closed when idle, no earlier than keepAliveTimeoutMs", async (t) => {
  const keepAliveTimeoutMs = 200;
  const { port } = await startDualServer(t, { keepAliveTimeoutMs });
  // A raw socket: http.Agent itself drops sockets when the server's keep-alive hint is under 1 s.
  const socket = await rawSocket(t, port);
  const closing = closeOf(socket); // starts before the request, so before the idle timer
  socket.write("GET /ping HTTP/1.1\r\nHost: localhost\r\n\r\n");
  const { closed, ms, received } = await closing;
  t.match(received, /^HTTP\/1\.1 200 .*Connection: keep-alive/s, "answered and kept alive");
  const advertised = `Keep-Alive: timeout=${Math.floor(keepAliveTimeoutMs / 1000)}\r\n`;
  t.ok(received.includes(advertised), "the configured timeout is advertised (in whole seconds)");
  t.ok(closed, `closed when idle (${ms.toFixed(0)} ms)`);
  t.ok(ms >= keepAliveTimeoutMs - TOLERANCE_MS, `not before the keep-alive timeout (${ms.toFixed(0)} ms)`);
});

t.test("an idle h2 session is closed gracefully (GOAWAY), no earlier than http2SessionIdleTimeoutMs", async (t) => {
  const idleMs = 200;
  const { port } = await startDualServer(t, { http2SessionIdleTimeoutMs: idleMs });
  const session = h2Connect(t, port);
  let goaway: number | undefined;
  session.once("goaway", (code: number) => (goaway = code));
  const start = performance.now(); // before the last activity, so before the idle timer starts
  const closing = msUntil(session, "close", start);
  t.equal((await h2Get(session)).status, 200);
  const ms = await closing;
  t.ok(Number.isFinite(ms), `closed when idle (${ms.toFixed(0)} ms)`);
  t.ok(ms >= idleMs - TOLERANCE_MS, `not before the idle timeout (${ms.toFixed(0)} ms)`);
  t.equal(goaway, http2.constants.NGHTTP2_NO_ERROR, "with a GOAWAY, not a reset");
});

t.test("an idle h2 session's GOAWAY lets an answer in progress finish before the session closes", async (t) => {
  const { port, held } = await startDualServer(t, { http2SessionIdleTimeoutMs: 200 });
  const session = h2Connect(t, port);
  const goaway = msUntil(session, "goaway");
  const closed = msUntil(session, "close");
  const answer = h2Request(session, "GET", "/held");
  t.ok(await held.waiting(1), "the request reached the handler");
  t.ok(Number.isFinite(await goaway), "GOAWAY once idle, with the request in progress");
  // The answer must come within the grace period (2 s) after the GOAWAY; it comes at once.
  held.release();
  const reply = await within(answer, undefined);
  t.equal(reply?.status, 200, "the answer in progress was delivered");
  t.equal(reply?.rstCode, http2.constants.NGHTTP2_NO_ERROR, "and its stream ended normally");
  t.ok(Number.isFinite(await closed), "then the session closed");
});

t.test(
  "an idle h2 session that cannot close gracefully (a stream left open) is destroyed after a grace period",
  async (t) => {
    const idleMs = 200;
    // No request deadline: the open stream must outlive the idle timeout.
    const { port } = await startDualServer(t, {
      http2SessionIdleTimeoutMs: idleMs,
      requestTimeoutMs: 0,
      headersTimeoutMs: 0,
    });
    const session = h2Connect(t, port);
    const stream = session.request({ ":method": "POST", ":path": "/echo", "content-type": "application/json" });
    stream.on("error", () => {}); // the destroy resets it
    const start = performance.now(); // before the last activity
    stream.write("{");
    const goaway = msUntil(session, "goaway", start);
    const closed = msUntil(session, "close", start);
    const goawayMs = await goaway;
    t.ok(Number.isFinite(goawayMs), `GOAWAY sent when idle (${goawayMs.toFixed(0)} ms)`);
    t.notOk(session.destroyed, "the session is not destroyed at once");
    const closedMs = await closed;
    t.ok(Number.isFinite(closedMs), `destroyed in the end (${closedMs.toFixed(0)} ms)`);
    t.ok(
      closedMs >= idleMs + IDLE_CLOSE_GRACE_MS - TOLERANCE_MS,
      `not before the grace period after the idle timeout (${closedMs.toFixed(0)} ms)`,
    );
  },
);

t.test("an h2 stream still sending its request at requestTimeoutMs is cancelled; its session lives on", async (t) => {
  const requestTimeoutMs = 300;
  const { port } = await startDualServer(t, { requestTimeoutMs, headersTimeoutMs: requestTimeoutMs });
  const session = h2Connect(t, port);
  const start = performance.now();
  const stream = session.request({ ":method": "POST", ":path": "/echo", "content-type": "application/json" });
  stream.on("error", () => {}); // asserted through rstCode
  const closed = msUntil(stream, "close", start);
  stream.write('{"partial":');
  const ms = await closed;
  t.ok(Number.isFinite(ms), `the stream was closed (${ms.toFixed(0)} ms)`);
  t.equal(stream.rstCode, http2.constants.NGHTTP2_CANCEL, "by RST_STREAM CANCEL");
  t.ok(ms >= requestTimeoutMs - TOLERANCE_MS, `not before the request timeout (${ms.toFixed(0)} ms)`);
  t.equal((await h2Get(session)).status, 200, "the session still serves other streams");
});

/**
 * Holds /held's answer until the request deadline has passed, then lets it go.
 * The wait is the deadline itself plus a margin, measured from before the
 * request, so the server's timer (started later) has passed it too: there is
 * no event for "a timer that was cleared did not fire".
 */
async function answerAfterDeadline(t: Test, held: Held, requestTimeoutMs: number, start: number) {
  await new Promise((resolve) => setTimeout(resolve, requestTimeoutMs + 100));
  t.ok(performance.now() - start >= requestTimeoutMs, "the request deadline has passed");
  held.release();
}

t.test("an h2 POST whose body arrived in time is answered even when the answer comes after requestTimeoutMs", async (t) => {
  const requestTimeoutMs = 200;
  const { held, port } = await startDualServer(t, { requestTimeoutMs, headersTimeoutMs: requestTimeoutMs });
  const session = h2Connect(t, port);
  const start = performance.now();
  const answer = h2Request(session, "POST", "/held", '{"whole":true}');
  await answerAfterDeadline(t, held, requestTimeoutMs, start);
  const reply = await answer;
  t.equal(reply.rstCode, http2.constants.NGHTTP2_NO_ERROR, "the stream was not cancelled");
  t.equal(reply.status, 200);
  t.same(JSON.parse(reply.body || "null"), { held: true, body: { whole: true } });
});

t.test(
  "an h2 GET (no body) is answered even when the answer comes after requestTimeoutMs: the request was whole with its headers",
  async (t) => {
    const requestTimeoutMs = 200;
    const { held, port } = await startDualServer(t, { requestTimeoutMs, headersTimeoutMs: requestTimeoutMs });
    const session = h2Connect(t, port);
    const start = performance.now();
    const answer = h2Request(session, "GET", "/held");
    await answerAfterDeadline(t, held, requestTimeoutMs, start);
    const reply = await answer;
    t.equal(reply.rstCode, http2.constants.NGHTTP2_NO_ERROR, "the stream was not cancelled");
    t.equal(reply.status, 200);
  },
);

t.test("invalid options are all reported at once", async (t) => {
  t.throws(
    () => createDualProtocolServerFactory({ ...OPTIONS, sniffTimeoutMs: -1, maxConnections: 1.5, maxHeaderSize: 0 }),
    /sniffTimeoutMs must be a non-negative integer, got -1.*maxConnections must be a non-negative integer, got 1\.5.*maxHeaderSize must be at least 1/,
  );
  t.throws(
    () => createDualProtocolServerFactory({ ...OPTIONS, headersTimeoutMs: 5_000, requestTimeoutMs: 1_000 }),
    { name: "RangeError", message: /headersTimeoutMs \(5000\) must not exceed requestTimeoutMs \(1000\)/ },
  );
  t.doesNotThrow(() => createDualProtocolServerFactory(OPTIONS));
});

t.test("an h2 header list over http2MaxHeaderListSize gets 431 (Node only advertises the limit); the session goes on", async (t) => {
  const { port } = await startDualServer(t, { http2MaxHeaderListSize: 2048 });
  const session = h2Connect(t, port);
  const refused = await new Promise<{ status: number; rstCode: number | undefined }>((resolve) => {
    const req = session.request({ ":method": "POST", ":path": "/ping", "x-big": "a".repeat(4096) });
    let status = 0;
    req.on("response", (h) => (status = Number(h[":status"])));
    req.on("close", () => resolve({ status, rstCode: req.rstCode }));
    req.on("error", () => {});
    req.resume();
    // The body is never finished: the server's RST_STREAM (NO_ERROR) ends the stream once the 431 is out.
    req.write("partial");
  });
  t.equal(refused.status, 431);
  t.equal(refused.rstCode, http2.constants.NGHTTP2_NO_ERROR, "the unread request is cut with NO_ERROR");
  const fine = await h2Get(session);
  t.equal(fine.status, 200, "headers within the limit are served on the same session");
  const justUnder = await h2Request(session, "GET", `/ping?${"q".repeat(1500)}`);
  t.equal(justUnder.status, 200, "a large but allowed header list reaches the app");
});
