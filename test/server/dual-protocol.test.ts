import t, { type Test } from "tap";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import fastify from "fastify";
import { createDualProtocolServerFactory, type DualProtocolServer } from "../../src/server/dual-protocol.js";
import {
  TOLERANCE_MS,
  IDLE_CLOSE_GRACE_MS,
  PREFACE,
  EMPTY_SETTINGS,
  OPTIONS,
  startDualServer,
  h1Get,
  h2Connect,
  h2Get,
  h2Request,
  rawSocket,
  closeOf,
  msUntil,
  waitFor,
  within,
  settles,
  connectionsReach,
  nextAccepted,
  chunkHandled,
  type Held,
} from "../fixtures/dual-server.js";

// Independent tests that mostly wait (on sockets, timers or child processes): run a few at once.
t.jobs = 4;

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

t.test("at maxConnections, a newcomer takes the slot of the connection idle the longest", async (t) => {
  const { app, port } = await startDualServer(t, { maxConnections: 2 });
  const first = await rawSocket(t, port);
  const firstClosed = closeOf(first);
  const second = await rawSocket(t, port);
  t.ok(await connectionsReach(app, 2), "two sockets accepted");
  t.equal((await h1Get(port)).status, 200, "a third is served");
  t.ok((await firstClosed).closed, "the longest-idle connection was closed for it");
  t.notOk(second.destroyed, "the other one is untouched");
});

t.test("at maxConnections with every connection busy, a newcomer is dropped; busy connections are never reclaimed", async (t) => {
  const { port, held } = await startDualServer(t, { maxConnections: 2 });
  const sessions = [h2Connect(t, port), h2Connect(t, port)];
  const answers = sessions.map((session) => h2Request(session, "GET", "/held"));
  t.ok(await held.waiting(2), "both connections have a request in flight");
  const { closed, received } = await closeOf(await rawSocket(t, port));
  t.ok(closed, "the newcomer was dropped");
  t.equal(received, "", "without an answer");
  t.notOk(sessions.some((session) => session.closed), "the busy connections are untouched");
  held.release();
  t.same((await Promise.all(answers)).map((reply) => reply.status), [200, 200], "their requests were answered");
  t.equal((await h1Get(port)).status, 200, "once they are idle, a newcomer takes one's slot");
  t.ok(await waitFor(async () => sessions.filter((session) => session.closed).length === 1), "the idle session it took was closed (GOAWAY)");
});

t.test("an h2 session that opens no stream is closed after headersTimeoutMs; one that did is kept", async (t) => {
  const headersTimeoutMs = 300;
  const { port } = await startDualServer(t, { headersTimeoutMs, requestTimeoutMs: headersTimeoutMs });
  const start = performance.now(); // before connecting, so before the server's timer
  const silent = h2Connect(t, port);
  const used = h2Connect(t, port);
  const goaway = msUntil(silent, "goaway", start);
  const closed = msUntil(silent, "close", start);
  t.equal((await h2Get(used)).status, 200);
  const goawayMs = await goaway;
  t.ok(Number.isFinite(goawayMs), `the silent session got GOAWAY (${goawayMs.toFixed(0)} ms)`);
  t.ok(goawayMs >= headersTimeoutMs - TOLERANCE_MS, "not before the headers timeout");
  t.ok(Number.isFinite(await closed), "and closed");
  t.notOk(used.closed, "the session that opened a stream is kept");
  t.equal((await h2Get(used)).status, 200, "and still serves");
});

