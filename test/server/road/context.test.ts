import t, { type Test } from "tap";
import { EventEmitter, once } from "node:events";
import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import { Code, ConnectError } from "@connectrpc/connect";
import { createRoadContext, type RoadContext } from "../../../src/server/road/context.js";
import type { RawResponse } from "../../../src/server/road/respond.js";
import { startPlainServer } from "../../fixtures/plain-http.js";

const NO_CLIENT = { ip: undefined, observedIp: undefined };

/** A stand-in response: what the context uses of one is its `close` event and `writableEnded`. */
function fakeResponse(): EventEmitter & { writableEnded: boolean; raw: RawResponse } {
  const emitter = new EventEmitter();
  return Object.assign(emitter, { writableEnded: false, raw: emitter as unknown as RawResponse });
}

/** Timers the process has running (synchronous: no waiting involved). */
const activeTimers = () => process.getActiveResourcesInfo().filter((name) => name === "Timeout").length;

function abortedWith(t: Test, signal: AbortSignal, code: Code, message: string) {
  t.equal(signal.aborted, true, "aborted");
  t.ok(signal.reason instanceof ConnectError, "the reason is a ConnectError");
  t.equal(Code[(signal.reason as ConnectError).code], Code[code], Code[code]);
  t.equal((signal.reason as ConnectError).rawMessage, message);
}

t.test("the context carries the client IP it was made with, and no deadline until the road sets one", async (t) => {
  const res = fakeResponse();
  const known = createRoadContext({}, res.raw, { ip: "2001:db8::1", observedIp: "2606:4700::1" });
  t.equal(known.clientIp, "2001:db8::1");
  t.equal(known.observedIp, "2606:4700::1", "the observed address is the resolver's");
  const unknown = createRoadContext({}, res.raw, NO_CLIENT);
  t.equal(unknown.clientIp, undefined);
  t.equal(unknown.timeoutMs, undefined);
});

t.test("the abort signal is made only when asked for, once, with one close listener", async (t) => {
  const res = fakeResponse();
  const before = activeTimers();
  const ctx = createRoadContext({}, res.raw, NO_CLIENT);
  ctx.timeoutMs = 60_000;
  t.equal(res.listenerCount("close"), 0, "nothing listens before the signal is asked for");
  t.equal(activeTimers(), before, "and no timer runs");
  const signal = ctx.signal;
  t.equal(signal.aborted, false);
  t.equal(ctx.signal, signal, "the same signal every time");
  t.equal(res.listenerCount("close"), 1, "one close listener");
  t.equal(activeTimers(), before + 1, "one deadline timer");
  ctx.dispose();
});

t.test("dispose without a signal ever made touches nothing", async (t) => {
  const res = fakeResponse();
  const ctx = createRoadContext({}, res.raw, NO_CLIENT);
  ctx.timeoutMs = 1000;
  ctx.dispose();
  t.equal(res.listenerCount("close"), 0);
  res.emit("close");
  t.doesNotThrow(() => ctx.dispose(), "disposing twice is harmless");
});

t.test("a deadline already passed aborts the signal at once with deadline_exceeded", async (t) => {
  for (const timeoutMs of [0, -5]) {
    const res = fakeResponse();
    const before = activeTimers();
    const ctx = createRoadContext({}, res.raw, NO_CLIENT);
    ctx.timeoutMs = timeoutMs;
    abortedWith(t, ctx.signal, Code.DeadlineExceeded, "the operation timed out");
    t.equal(activeTimers(), before, `${timeoutMs} ms: no timer started`);
    ctx.dispose();
  }
});

t.test("a deadline ahead is a timer that dispose clears, with the signal left alone", async (t) => {
  const res = fakeResponse();
  const before = activeTimers();
  const ctx = createRoadContext({}, res.raw, NO_CLIENT);
  ctx.timeoutMs = 3_600_000;
  const signal = ctx.signal;
  t.equal(activeTimers(), before + 1, "the deadline timer runs");
  t.equal(signal.aborted, false, "not aborted before the deadline");
  ctx.dispose();
  t.equal(activeTimers(), before, "dispose cleared it");
  t.equal(signal.aborted, false, "and did not abort the signal");
});

t.test("without a deadline no timer runs", async (t) => {
  const res = fakeResponse();
  const before = activeTimers();
  const ctx = createRoadContext({}, res.raw, NO_CLIENT);
  t.equal(ctx.signal.aborted, false);
  t.equal(activeTimers(), before);
  ctx.dispose();
});

