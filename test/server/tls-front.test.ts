// The dual-protocol server with a certificate (src/server/tls-front.ts and its
// use in src/server/dual-protocol.ts): HTTPS on the one port, ALPN choosing
// HTTP/2 or HTTP/1.1, and the cleartext server's budgets and deadlines
// holding for TLS connections too. Real TLS, with a CA made for the test.
import t, { type Test } from "tap";
import * as http2 from "node:http2";
import * as https from "node:https";
import * as net from "node:net";
import * as tls from "node:tls";
import { once } from "node:events";
import { performance } from "node:perf_hooks";
import { createTlsFront, wrappedSocket } from "../../src/server/tls-front.js";
import type { DualProtocolOptions, DualProtocolServer } from "../../src/server/dual-protocol.js";
import {
  TOLERANCE_MS,
  PREFACE,
  EMPTY_SETTINGS,
  startDualServer,
  rawSocket,
  closeOf,
  msUntil,
  connectionsReach,
  type Reply,
} from "../fixtures/dual-server.js";
import { makeTestPki } from "../fixtures/tls.js";

t.jobs = 4;
const pki = makeTestPki(t);

function startTlsServer(t: Test, options: Partial<DualProtocolOptions> = {}, isExempt?: (ip: string) => boolean) {
  return startDualServer(t, options, { hooks: { tls: pki.first, ...(isExempt === undefined ? {} : { isExempt }) } });
}

/** GET over HTTPS/1.1 (node:https offers no ALPN: the server sniffs), trusting the test CA. */
function httpsGet(port: number, path = "/ping", ca = pki.ca): Promise<Reply & { fingerprint256: string }> {
  return new Promise((resolve, reject) => {
    https
      .get({ host: "127.0.0.1", port, path, ca, agent: false }, (res) => {
        const fingerprint256 = (res.socket as tls.TLSSocket).getPeerCertificate().fingerprint256;
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, fingerprint256 }));
      })
      .on("error", reject);
  });
}

/** An HTTP/2 session over TLS (ALPN h2), from `localAddress` when given. */
function h2sConnect(t: Test, port: number, localAddress?: string): http2.ClientHttp2Session {
  const session = http2.connect(`https://127.0.0.1:${port}`, {
    createConnection: () =>
      tls.connect({ port, host: "127.0.0.1", ca: pki.ca, ALPNProtocols: ["h2"], ...(localAddress === undefined ? {} : { localAddress }) }),
  });
  session.on("error", () => {});
  t.teardown(() => session.destroy());
  return session;
}

function h2sRequest(session: http2.ClientHttp2Session, path = "/ping"): Promise<Reply & { rstCode: number | undefined }> {
  return new Promise((resolve) => {
    const req = session.request({ ":path": path });
    let status = 0;
    let body = "";
    req.setEncoding("utf8");
    req.on("response", (h) => (status = Number(h[":status"])));
    req.on("data", (chunk: string) => (body += chunk));
    req.on("close", () => resolve({ status, body, rstCode: req.rstCode }));
    req.on("error", () => {});
    req.end();
  });
}

/** A TLS client socket, handshake done, offering `alpn` (none when undefined). */
async function tlsSocket(t: Test, port: number, alpn?: string[]): Promise<tls.TLSSocket> {
  const socket = tls.connect({ port, host: "127.0.0.1", ca: pki.ca, ...(alpn === undefined ? {} : { ALPNProtocols: alpn }) });
  socket.on("error", () => {});
  t.teardown(() => socket.destroy());
  await once(socket, "secureConnect");
  return socket;
}