t.test("HTTP/2 streams count per address over all its connections: past http2MaxStreamsPerAddress, REFUSED_STREAM", async (t) => {
  const { port, held } = await startDualServer(t, { http2MaxStreamsPerAddress: 3 });
  const [a, b] = [h2Connect(t, port), h2Connect(t, port)];
  const answers = [h2Request(a, "GET", "/held"), h2Request(a, "GET", "/held"), h2Request(b, "GET", "/held")];
  t.ok(await held.waiting(3), "three streams open over two connections");
  const refused = await h2Request(b, "GET", "/ping");
  t.equal(refused.rstCode, http2.constants.NGHTTP2_REFUSED_STREAM, "the fourth is refused, on another connection than the first two");
  t.equal(refused.status, 0, "unanswered: a client may retry it");
  t.equal((await h2Get(h2Connect(t, port, "127.0.0.2"))).status, 200, "another address has its own budget");
  held.release();
  await Promise.all(answers);
  t.equal((await h2Get(b)).status, 200, "finished streams give their budget back");
  t.notOk(a.closed || b.closed, "refusing a stream keeps the session");
});

t.test("past http2MaxStreamsTotal every address is refused; isExempt lifts only the per-address budget", async (t) => {
  const { port, held } = await startDualServer(t, { http2MaxStreamsTotal: 2, http2MaxStreamsPerAddress: 1 }, { hooks: { isExempt: (ip) => ip === "127.0.0.1" } });
  const exempt = h2Connect(t, port);
  const answers = [h2Request(exempt, "GET", "/held"), h2Request(exempt, "GET", "/held")];
  t.ok(await held.waiting(2), "an exempt address holds two streams past the per-address budget of 1");
  const other = await h2Request(h2Connect(t, port, "127.0.0.2"), "GET", "/ping");
  t.equal(other.rstCode, http2.constants.NGHTTP2_REFUSED_STREAM, "the total is reached for everyone");
  held.release();
  await Promise.all(answers);
  t.equal((await h2Get(h2Connect(t, port, "127.0.0.2"))).status, 200, "and given back");
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

t.test("an h2 stream still sending its body at bodyTimeoutMs is cancelled, however long requestTimeoutMs is", async (t) => {
  const bodyTimeoutMs = 300;
  const { port } = await startDualServer(t, { bodyTimeoutMs });
  const session = h2Connect(t, port);
  const start = performance.now();
  const stream = session.request({ ":method": "POST", ":path": "/echo", "content-type": "application/json" });
  stream.on("error", () => {}); // asserted through rstCode
  const closed = msUntil(stream, "close", start);
  stream.write('{"partial":');
  const ms = await closed;
  t.ok(Number.isFinite(ms), `the stream was closed (${ms.toFixed(0)} ms)`);
  t.equal(stream.rstCode, http2.constants.NGHTTP2_CANCEL, "by RST_STREAM CANCEL");
  t.ok(ms >= bodyTimeoutMs - TOLERANCE_MS, `not before the body timeout (${ms.toFixed(0)} ms)`);
  t.equal((await h2Get(session)).status, 200, "the session still serves other streams");
});

t.test("with neither a body nor a request timeout, an h2 body may take its time", async (t) => {
  const { port } = await startDualServer(t, { bodyTimeoutMs: 0, requestTimeoutMs: 0 });
  const session = h2Connect(t, port);
  const stream = session.request({ ":method": "POST", ":path": "/echo", "content-type": "application/json" });
  let status = 0;
  let text = "";
  stream.setEncoding("utf8");
  stream.on("response", (headers) => (status = Number(headers[":status"])));
  stream.on("data", (chunk: string) => (text += chunk));
  const closed = once(stream, "close");
  stream.write('{"partial":');
  // A round trip on the same session: the server has seen the first part by then.
  t.equal((await h2Get(session)).status, 200);
  stream.end("true}");
  await closed;
  t.equal(stream.rstCode, http2.constants.NGHTTP2_NO_ERROR, "not cancelled");
  t.equal(status, 200);
  t.same(JSON.parse(text), { partial: true });
});

t.test("an HTTP/1.1 request still sending its body at bodyTimeoutMs has its connection closed", async (t) => {
  const bodyTimeoutMs = 300;
  const { port } = await startDualServer(t, { bodyTimeoutMs });
  const socket = await rawSocket(t, port);
  const start = performance.now();
  const closing = closeOf(socket, start);
  socket.write("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{");
  const { closed, ms, received } = await closing;
  t.ok(closed, `closed (${ms.toFixed(0)} ms)`);
  t.ok(ms >= bodyTimeoutMs - TOLERANCE_MS, "not before the body timeout");
  t.equal(received, "", "without an answer");
});

t.test("an HTTP/1.1 request whose body arrived in time, or that has none, is answered after bodyTimeoutMs", async (t) => {
  const bodyTimeoutMs = 200;
  const { held, port } = await startDualServer(t, { bodyTimeoutMs });
  const socket = await rawSocket(t, port);
  let received = "";
  socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
  const start = performance.now();
  socket.write('POST /held HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
  t.ok(await held.waiting(1));
  await answerAfterDeadline(t, held, bodyTimeoutMs, start);
  t.ok(await waitFor(async () => received.includes('"held":true')), "the POST was answered");
  socket.write("GET /held HTTP/1.1\r\nHost: x\r\n\r\n");
  t.ok(await held.waiting(1));
  await answerAfterDeadline(t, held, bodyTimeoutMs, performance.now());
  t.ok(await waitFor(async () => received.split('"held":true').length === 3), "and so was the GET, on the same connection");
  t.notOk(socket.destroyed);
});

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

t.test("connectionStats counts open, idle and HTTP/2 connections as they come and go", async (t) => {
  const { app, port, held } = await startDualServer(t);
  const stats = () => (app.server as unknown as DualProtocolServer).connectionStats();
  t.same(stats(), { open: 0, idle: 0, http2Sessions: 0 });
  const session = h2Connect(t, port);
  t.equal((await h2Get(session)).status, 200);
  t.ok(await waitFor(async () => stats().http2Sessions === 1), "one h2 session");
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const answer = h1Get(port, agent, "/held");
  t.ok(await held.waiting(1), "an h1 request is in flight");
  t.same(stats(), { open: 2, idle: 1, http2Sessions: 1 }, "the h1 connection is busy, the h2 session idle");
  held.release();
  t.equal((await answer).status, 200);
  t.ok(await waitFor(async () => stats().idle === 2), "both idle once answered");
  session.close();
  t.ok(await waitFor(async () => stats().http2Sessions === 0 && stats().open === 1), "the h2 session is gone");
});

t.test("an h2 answer with trailers, given before the client finished sending, keeps its trailers; then the stream is reset NO_ERROR", async (t) => {
  const app = fastify({ serverFactory: createDualProtocolServerFactory(OPTIONS) });
  // Answers at once, without reading the body, as a gRPC stream that ends in error does.
  app.addHook("onRequest", async (_req, reply) => {
    reply.hijack();
    reply.raw.writeHead(200, { "content-type": "application/grpc" });
    reply.raw.write("answer");
    reply.raw.addTrailers({ "grpc-status": "8", "retry-after": "1" });
    reply.raw.end();
  });
  t.teardown(async () => {
    (app.server as unknown as DualProtocolServer).closeAllConnections();
    await app.close();
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const session = h2Connect(t, (app.server.address() as net.AddressInfo).port);
  const ended = await new Promise<{ trailers: http2.IncomingHttpHeaders | undefined; rstCode: number | undefined }>((resolve) => {
    const req = session.request({ ":method": "POST", ":path": "/stream" });
    let trailers: http2.IncomingHttpHeaders | undefined;
    req.on("trailers", (h) => (trailers = h));
    req.on("close", () => resolve({ trailers, rstCode: req.rstCode }));
    req.on("error", () => {});
    req.resume();
    req.write("still sending"); // never finished
  });
  t.match(ended.trailers, { "grpc-status": "8", "retry-after": "1" }, "the trailers arrived");
  t.equal(ended.rstCode, http2.constants.NGHTTP2_NO_ERROR, "then the unfinished request was cut with NO_ERROR");
});
