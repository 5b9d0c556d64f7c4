import t, { type Test } from "tap";
import { EventEmitter, once } from "node:events";
import type { ClientRequest, IncomingMessage } from "node:http";
import { Code, ConnectError } from "@connectrpc/connect";
import { readBody, tooLarge, type RawRequest, type ReadLimits } from "../../../src/server/road/body.js";
import { responseOf, startPlainServer } from "../../fixtures/plain-http.js";

interface Read {
  readonly req: IncomingMessage;
  /** What readBody gave: the body, or the error it rejected with. */
  readonly result: Promise<Buffer | unknown>;
}

/**
 * A server that reads every request with readBody(req, limits(req)) and
 * answers 200 with the body or 400 with the error's message. `read()`
 * resolves with the next request's read; `arrived()` once the server got
 * the next chunk (readBody has seen it by then).
 */
async function startReader(t: Test, limits: (req: IncomingMessage) => ReadLimits) {
  const events = new EventEmitter();
  const server = await startPlainServer(t, (req, res) => {
    const result = readBody(req, limits(req)).then(
      (body) => {
        res.writeHead(200).end(body);
        return body;
      },
      (error: unknown) => {
        res.writeHead(400).end(error instanceof Error ? error.message : String(error));
        return error;
      },
    );
    req.on("data", (chunk: Buffer) => events.emit("chunk", chunk));
    events.emit("read", { req, result } satisfies Read);
  });
  return {
    ...server,
    read: async (): Promise<Read> => ((await once(events, "read")) as [Read])[0],
    arrived: async (): Promise<Buffer> => ((await once(events, "chunk")) as [Buffer])[0],
    /** Writes `chunk` and resolves once the server has it. */
    async send(req: ClientRequest, chunk: Buffer): Promise<void> {
      const arrived = once(events, "chunk");
      req.write(chunk);
      await arrived;
    },
  };
}

/** A request that the test cuts on purpose: its errors are expected. */
function cut(req: ClientRequest): ClientRequest {
  req.on("error", () => {});
  return req;
}

function connectError(t: Test, value: unknown, code: Code, message: string, what = "") {
  t.ok(value instanceof ConnectError, `${what} a ConnectError`.trim());
  if (!(value instanceof ConnectError)) return;
  t.equal(Code[value.code], Code[code], `${what} ${Code[code]}`.trim());
  t.equal(value.rawMessage, message, `${what} ${message}`.trim());
}

const bytes = (length: number, fill = 0x61) => Buffer.alloc(length, fill);

t.test("connect-es's message for a message over the limit, with and without its declared size", async (t) => {
  connectError(t, tooLarge(1000), Code.ResourceExhausted, "message size is larger than configured readMaxBytes 1000");
  connectError(t, tooLarge(1000, 5000), Code.ResourceExhausted, "message size 5000 is larger than configured readMaxBytes 1000");
});

t.test("a body sent in many chunks is read whole and in order", async (t) => {
  const server = await startReader(t, () => ({ maxBytes: 1000 }));
  const read = server.read();
  const req = server.request({ "content-type": "application/proto" });
  const expected: Buffer[] = [];
  for (let i = 0; i < 20; i++) {
    const chunk = bytes(10 + i, 0x41 + i);
    expected.push(chunk);
    await server.send(req, chunk);
  }
  req.end();
  const { result } = await read;
  t.same(await result, Buffer.concat(expected));
  const answer = await responseOf(req);
  t.equal(answer.status, 200);
});

t.test("a body with a true Content-Length is read, whether in one chunk or none", async (t) => {
  const server = await startReader(t, (req) => ({ maxBytes: 1000, declaredLength: req.headers["content-length"] }));
  for (const body of [Buffer.from("one piece"), bytes(1000), Buffer.alloc(0)]) {
    const read = server.read();
    const req = server.request({ "content-length": body.byteLength });
    req.end(body);
    t.same(await (await read).result, body, `${body.byteLength} bytes`);
    t.equal((await responseOf(req)).status, 200);
  }
});

t.test("a declared Content-Length over the limit is refused at once, before the body is sent", async (t) => {
  const server = await startReader(t, (req) => ({ maxBytes: 1000, declaredLength: req.headers["content-length"] }));
  const read = server.read();
  const req = cut(server.request({ "content-length": 5000 }));
  req.flushHeaders();
  const { result } = await read;
  connectError(t, await result, Code.ResourceExhausted, "message size 5000 is larger than configured readMaxBytes 1000");
  const answer = await responseOf(req);
  t.equal(answer.status, 400, "answered while the client has sent no byte of the body");
  req.destroy();
});