t.test("HTTPS on the one port: ALPN h2 gets HTTP/2, no ALPN or http/1.1 gets HTTP/1.1, with the configured certificate", async (t) => {
  const { app, port } = await startTlsServer(t);
  t.equal((app.server as unknown as DualProtocolServer).secure, true);
  const h1 = await httpsGet(port);
  t.same(h1, { status: 200, body: '{"pong":true,"httpVersion":"1.1"}', fingerprint256: pki.first.fingerprint256 });
  t.same(await h2sRequest(h2sConnect(t, port)), { status: 200, body: '{"pong":true,"httpVersion":"2.0"}', rstCode: http2.constants.NGHTTP2_NO_ERROR });
  const offered = await tlsSocket(t, port, ["http/1.1"]);
  t.equal(offered.alpnProtocol, "http/1.1");
  const closing = closeOf(offered);
  offered.end("GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  t.match((await closing).received, /^HTTP\/1\.1 200 .*"httpVersion":"1\.1"/s);
});

t.test("a TLS client without ALPN gets HTTP/1.1, even when it sends the h2 preface (RFC 9113 wants ALPN h2 over TLS)", async (t) => {
  const { port } = await startTlsServer(t);
  const h1 = await tlsSocket(t, port);
  t.equal(h1.alpnProtocol, false, "no ALPN");
  const closing = closeOf(h1);
  h1.write("GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  t.match((await closing).received, /^HTTP\/1\.1 200 .*"httpVersion":"1\.1"/s);
  const h2 = await tlsSocket(t, port);
  const refused = closeOf(h2);
  h2.write(Buffer.concat([Buffer.from(PREFACE, "latin1"), EMPTY_SETTINGS]));
  t.match((await refused).received, /^HTTP\/1\.1 400 /, "the preface is a malformed HTTP/1.1 request");
});

t.test("a client that does not trust the certificate fails its handshake; the server keeps serving", async (t) => {
  const { port } = await startTlsServer(t);
  await t.rejects(httpsGet(port, "/ping", pki.second.cert), { code: /UNABLE_TO_VERIFY|SELF_SIGNED/ });
  t.equal((await httpsGet(port)).status, 200);
});

t.test("cleartext HTTP sent to the TLS port is dropped; the server keeps serving", async (t) => {
  const { port } = await startTlsServer(t);
  const socket = await rawSocket(t, port);
  const closing = closeOf(socket);
  socket.write("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
  t.ok((await closing).closed);
  t.equal((await httpsGet(port)).status, 200);
});

t.test("a handshake that never completes is closed at sniffTimeoutMs from accept", async (t) => {
  const sniffTimeoutMs = 300;
  const { app, port } = await startTlsServer(t, { sniffTimeoutMs });
  const start = performance.now();
  const silent = await rawSocket(t, port);
  const partial = await rawSocket(t, port);
  partial.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])); // the start of a ClientHello, then nothing
  const [a, b] = await Promise.all([closeOf(silent, start), closeOf(partial, start)]);
  t.ok(a.closed && b.closed, `both closed (${a.ms.toFixed(0)} ms, ${b.ms.toFixed(0)} ms)`);
  t.ok(Math.min(a.ms, b.ms) >= sniffTimeoutMs - TOLERANCE_MS, "not before the deadline");
  t.ok(await connectionsReach(app, 0), "their slots are free");
  t.equal((await httpsGet(port)).status, 200);
});

t.test("after the handshake, a client that sends nothing is closed by the HTTP/1.1 headers timeout", async (t) => {
  const headersTimeoutMs = 300;
  const { port } = await startTlsServer(t, { headersTimeoutMs, requestTimeoutMs: headersTimeoutMs });
  const start = performance.now();
  const socket = await tlsSocket(t, port);
  const { closed, ms, received } = await closeOf(socket, start);
  t.ok(closed, `closed (${ms.toFixed(0)} ms)`);
  t.ok(ms >= headersTimeoutMs - TOLERANCE_MS, "not before the timeout");
  t.match(received, /^HTTP\/1\.1 408 /, "with Node's 408");
});

