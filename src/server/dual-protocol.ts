// One listening port for HTTP/1.1 and cleartext HTTP/2 with prior knowledge (h2c).
//
// Node cannot do this by itself: `http2.createServer({ allowHTTP1: true })` only
// honours allowHTTP1 behind TLS/ALPN, and a plain h2c server answers HTTP/1.1
// with SETTINGS + GOAWAY. So a plain TCP server accepts every socket, reads the
// first bytes, and hands the socket to a non-listening http.Server or
// http2.Server. A client speaking h2 with prior knowledge must open with the
// fixed 24-byte preface; anything else is HTTP/1.1. With a certificate, the
// same port speaks TLS instead (./tls-front.ts): ALPN picks the server, and
// every budget and deadline below applies to the decrypted sockets as well.
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { FastifyServerFactory } from "fastify";
import { addressKey, normalizeIp } from "../net/address.js";
import { createConnectionSlots, isRefusal, type ConnectionSlot } from "./connection-slots.js";
import { headerListSize } from "./header-size.js";
import { createStreamBudget } from "./stream-budget.js";
import { createTlsFront, type TlsPair } from "./tls-front.js";

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
  /**
   * Milliseconds a request may take to send its body once its headers have
   * arrived, on both protocols (an HTTP/2 stream is cancelled, an HTTP/1.1
   * connection closed). Bodies are small, so this is short: it bounds how
   * long an unfinished request holds memory. 0 disables.
   */
  readonly bodyTimeoutMs: number;
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
  /** Maximum open TCP connections from one IPv6 /56 (a home or small site), so spreading over its /64s does not multiply the cap. 0 = unlimited. */
  readonly maxConnectionsPer56: number;
  /** Maximum open TCP connections from one IPv6 /48 (a site or a hosting block). 0 = unlimited. */
  readonly maxConnectionsPer48: number;
  /** HTTP/2: open streams over every connection; new streams beyond it are refused (RST_STREAM REFUSED_STREAM). 0 = unlimited. */
  readonly http2MaxStreamsTotal: number;
  /** HTTP/2: open streams from one client address (IPv6: a /64) over all its connections; beyond it refused likewise. 0 = unlimited. */
  readonly http2MaxStreamsPerAddress: number;
}

/** Options that are not numbers. */
export interface DualProtocolHooks {
  /** Addresses exempt from the per-address connection and stream caps (trusted proxies: all their clients share the address). */
  isExempt?: (ip: string) => boolean;
  /**
   * Serve TLS with this certificate chain and key (PEM) instead of cleartext:
   * ALPN offers `h2` and `http/1.1`; a client without ALPN gets HTTP/1.1.
   * Every budget and deadline applies as without TLS; the sniff deadline
   * covers the handshake instead.
   */
  tls?: TlsPair;
}