t.test("a declared Content-Length of exactly the limit is read", async (t) => {
  const server = await startReader(t, (req) => ({ maxBytes: 1000, declaredLength: req.headers["content-length"] }));
  const read = server.read();
  const req = server.request({ "content-length": 1000 });
  req.end(bytes(1000));
  t.same(await (await read).result, bytes(1000));
  await responseOf(req);
});

t.test("without a declared length, a body over the limit is refused with connect-es's message as soon as it passes it", async (t) => {
  const server = await startReader(t, () => ({ maxBytes: 1000 }));
  const read = server.read();
  const req = cut(server.request());
  await server.send(req, bytes(600));
  await server.send(req, bytes(401));
  connectError(t, await (await read).result, Code.ResourceExhausted, "message size is larger than configured readMaxBytes 1000");
  t.equal((await responseOf(req)).status, 400, "answered while the client is still sending");
  req.destroy();
});

t.test("without a declared length, a body of exactly the limit is read", async (t) => {
  const server = await startReader(t, () => ({ maxBytes: 1000 }));
  const read = server.read();
  const req = server.request();
  await server.send(req, bytes(600));
  await server.send(req, bytes(400));
  req.end();
  t.same(await (await read).result, bytes(1000));
  await responseOf(req);
});

t.test("a body over the limit gets the custom overflow error when one is given", async (t) => {
  const extra = new ConnectError("protocol error: received extra input message for unary method", Code.InvalidArgument);
  const server = await startReader(t, (req) => ({ maxBytes: 10, overflow: () => extra, declaredLength: req.headers["x-declared"] as string | undefined }));
  const read = server.read();
  const req = cut(server.request());
  await server.send(req, bytes(11));
  t.equal(await (await read).result, extra, "the very error overflow() made");
  req.destroy();

  const declared = server.read();
  const refused = cut(server.request({ "x-declared": "11" }));
  refused.flushHeaders();
  connectError(t, await (await declared).result, Code.ResourceExhausted, "message size 11 is larger than configured readMaxBytes 10", "a declared length over the limit still gets connect-es's message:");
  refused.destroy();
});

t.test("the check hook sees the bytes after every chunk, and its refusal ends the read at once", async (t) => {
  const seen: { chunks: number; size: number; bytes: string }[] = [];
  const refusal = new ConnectError("message size 4294967295 is larger than configured readMaxBytes 100", Code.ResourceExhausted);
  const server = await startReader(t, () => ({
    maxBytes: 100,
    check: (received, size) => {
      seen.push({ chunks: received.length, size, bytes: Buffer.concat(received as Buffer[]).toString("hex") });
      if (size >= 5) throw refusal;
    },
  }));
  const read = server.read();
  const req = cut(server.request());
  await server.send(req, Buffer.from([0x00, 0xff, 0xff]));
  await server.send(req, Buffer.from([0xff, 0xff, 0x61]));
  t.equal(await (await read).result, refusal, "the hook's error, as thrown");
  t.same(seen, [
    { chunks: 1, size: 3, bytes: "00ffff" },
    { chunks: 2, size: 6, bytes: "00ffffffff61" },
  ]);
  t.equal((await responseOf(req)).status, 400, "answered while the client is still sending");
  req.destroy();
});

t.test("the charge hook is charged every chunk before it is kept, and its refusal ends the read at once", async (t) => {
  const charged: number[] = [];
  const refusal = new ConnectError("too many unfinished requests from your address", Code.ResourceExhausted);
  const server = await startReader(t, () => ({
    maxBytes: 100,
    charge: (n) => {
      if (charged.reduce((a, b) => a + b, 0) + n > 5) throw refusal;
      charged.push(n);
    },
  }));
  const read = server.read();
  const req = cut(server.request());
  await server.send(req, bytes(3));
  await server.send(req, bytes(4));
  t.equal(await (await read).result, refusal, "the hook's error, as thrown");
  t.same(charged, [3], "the refused chunk was not charged");
  t.equal((await responseOf(req)).status, 400, "answered while the client is still sending");
  req.destroy();
});

t.test("a client that goes away in the middle of the body ends the read with canceled", async (t) => {
  const server = await startReader(t, () => ({ maxBytes: 1000 }));
  const read = server.read();
  const req = cut(server.request({ "content-length": 100 }));
  await server.send(req, bytes(10));
  req.destroy();
  connectError(t, await (await read).result, Code.Canceled, "the client closed the request");
});

/** A stand-in request: an event emitter the test drives chunk by chunk. */
function fakeRequest(): EventEmitter & { raw: RawRequest } {
  const emitter = new EventEmitter();
  return Object.assign(emitter, { raw: emitter as unknown as RawRequest });
}

const EVENTS = ["data", "end", "error", "aborted", "close"] as const;

function settle<T>(promise: Promise<T>): Promise<T | unknown> {
  return promise.catch((error: unknown) => error);
}

