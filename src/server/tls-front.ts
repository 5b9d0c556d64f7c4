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

/**
 * The protocol of a TLS connection: `h2` only when ALPN chose it; HTTP/1.1
 * otherwise, ALPN or not (Node's HTTP/2 server refuses a TLS socket without
 * ALPN h2, as RFC 9113 section 3.2 wants; gRPC clients always offer h2).
 */
export type Negotiated = "h2" | "h1";

export interface TlsFront<C> {
  /** Starts the handshake on an admitted TCP socket; `context` comes back with it once the handshake is done. */
  accept(raw: net.Socket, context: C): void;
  /** Replaces the certificate and key for connections accepted from now on; open ones keep theirs. Throws when OpenSSL refuses the pair. */
  setSecureContext(pair: TlsPair): void;
}

/** Protocols offered in ALPN, preferred first. */
const ALPN = ["h2", "http/1.1"];

/**
 * A TLS front: `onSecure(socket, context, negotiated)` gets each socket whose
 * handshake completed, with the context its TCP socket was accepted with. A
 * failed handshake destroys the socket; there is no handshake timeout of its
 * own (the caller's accept deadline covers it). `parentOf` finds the TCP
 * socket under a TLS socket (a seam for tests).
 */
export function createTlsFront<C>(
  pair: TlsPair,
  onSecure: (socket: tls.TLSSocket, context: C, negotiated: Negotiated) => void,
  parentOf: (socket: tls.TLSSocket) => net.Socket | undefined = wrappedSocket,
): TlsFront<C> {
  const contexts = new WeakMap<net.Socket, C>();
  const server = tls.createServer({ cert: pair.cert, key: pair.key, ALPNProtocols: ALPN, handshakeTimeout: 0 });
  server.on("secureConnection", (socket: tls.TLSSocket) => {
    const raw = parentOf(socket);
    const context = raw === undefined ? undefined : contexts.get(raw);
    // Unmatched to its admission, a socket is not served (no Node version does that yet).
    if (context === undefined) {
      socket.destroy();
      return;
    }
    onSecure(socket, context, socket.alpnProtocol === "h2" ? "h2" : "h1");
  });
  return {
    accept: (raw, context) => {
      contexts.set(raw, context);
      server.emit("connection", raw);
    },
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
