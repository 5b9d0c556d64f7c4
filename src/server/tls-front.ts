// The TLS layer of the one-port server: a tls.Server that never listens. The
// dual-protocol server admits each TCP socket (connection slots, deadline)
// and hands it here; once the handshake is done, the decrypted socket comes
// back with the protocol ALPN chose, to go to the HTTP/1.1 or HTTP/2 server
// like a cleartext one. tls.Server does the rest as for any Node HTTPS
// server: the handshake, ALPN, replacing the certificate for new connections
// (setSecureContext) and destroying sockets whose handshake fails.
import type * as net from "node:net";
import * as tls from "node:tls";

/** A certificate chain and its private key, PEM. */
export interface TlsPair {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
}

/** What ALPN settled: `h2`, `http/1.1`, or nothing (the client offered no protocol we speak, or no ALPN at all). */
export type Negotiated = "h2" | "h1" | undefined;

export interface TlsFront {
  /** Starts the handshake on an admitted TCP socket. */
  accept(raw: net.Socket): void;
  /** Replaces the certificate and key for connections accepted from now on; open ones keep theirs. Throws when OpenSSL refuses the pair. */
  setSecureContext(pair: TlsPair): void;
}

/** Protocols offered in ALPN, preferred first. */
const ALPN = ["h2", "http/1.1"];

/**
 * A TLS front: `onSecure(socket, raw, negotiated)` gets each socket whose
 * handshake completed, with the TCP socket it wraps (the one `accept` was
 * given). A failed handshake destroys the socket; no handshake timeout of
 * its own (the caller's accept deadline covers it).
 */
export function createTlsFront(
  pair: TlsPair,
  onSecure: (socket: tls.TLSSocket, raw: net.Socket, negotiated: Negotiated) => void,
  parentOf: (socket: tls.TLSSocket) => net.Socket | undefined = wrappedSocket,
): TlsFront {
  const server = tls.createServer({ cert: pair.cert, key: pair.key, ALPNProtocols: ALPN, handshakeTimeout: 0 });
  server.on("secureConnection", (socket: tls.TLSSocket) => {
    const raw = parentOf(socket);
    // Unmatched to its admission, a socket is not served (no Node version does that yet).
    if (raw === undefined) {
      socket.destroy();
      return;
    }
    const negotiated = socket.alpnProtocol === "h2" ? "h2" : socket.alpnProtocol === "http/1.1" ? "h1" : undefined;
    onSecure(socket, raw, negotiated);
  });
  return {
    accept: (raw) => server.emit("connection", raw),
    setSecureContext: (next) => server.setSecureContext({ cert: next.cert, key: next.key }),
  };
}

/**
 * The TCP socket a server-side TLSSocket wraps: Node keeps it as `_parent`
 * (tls.Server and http2 rely on it too; no public accessor exists).
 * Undefined if a Node version ever stops doing so.
 */
export function wrappedSocket(socket: object): net.Socket | undefined {
  const parent = (socket as { _parent?: unknown })._parent;
  return typeof parent === "object" && parent !== null && "remoteAddress" in parent ? (parent as net.Socket) : undefined;
}
