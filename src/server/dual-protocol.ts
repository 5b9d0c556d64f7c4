// One listening port for HTTP/1.1 and cleartext HTTP/2 with prior knowledge (h2c).
//
// Node cannot do this by itself: `http2.createServer({ allowHTTP1: true })` only
// honours allowHTTP1 behind TLS/ALPN, and a plain h2c server answers HTTP/1.1
// with SETTINGS + GOAWAY. So a plain TCP server accepts every socket, reads the
// first bytes, and hands the socket to a non-listening http.Server or
// http2.Server. A client speaking h2 with prior knowledge must open with the
// fixed 24-byte preface; anything else is HTTP/1.1.
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { FastifyServerFactory } from "fastify";
import { addressKey, normalizeIp } from "../net/address.js";

/** Tuning for {@link createDualProtocolServerFactory}; the daemon takes every value from its configuration. */
export interface DualProtocolOptions {
  /**
   * Milliseconds a new socket may take to send enough bytes to tell HTTP/1.1
   * from h2c (1 byte for HTTP/1.1, 24 for h2c) before it is destroyed. The
   * deadline counts from accept, so trickling bytes does not extend it.
   * 0 disables it.
   */
  readonly sniffTimeoutMs: number;
  /**
   * HTTP/1.1: milliseconds an idle keep-alive socket stays open, as advertised
   * in `Keep-Alive: timeout=`. Node closes the socket 1 s later than this on
   * purpose (clients close first, avoiding ECONNRESET races).
   */
  readonly keepAliveTimeoutMs: number;
  /** HTTP/1.1: milliseconds allowed to receive the request headers. 0 disables. */
  readonly headersTimeoutMs: number;
  /** HTTP/1.1: milliseconds allowed to receive the whole request. 0 disables. */
  readonly requestTimeoutMs: number;
  /** HTTP/1.1: maximum size of the request headers, in bytes. */
  readonly maxHeaderSize: number;
  /** HTTP/2: milliseconds without activity after which a session is closed gracefully (GOAWAY). 0 disables. */
  readonly http2SessionIdleTimeoutMs: number;
  /** HTTP/2: SETTINGS_MAX_CONCURRENT_STREAMS advertised to clients, per session. */
  readonly http2MaxConcurrentStreams: number;
  /** HTTP/2: SETTINGS_MAX_HEADER_LIST_SIZE advertised to clients, in bytes. */
  readonly http2MaxHeaderListSize: number;
  /** Maximum open TCP connections over both protocols; extra sockets are destroyed at once. 0 = unlimited. */
  readonly maxConnections: number;
  /**
   * Maximum open TCP connections from one client address (IPv6: one /64), so
   * one host cannot take every slot of `maxConnections`. 0 = unlimited.
   */
  readonly maxConnectionsPerAddress: number;
}

/** Options that are not numbers. */
export interface DualProtocolHooks {
  /** Addresses exempt from `maxConnectionsPerAddress` (trusted proxies: all their clients share the address). */
  isExempt?: (ip: string) => boolean;
}

/** What the factory really returns: a TCP server plus the hooks Fastify's close logic looks for. */
export type DualProtocolServer = net.Server & {
  /** Destroys sockets still being sniffed and idle HTTP/1.1 keep-alive sockets. */
  closeIdleConnections(): void;
  /** Destroys every socket: sniffing, HTTP/1.1 and HTTP/2 sessions (Fastify calls this for `forceCloseConnections: true`). */
  closeAllConnections(): void;
  /** Sends GOAWAY to every HTTP/2 session; open streams may finish. */
  closeHttp2Sessions(): void;
};

const OPTION_NAMES = [
  "sniffTimeoutMs",
  "keepAliveTimeoutMs",
  "headersTimeoutMs",
  "requestTimeoutMs",
  "maxHeaderSize",
  "http2SessionIdleTimeoutMs",
  "http2MaxConcurrentStreams",
  "http2MaxHeaderListSize",
  "maxConnections",
  "maxConnectionsPerAddress",
] as const satisfies readonly (keyof DualProtocolOptions)[];

/** How long an idle HTTP/2 session may take to close gracefully before it is destroyed. */
const IDLE_CLOSE_GRACE_MS = 2_000;

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/**
 * Returns a Fastify `serverFactory` that serves HTTP/1.1 and h2c on one port:
 * `fastify({ serverFactory: createDualProtocolServerFactory() })`.
 * Fastify's own timeout options (`keepAliveTimeout`, `http2SessionTimeout`, ...)
 * do not reach servers built by a factory; use the options here instead.
 * Throws a RangeError listing every invalid option.
 */