/** What the factory really returns: a TCP server plus the hooks Fastify's close logic looks for. */
export type DualProtocolServer = net.Server & {
  /** Destroys sockets still being sniffed and idle HTTP/1.1 keep-alive sockets. */
  closeIdleConnections(): void;
  /** Destroys every socket: sniffing, HTTP/1.1 and HTTP/2 sessions (Fastify calls this for `forceCloseConnections: true`). */
  closeAllConnections(): void;
  /** Sends GOAWAY to every HTTP/2 session; open streams may finish. */
  closeHttp2Sessions(): void;
  /** Open connections now (for metrics): all of them (sniffing ones included), the idle ones, and HTTP/2 sessions. */
  connectionStats(): { open: number; idle: number; http2Sessions: number };
  /** Whether it serves TLS (created with `hooks.tls`). */
  readonly secure: boolean;
  /**
   * Replaces the certificate and key for connections accepted from now on;
   * open connections keep theirs. Throws when OpenSSL refuses the pair, or
   * when the server was created without TLS.
   */
  setSecureContext(pair: TlsPair): void;
  /** The certificate and key new connections get; undefined without TLS. */
  servedPair(): TlsPair | undefined;
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
  "bodyTimeoutMs",
  "maxConnections",
  "maxConnectionsPerAddress",
  "maxConnectionsPer56",
  "maxConnectionsPer48",
  "http2MaxStreamsTotal",
  "http2MaxStreamsPerAddress",
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
  const slots = createConnectionSlots({
    maxConnections: o.maxConnections,
    caps: [
      { max: o.maxConnectionsPerAddress, ipv6PrefixBits: 64 },
      { max: o.maxConnectionsPer56, ipv6PrefixBits: 56 },
      { max: o.maxConnectionsPer48, ipv6PrefixBits: 48 },
    ],
    ...(hooks.isExempt === undefined ? {} : { isExempt: hooks.isExempt }),
  });
  const streams = createStreamBudget({ max: o.http2MaxStreamsTotal, maxPerAddress: o.http2MaxStreamsPerAddress });
  /** The slot of every socket handed to h1 (an h2 session's is in its state). */
  const h1Slots = new WeakMap<net.Socket, ConnectionSlot>();

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
    (req, res) => {
      // A request in flight: the connection is not idle (not reclaimable) until it is answered.
      const slot = h1Slots.get(req.socket);
      if (slot !== undefined) {
        slot.busy();
        res.once("close", () => slot.done());
      }
      if (o.bodyTimeoutMs > 0 && hasBody(req)) bodyDeadline(req, res, () => req.socket.destroy(), o.bodyTimeoutMs);
      handler(req, res);
    },
  );
  const h2Handler = handler as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;
  const sessionStates = new WeakMap<http2.ServerHttp2Session, SessionState>();
  const h2 = http2.createServer(
    {
      settings: {
        maxConcurrentStreams: o.http2MaxConcurrentStreams,
        maxHeaderListSize: o.http2MaxHeaderListSize,
      },
    },
    (req, res) => {
      const stream = req.stream;
      const state = sessionStates.get(stream.session as http2.ServerHttp2Session);
      if (state !== undefined) {
        // Streams are counted per address over all its connections, and in all.
        if (streams.open(state.streamKey) !== "ok") {
          stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
          stream.resume();
          return;
        }
        clearTimeout(state.firstStreamDeadline);
        state.slot.busy();
        stream.once("close", () => {
          streams.close(state.streamKey);
          state.slot.done();
        });
      }
      // Answered before the client finished sending (a refusal, a body over a
      // limit): RST_STREAM NO_ERROR tells it to stop (RFC 9113 8.1) and frees
      // the stream at once. Node does so itself only for a stream nobody read.
      // The answer is complete once its trailers are out: Node's compatibility
      // layer always sends trailers (from 'wantTrailers', after 'finish'), and
      // an RST_STREAM submitted in that same turn would overtake them.
      if (!stream.endAfterHeaders) {
        stream.once("wantTrailers", () => {
          setImmediate(() => {
            if (!stream.readableEnded && !stream.closed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
          });
        });
      }
      // Node advertises SETTINGS_MAX_HEADER_LIST_SIZE but accepts larger header
      // lists (up to its own ~64 KiB): the limit is enforced here, as HTTP/1.1's
      // parser does, with a 431. (An unread request body: Node resets the stream
      // with NO_ERROR once the answer is out.)
      if (headerListSize(req.rawHeaders) > o.http2MaxHeaderListSize) {
        res.writeHead(431, { "content-length": "0" });
        res.end();
        return;
      }
      // The session's idle timer is reset by any frame on any stream, so each
      // stream gets a deadline for its body: cancelled (RST_STREAM) unless the
      // client has finished sending by then. A request without a body (GET)
      // was complete with its headers.
      const deadlineMs = h2BodyDeadlineMs(o);
      if (deadlineMs > 0 && !stream.endAfterHeaders) {
        bodyDeadline(req, res, () => stream.close(http2.constants.NGHTTP2_CANCEL), deadlineMs);
      }
      h2Handler(req, res);
    },
  );

  const sessions = new Set<http2.ServerHttp2Session>();
  /** The slot of the socket being handed to h2: its session is created, and 'session' emitted, during that hand-over. */
  let handingOver: ConnectionSlot | undefined;
  h2.on("session", (session) => {
    sessions.add(session);
    const slot = handingOver;
    handingOver = undefined;
    if (slot !== undefined) {
      slot.reclaim = () => closeGracefully(session);
      const remote = normalizeIp(session.socket.remoteAddress);
      const exempt = remote === undefined || hooks.isExempt?.(remote) === true;
      const state: SessionState = {
        slot,
        streamKey: exempt ? undefined : addressKey(remote),
        // A session that opens no stream is held no longer than a request's headers may take.
        firstStreamDeadline: o.headersTimeoutMs > 0 ? setTimeout(() => closeGracefully(session), o.headersTimeoutMs) : undefined,
      };
      sessionStates.set(session, state);
      session.once("close", () => clearTimeout(state.firstStreamDeadline));
    }
    session.once("close", () => sessions.delete(session));
    if (o.http2SessionIdleTimeoutMs > 0) {
      session.setTimeout(o.http2SessionIdleTimeoutMs, () => closeGracefully(session));
    }
  });

  // Sockets not yet handed over belong to neither h1 nor h2, so only we can
  // close them when the app shuts down. (With TLS: the TCP socket, which
  // takes the TLS socket over it down with it.)
  const sniffing = new Set<net.Socket>();
  const secure =
    hooks.tls === undefined
      ? undefined
      : createTlsFront<Admission>(hooks.tls, (socket, admission, negotiated) => handOver(socket, negotiated, admission));
  // allowHalfOpen and noDelay match what http.createServer uses for its own sockets.
  const front = net.createServer({ allowHalfOpen: true, noDelay: true }, (raw) => {
    const admitted = slots.admit(normalizeIp(raw.remoteAddress), () => raw.destroy());
    if (isRefusal(admitted)) {
      raw.destroy();
      return;
    }
    const slot = admitted;
    raw.once("close", () => slot.release());
    sniffing.add(raw);
    // One deadline from accept to the hand-over: for sniffing, or for the TLS handshake.
    const admission: Admission = {
      slot,
      raw,
      deadline: o.sniffTimeoutMs > 0 ? setTimeout(() => raw.destroy(), o.sniffTimeoutMs) : undefined,
    };
    raw.once("close", () => {
      clearTimeout(admission.deadline);
      sniffing.delete(raw);
    });
    if (secure === undefined) {
      sniff(raw, admission);
      return;
    }
    // As on Node's HTTPS servers: a client's FIN closes the connection (the TLS
    // socket inherits this), so one that gives up mid-handshake frees its slot.
    raw.allowHalfOpen = false;
    secure.accept(raw, admission);
  });

  /** Reads the first bytes of `socket` to tell HTTP/1.1 from h2 prior knowledge, then hands it over. */
  function sniff(socket: net.Socket, admission: Admission): void {
    let received: Buffer = Buffer.alloc(0);
    const stopSniffing = () => {
      socket.removeListener("data", onData);
      socket.removeListener("error", onError);
      socket.removeListener("end", onEnd);
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
      handOver(socket, protocol, admission);
    }
    socket.on("data", onData);
    socket.on("error", onError);
    socket.on("end", onEnd);
  }

  /** Gives `socket` (TCP, or TLS over it) to the HTTP/1.1 or HTTP/2 server. */
  function handOver(socket: net.Socket, protocol: "h1" | "h2", { slot, raw, deadline }: Admission): void {
    clearTimeout(deadline);
    sniffing.delete(raw);
    if (protocol === "h2") {
      // Like sockets of http2.createServer: a client FIN closes the socket.
      socket.allowHalfOpen = false;
      // No resume(): the Http2Session replays socket.readableLength itself on
      // the next tick; resuming would let the stream swallow those bytes
      // and the client would see a framing error.
      handingOver = slot;
      h2.emit("connection", socket);
      handingOver = undefined;
    } else {
      // An idle keep-alive socket is closed as Node's closeIdleConnections does.
      h1Slots.set(socket, slot);
      h1.emit("connection", socket);
      // http.Server never resumes a paused socket; without this it hangs.
      socket.resume();
    }
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
  let served = hooks.tls;
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
    connectionStats: () => ({ open: slots.size, idle: slots.idle, http2Sessions: sessions.size }),
    secure: secure !== undefined,
    setSecureContext: (pair: TlsPair) => {
      if (secure === undefined) throw new Error("this server was created without TLS: there is no certificate to replace");
      secure.setSecureContext(pair);
      served = pair;
    },
    servedPair: () => served,
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

/** An admitted TCP socket on its way to h1 or h2. */
interface Admission {
  readonly slot: ConnectionSlot;
  readonly raw: net.Socket;
  /** Destroys the socket unless it is handed over first (sniffTimeoutMs from accept). */
  readonly deadline: NodeJS.Timeout | undefined;
}

/** What the server keeps for each HTTP/2 session it admitted. */
interface SessionState {
  readonly slot: ConnectionSlot;
  /** The address key its streams count under; undefined when exempt. */
  readonly streamKey: string | undefined;
  /** Closes the session unless a stream opens first. */
  readonly firstStreamDeadline: NodeJS.Timeout | undefined;
}

/**
 * Closes a session gracefully (GOAWAY). But a session can stop reading its
 * socket for good (a handler that answers before reading a large body leaves
 * the stream's data unconsumed), and then a graceful close never completes:
 * it is destroyed if still open a little later.
 */
function closeGracefully(session: http2.ServerHttp2Session): void {
  if (session.closed || session.destroyed) return;
  session.close();
  setTimeout(() => {
    if (!session.destroyed) session.destroy();
  }, IDLE_CLOSE_GRACE_MS).unref();
}

/** Whether an HTTP/1.1 request says it has a body. */
function hasBody(req: http.IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return (length !== undefined && length !== "0") || req.headers["transfer-encoding"] !== undefined;
}

/** The deadline of an HTTP/2 request body: the shorter of the body and request timeouts that are set. */
function h2BodyDeadlineMs(o: DualProtocolOptions): number {
  const set = [o.bodyTimeoutMs, o.requestTimeoutMs].filter((ms) => ms > 0);
  return set.length === 0 ? 0 : Math.min(...set);
}

/** Calls `expire` unless the request's body has all arrived (or the exchange is over) within `ms`. */
function bodyDeadline(
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
  expire: () => void,
  ms: number,
): void {
  const deadline = setTimeout(() => {
    if (!req.complete) expire();
  }, ms);
  const clear = () => clearTimeout(deadline);
  req.once("end", clear);
  res.once("close", clear);
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