t.test("the deadline the signal uses is the one set before the signal is first asked for", async (t) => {
  const res = fakeResponse();
  const ctx = createRoadContext({}, res.raw, NO_CLIENT);
  const signal = ctx.signal;
  ctx.timeoutMs = 0;
  t.equal(ctx.signal.aborted, false, "a deadline set afterwards does not reach the signal already made");
  t.equal(ctx.signal, signal);
  ctx.dispose();
});

t.test("a response closed before it ended aborts the signal with canceled", async (t) => {
  const res = fakeResponse();
  const ctx = createRoadContext({}, res.raw, NO_CLIENT);
  const signal = ctx.signal;
  res.emit("close");
  abortedWith(t, signal, Code.Canceled, "the client went away");
  ctx.dispose();
});

t.test("a response closed after it ended does not abort the signal", async (t) => {
  const res = fakeResponse();
  const ctx = createRoadContext({}, res.raw, NO_CLIENT);
  const signal = ctx.signal;
  res.writableEnded = true;
  res.emit("close");
  t.equal(signal.aborted, false);
  ctx.dispose();
});

t.test("after dispose no listener remains and a later close aborts nothing", async (t) => {
  const res = fakeResponse();
  const ctx = createRoadContext({}, res.raw, NO_CLIENT);
  ctx.timeoutMs = 60_000;
  const signal = ctx.signal;
  ctx.dispose();
  t.equal(res.listenerCount("close"), 0);
  res.emit("close");
  t.equal(signal.aborted, false);
});

t.test("with a real response, a client that goes away before the answer aborts the handler's signal", async (t) => {
  let made: (ctx: RoadContext) => void = () => {};
  const context = new Promise<RoadContext>((resolve) => (made = resolve));
  const server = await startPlainServer(t, (req, res: ServerResponse) => {
    made(createRoadContext(req.headers, res, { ip: req.socket.remoteAddress, observedIp: undefined }));
  });
  const req = server.request({ "content-length": 0 });
  req.on("error", () => {}); // cut on purpose below
  req.end();
  const ctx = await context;
  t.equal(ctx.clientIp, "127.0.0.1");
  const aborted = once(ctx.signal, "abort");
  req.destroy();
  await aborted;
  abortedWith(t, ctx.signal, Code.Canceled, "the client went away");
  ctx.dispose();
});

t.test("with a real response, the close after the answer aborts nothing", async (t) => {
  let ctx: RoadContext | undefined;
  let closed: Promise<unknown[]> | undefined;
  const server = await startPlainServer(t, (req, res: ServerResponse) => {
    ctx = createRoadContext(req.headers, res, NO_CLIENT);
    void ctx.signal;
    closed = once(res, "close");
    res.end("done");
  });
  const req = server.request({ "content-length": 0 });
  req.end();
  const [response] = (await once(req, "response")) as [NodeJS.ReadableStream];
  response.resume();
  await once(response, "end");
  await closed;
  t.equal(ctx?.signal.aborted, false);
  ctx?.dispose();
});

t.test("request headers are read case-insensitively, the first value of a list", async (t) => {
  const headers: IncomingHttpHeaders = { "x-trace-id": "abc", "set-cookie": ["a=1", "b=2"], "content-type": "application/json" };
  const ctx = createRoadContext(headers, fakeResponse().raw, NO_CLIENT);
  t.equal(ctx.requestHeader("x-trace-id"), "abc");
  t.equal(ctx.requestHeader("X-Trace-Id"), "abc");
  t.equal(ctx.requestHeader("CONTENT-TYPE"), "application/json");
  t.equal(ctx.requestHeader("Set-Cookie"), "a=1", "the first of a list");
  t.equal(ctx.requestHeader("x-absent"), undefined);
});

t.test("response headers set by the handler are collected under lower-case names, the last value winning", async (t) => {
  const ctx = createRoadContext({}, fakeResponse().raw, NO_CLIENT);
  t.equal(ctx.responseHeaders, undefined, "none until one is set");
  ctx.setResponseHeader("X-Served-By", "node-1");
  ctx.setResponseHeader("Retry-After", "5");
  ctx.setResponseHeader("retry-after", "7");
  t.same(ctx.responseHeaders, { "x-served-by": "node-1", "retry-after": "7" });
});