export function createDualProtocolServerFactory(
  options: DualProtocolOptions,
  hooks: DualProtocolHooks = {},
): FastifyServerFactory<http.Server> {
  const resolved = resolveOptions(options);
  // Fastify's types insist the factory returns an http.Server and hands it an
  // HTTP/1-typed handler. At runtime Fastify only calls listen/close/address and
  // the close hooks on the returned server, and its handler accepts both
  // request flavours (it is what `fastify({ http2: true })` uses too).
  return (handler) => createDualProtocolServer(handler, resolved, hooks) as unknown as http.Server;
}

function createDualProtocolServer(
  handler: http.RequestListener,
  o: DualProtocolOptions,
  hooks: DualProtocolHooks,
): DualProtocolServer {
  const h1 = http.createServer(
    {
      keepAliveTimeout: o.keepAliveTimeoutMs,
      headersTimeout: o.headersTimeoutMs,
      requestTimeout: o.requestTimeoutMs,
      maxHeaderSize: o.maxHeaderSize,
      // Node enforces headers/request timeouts from a periodic check (default
      // every 30 s), so a 30 s headersTimeout could take up to 60 s. Check at
      // half the smallest timeout instead.
      connectionsCheckingInterval: checkingIntervalMs(o),
    },
    handler,
  );
  const h2Handler = handler as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;
  const h2 = http2.createServer(
    {
      settings: {
        maxConcurrentStreams: o.http2MaxConcurrentStreams,
        maxHeaderListSize: o.http2MaxHeaderListSize,
      },
    },
    // Node advertises SETTINGS_MAX_HEADER_LIST_SIZE but accepts larger header
    // lists (up to its own ~64 KiB): the limit is enforced here, as HTTP/1.1's
    // parser does, with a 431. (An unread request body: Node resets the stream
    // with NO_ERROR once the answer is out.)
    (req, res) => {
      if (headerListSize(req.rawHeaders) > o.http2MaxHeaderListSize) {
        res.writeHead(431, { "content-length": "0" });
        res.end();
        return;
      }
      h2Handler(req, res);
    },
  );

  // The h1 server enforces requestTimeout itself; an h2 stream only has the
  // session's idle timer, which any activity on any stream resets. So each
  // stream gets a deadline for its request: cancelled (RST_STREAM) unless the
  // client has finished sending by then.
  if (o.requestTimeoutMs > 0) {
    h2.on("stream", (stream) => {
      // A request without a body (GET) was complete with its headers: nothing to wait for.
      // (Its readable side never emits 'end' when nobody reads it.)
      if (stream.endAfterHeaders) return;
      const deadline = setTimeout(() => {
        if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
      }, o.requestTimeoutMs);
      const clear = () => clearTimeout(deadline);
      stream.once("end", clear);
      stream.once("close", clear);
    });
  }

  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    if (o.http2SessionIdleTimeoutMs > 0) {
      // Graceful first (GOAWAY). But a session can stop reading its socket for
      // good (a handler that answers before reading a large body leaves the
      // stream's data unconsumed), and then a graceful close never completes:
      // destroy it if it is still open a little later.
      session.setTimeout(o.http2SessionIdleTimeoutMs, () => {
        session.close();
        setTimeout(() => {
          if (!session.destroyed) session.destroy();
        }, IDLE_CLOSE_GRACE_MS).unref();
      });
    }
  });

  // Sockets not yet handed over belong to neither h1 nor h2, so only we can
  // close them when the app shuts down.
  const sniffing = new Set<net.Socket>();
  // allowHalfOpen and noDelay match what http.createServer uses for its own sockets.
  const perAddress = new Map<string, number>();
  const front = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    if (o.maxConnectionsPerAddress > 0 && !admit(socket)) return;
    sniffing.add(socket);
    let received: Buffer = Buffer.alloc(0);
    const deadline =
      o.sniffTimeoutMs > 0 ? setTimeout(() => socket.destroy(), o.sniffTimeoutMs) : undefined;
    const stopSniffing = () => {
      clearTimeout(deadline);
      sniffing.delete(socket);
      socket.removeListener("data", onData);
      socket.removeListener("error", onError);
      socket.removeListener("end", onEnd);
      socket.removeListener("close", stopSniffing);
    };
    // Without an 'error' listener an ECONNRESET here would crash the process.
    const onError = () => socket.destroy();
    // Fewer bytes than a decision needs can never become a valid request.
    const onEnd = () => socket.destroy();
    function onData(chunk: Buffer) {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      let protocol = classify(received);
      // Unreachable (24 matching bytes decide h2), but never buffer without bound.
      if (protocol === undefined && received.length >= PREFACE.length) protocol = "h1";
      if (protocol === undefined) return;
      stopSniffing();
      // Give the bytes back so the chosen server parses the stream from byte 0.
      socket.pause();
      socket.unshift(received);
      if (protocol === "h2") {
        // Like sockets of http2.createServer: a client FIN closes the socket.
        socket.allowHalfOpen = false;
        // No resume(): the Http2Session replays socket.readableLength itself on
        // the next tick; resuming would let the stream swallow those bytes
        // and the client would see a framing error.
        h2.emit("connection", socket);
      } else {
        h1.emit("connection", socket);
        // http.Server never resumes a paused socket; without this it hangs.
        socket.resume();
      }
    }
    socket.on("data", onData);
    socket.on("error", onError);
    socket.on("end", onEnd);
    socket.on("close", stopSniffing);
  });
  if (o.maxConnections > 0) front.maxConnections = o.maxConnections;

  /** Counts the socket against its address; destroys it and returns false when the address is at its cap. */
  function admit(socket: net.Socket): boolean {
    const ip = normalizeIp(socket.remoteAddress);
    if (ip === undefined || hooks.isExempt?.(ip) === true) return true;
    const key = addressKey(ip);
    const open = perAddress.get(key) ?? 0;
    if (open >= o.maxConnectionsPerAddress) {
      socket.destroy();
      return false;
    }
    perAddress.set(key, open + 1);
    socket.once("close", () => {
      const left = (perAddress.get(key) ?? 1) - 1;
      if (left <= 0) perAddress.delete(key);
      else perAddress.set(key, left);
    });
    return true;
  }

  // http.Server starts connection tracking (closeIdleConnections,
  // closeAllConnections, the headers/request timeout checker) only on its own
  // 'listening' event, which a server that never listens does not get.
  front.on("listening", () => h1.emit("listening"));
  // h1 reports parse errors and 408s as 'clientError' on itself, but Fastify
  // listens on the server it was given. With no listener there, fall back to
  // what Node does without one: drop the socket.
  h1.on("clientError", (err: Error, socket: net.Socket) => {
    if (!front.emit("clientError", err, socket)) socket.destroy();
  });

  const destroySniffing = () => {
    for (const socket of sniffing) socket.destroy();
  };
  const closeIdleConnections = () => {
    destroySniffing();
    h1.closeIdleConnections();
  };
  const netClose = front.close.bind(front);
  return Object.assign(front, {
    closeIdleConnections,
    closeAllConnections: () => {
      destroySniffing();
      h1.closeAllConnections();
      for (const session of sessions) session.destroy();
    },
    closeHttp2Sessions: () => {
      for (const session of sessions) session.close();
    },
    // http.Server#close also drops idle keep-alive sockets and stops the
    // timeout checker; do the same so close() finishes even with
    // `forceCloseConnections: false`.
    close: (callback?: (err?: Error) => void) => {
      closeIdleConnections();
      h1.close();
      return netClose(callback);
    },
  });
}