t.test("a TCP reset during the handshake or after it releases the socket without crashing", async (t) => {
  const { app, port } = await startTlsServer(t);
  const during = await rawSocket(t, port);
  during.write(Buffer.from([0x16, 0x03, 0x01]));
  during.resetAndDestroy();
  const under = await rawSocket(t, port);
  const after = tls.connect({ socket: under, ca: pki.ca, servername: "localhost" });
  after.on("error", () => {});
  await once(after, "secureConnect");
  under.resetAndDestroy();
  t.ok(await connectionsReach(app, 0), "both slots freed");
  t.equal((await httpsGet(port)).status, 200, "still serving");
});

t.test("maxConnectionsPerAddress counts TLS connections, handshaking or not", async (t) => {
  const { app, port } = await startTlsServer(t, { maxConnectionsPerAddress: 2 });
  const handshaking = await rawSocket(t, port);
  const established = h2sConnect(t, port);
  t.equal((await h2sRequest(established)).status, 200);
  t.ok(await connectionsReach(app, 2));
  const third = await closeOf(await rawSocket(t, port));
  t.ok(third.closed, "a third connection from the address is dropped");
  t.equal(third.received, "", "before any handshake");
  t.equal((await h2sRequest(h2sConnect(t, port, "127.0.0.2"))).status, 200, "another address is served");
  handshaking.destroy();
  t.ok(await connectionsReach(app, 2), "the handshaking one's slot is freed (the other address still holds one)");
  t.equal((await httpsGet(port)).status, 200, "so the address is served again");
  t.notOk(established.closed, "the established session is untouched");
});

t.test("at maxConnections, an idle TLS connection's slot is reclaimed for a newcomer", async (t) => {
  const { port } = await startTlsServer(t, { maxConnections: 1 });
  const idle = h2sConnect(t, port);
  t.equal((await h2sRequest(idle)).status, 200);
  const closed = msUntil(idle, "close");
  t.equal((await httpsGet(port)).status, 200, "the newcomer is served");
  t.ok(Number.isFinite(await closed), "the idle session was closed for it");
});

t.test("an idle TLS h2 session is closed gracefully (GOAWAY) no earlier than http2SessionIdleTimeoutMs", async (t) => {
  const idleMs = 200;
  const { port } = await startTlsServer(t, { http2SessionIdleTimeoutMs: idleMs });
  const session = h2sConnect(t, port);
  let goaway: number | undefined;
  session.once("goaway", (code: number) => (goaway = code));
  const start = performance.now();
  const closing = msUntil(session, "close", start);
  t.equal((await h2sRequest(session)).status, 200);
  const ms = await closing;
  t.ok(Number.isFinite(ms) && ms >= idleMs - TOLERANCE_MS, `closed when idle (${ms.toFixed(0)} ms)`);
  t.equal(goaway, http2.constants.NGHTTP2_NO_ERROR);
});