t.test("a body longer than its declared length is invalid_argument as soon as the extra byte arrives", async (t) => {
  const req = fakeRequest();
  const result = settle(readBody(req.raw, { maxBytes: 100, declaredLength: "3" }));
  req.emit("data", bytes(2));
  req.emit("data", bytes(3));
  connectError(t, await result, Code.InvalidArgument, "protocol error: promised 3 bytes, received 5");
});

t.test("a body shorter than its declared length is invalid_argument when it ends", async (t) => {
  const req = fakeRequest();
  const result = settle(readBody(req.raw, { maxBytes: 100, declaredLength: "10" }));
  req.emit("data", bytes(4));
  req.emit("end");
  connectError(t, await result, Code.InvalidArgument, "protocol error: promised 10 bytes, received 4");
});

t.test("a declared length that is not a plain decimal number is not held to", async (t) => {
  for (const declaredLength of ["", "abc", "-1", "1e3", "0x10", " 5", "5 ", "2.0"]) {
    const req = fakeRequest();
    const result = settle(readBody(req.raw, { maxBytes: 100, declaredLength }));
    req.emit("data", bytes(5));
    req.emit("end");
    t.same(await result, bytes(5), JSON.stringify(declaredLength));
  }
});

t.test("a request closed before its end (a stream reset without 'aborted') ends the read with canceled", async (t) => {
  const req = fakeRequest();
  const result = settle(readBody(req.raw, { maxBytes: 100 }));
  req.emit("data", bytes(4));
  req.emit("close");
  connectError(t, await result, Code.Canceled, "the client closed the request");
  t.equal(req.listenerCount("close"), 0, "no listener left");
});

t.test("a client gone before the read began is canceled at once: its events are over", async (t) => {
  for (const gone of [{ aborted: true }, { destroyed: true }]) {
    const req = Object.assign(fakeRequest(), gone);
    const error = await settle(readBody(req.raw, { maxBytes: 100 }));
    connectError(t, error, Code.Canceled, "the client closed the request", JSON.stringify(gone));
    t.equal(req.listenerCount("data"), 0, "nothing listened to");
  }
});

t.test("an error of the request stream ends the read with canceled, keeping the error as cause", async (t) => {
  const req = fakeRequest();
  const result = settle(readBody(req.raw, { maxBytes: 100 }));
  req.emit("data", bytes(4));
  const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
  req.emit("error", reset);
  const error = await result;
  connectError(t, error, Code.Canceled, "the request body could not be read");
  t.equal((error as ConnectError).cause, reset);
});

t.test("however the read ends, it leaves no listener on the request and ignores what comes after", async (t) => {
  const refuseAt = (limit: number) => (_received: readonly Buffer[], size: number) => {
    if (size > limit) throw new Error("refused by the check hook");
  };
  const endings: Record<string, { limits: ReadLimits; end: (req: EventEmitter) => void }> = {
    "the end of the body": { limits: { maxBytes: 100 }, end: (req) => req.emit("end") },
    "a stream error": { limits: { maxBytes: 100 }, end: (req) => req.emit("error", new Error("boom")) },
    "an abort": { limits: { maxBytes: 100 }, end: (req) => req.emit("aborted") },
    "a body over the limit": { limits: { maxBytes: 100 }, end: (req) => req.emit("data", bytes(200)) },
    "a body over its declared length": { limits: { maxBytes: 100, declaredLength: "20" }, end: (req) => req.emit("data", bytes(50)) },
    "a refusal of the check hook": { limits: { maxBytes: 100, check: refuseAt(5) }, end: (req) => req.emit("data", bytes(7)) },
  };
  for (const [name, { limits, end }] of Object.entries(endings)) {
    const req = fakeRequest();
    const result = settle(readBody(req.raw, limits));
    req.emit("data", bytes(1));
    for (const event of EVENTS) t.equal(req.listenerCount(event), 1, `${name}: one ${event} listener while reading`);
    end(req);
    const outcome = await result;
    for (const event of EVENTS) t.equal(req.listenerCount(event), 0, `${name}: no ${event} listener`);
    req.emit("data", bytes(1));
    req.emit("end");
    t.equal(await result, outcome, `${name}: later events change nothing`);
  }
});

t.test("every chunk is charged before it is kept; a charge that refuses ends the read with its error", async (t) => {
  const charged: number[] = [];
  const refusal = new ConnectError("over budget", Code.ResourceExhausted);
  const req = fakeRequest();
  const result = settle(
    readBody(req.raw, {
      maxBytes: 100,
      charge: (n) => {
        if (charged.length === 2) throw refusal;
        charged.push(n);
      },
    }),
  );
  req.emit("data", bytes(3));
  req.emit("data", bytes(4));
  req.emit("data", bytes(5));
  t.equal(await result, refusal, "the charge's error, as thrown");
  t.same(charged, [3, 4], "the first two chunks were charged");
});