/** A header list's size as HTTP/2 counts it (RFC 9113 6.5.2): name and value octets plus 32 per field. */
function headerListSize(rawHeaders: readonly string[]): number {
  let size = 0;
  for (const field of rawHeaders) size += Buffer.byteLength(field);
  return size + (rawHeaders.length / 2) * 32;
}

function checkingIntervalMs(o: DualProtocolOptions): number {
  const enabled = [o.headersTimeoutMs, o.requestTimeoutMs].filter((ms) => ms > 0);
  if (enabled.length === 0) return 30_000; // Node's default; nothing to enforce
  return Math.min(30_000, Math.max(10, Math.floor(Math.min(...enabled) / 2)));
}

/** "h1" as soon as the bytes leave the preface, "h2" once all 24 match, undefined while unsure. */
function classify(received: Buffer): "h1" | "h2" | undefined {
  const n = Math.min(received.length, PREFACE.length);
  if (received.compare(PREFACE, 0, n, 0, n) !== 0) return "h1";
  return received.length >= PREFACE.length ? "h2" : undefined;
}

function resolveOptions(options: DualProtocolOptions): DualProtocolOptions {
  const resolved = { ...options };
  const problems: string[] = [];
  for (const key of OPTION_NAMES) {
    const value = options[key];
    if (!Number.isSafeInteger(value) || value < 0) {
      problems.push(`${key} must be a non-negative integer, got ${String(value)}`);
    }
  }
  for (const key of ["maxHeaderSize", "http2MaxHeaderListSize", "http2MaxConcurrentStreams"] as const) {
    if (resolved[key] === 0) problems.push(`${key} must be at least 1, got 0`);
  }
  // Node rejects this combination in http.createServer; say it in our terms.
  if (resolved.requestTimeoutMs > 0 && resolved.headersTimeoutMs > resolved.requestTimeoutMs) {
    problems.push(
      `headersTimeoutMs (${resolved.headersTimeoutMs}) must not exceed requestTimeoutMs (${resolved.requestTimeoutMs})`,
    );
  }
  if (problems.length > 0) throw new RangeError(`invalid dual-protocol options: ${problems.join("; ")}`);
  return resolved;
}