t.test("an idle TLS HTTP/1.1 keep-alive connection is closed no earlier than keepAliveTimeoutMs", async (t) => {
  const keepAliveTimeoutMs = 200;
  const { port } = await startTlsServer(t, { keepAliveTimeoutMs });
  const socket = await tlsSocket(t, port, ["http/1.1"]);
  const closing = closeOf(socket);
  socket.write("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
  const { closed, ms, received } = await closing;
  t.match(received, /^HTTP\/1\.1 200 .*Connection: keep-alive/s);
  t.ok(closed && ms >= keepAliveTimeoutMs - TOLERANCE_MS, `closed when idle (${ms.toFixed(0)} ms)`);
});

t.test("a TLS h2 session that opens no stream is closed after headersTimeoutMs", async (t) => {
  const headersTimeoutMs = 300;
  const { port } = await startTlsServer(t, { headersTimeoutMs, requestTimeoutMs: headersTimeoutMs });
  const start = performance.now();
  const silent = h2sConnect(t, port);
  const goaway = await msUntil(silent, "goaway", start);
  t.ok(Number.isFinite(goaway) && goaway >= headersTimeoutMs - TOLERANCE_MS, `GOAWAY (${goaway.toFixed(0)} ms)`);
});

t.test("the HTTP/2 stream budget refuses TLS streams past http2MaxStreamsPerAddress (REFUSED_STREAM)", async (t) => {
  const { port, held } = await startTlsServer(t, { http2MaxStreamsPerAddress: 2 });
  const [a, b] = [h2sConnect(t, port), h2sConnect(t, port)];
  const answers = [h2sRequest(a, "/held"), h2sRequest(b, "/held")];
  t.ok(await held.waiting(2));
  const refused = await h2sRequest(b);
  t.equal(refused.rstCode, http2.constants.NGHTTP2_REFUSED_STREAM);
  held.release();
  t.same((await Promise.all(answers)).map((r) => r.status), [200, 200]);
  t.equal((await h2sRequest(b)).status, 200, "budget given back");
});

t.test("a TLS h2 stream still sending its body at bodyTimeoutMs is cancelled; its session lives on", async (t) => {
  const { port } = await startTlsServer(t, { bodyTimeoutMs: 200 });
  const session = h2sConnect(t, port);
  const req = session.request({ ":method": "POST", ":path": "/echo", "content-type": "application/json" });
  req.on("error", () => {});
  req.write("{");
  await once(req, "close");
  t.equal(req.rstCode, http2.constants.NGHTTP2_CANCEL);
  t.equal((await h2sRequest(session)).status, 200);
});

t.test("setSecureContext: new connections get the new certificate, an open session keeps serving", async (t) => {
  const { app, port, held } = await startTlsServer(t);
  const server = app.server as unknown as DualProtocolServer;
  const open = h2sConnect(t, port);
  const inFlight = h2sRequest(open, "/held");
  t.ok(await held.waiting(1));
  server.setSecureContext(pki.second);
  t.equal(server.servedPair(), pki.second);
  t.equal((await httpsGet(port)).fingerprint256, pki.second.fingerprint256, "a new connection sees the second certificate");
  t.equal((open.socket as tls.TLSSocket).getPeerCertificate().fingerprint256, pki.first.fingerprint256, "the open one still has the first");
  held.release();
  t.equal((await inFlight).status, 200, "its call finished");
  t.equal((await h2sRequest(open)).status, 200, "and it serves more");
  t.throws(() => server.setSecureContext({ cert: pki.first.cert, key: pki.second.key }), "a mismatched pair is refused by OpenSSL");
  t.equal((await httpsGet(port)).fingerprint256, pki.second.fingerprint256, "and the second stays");
});

t.test("a cleartext server has no certificate to replace", async (t) => {
  const { app } = await startDualServer(t);
  const server = app.server as unknown as DualProtocolServer;
  t.equal(server.secure, false);
  t.equal(server.servedPair(), undefined);
  t.throws(() => server.setSecureContext(pki.first), { message: /created without TLS/ });
});

t.test("app.close() does not wait for sockets still in their handshake", async (t) => {
  const { app, port } = await startTlsServer(t);
  const socket = await rawSocket(t, port);
  t.ok(await connectionsReach(app, 1));
  const closing = closeOf(socket);
  await app.close();
  t.ok((await closing).closed);
});

t.test("wrappedSocket finds the TCP socket under a TLS socket, and nothing on an object without one", async (t) => {
  t.equal(wrappedSocket({}), undefined);
  t.equal(wrappedSocket({ _parent: null }), undefined);
  const raw = new net.Socket();
  t.equal(wrappedSocket({ _parent: raw }), raw);
});

t.test("a secure socket that cannot be matched to its TCP socket is not served", async (t) => {
  let served = 0;
  const front = createTlsFront(pki.first, () => served++, () => undefined);
  const server = net.createServer((raw) => front.accept(raw, "context"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => server.close());
  const socket = tls.connect({ port: (server.address() as net.AddressInfo).port, host: "127.0.0.1", ca: pki.ca });
  socket.on("error", () => {});
  const closing = closeOf(socket);
  t.ok((await closing).closed, "closed by the server");
  t.equal(served, 0);
});
