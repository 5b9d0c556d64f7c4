import { createServer as createHttp1Server, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttp2Server, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from "node:http2";
import type { AddressInfo, Server } from "node:net";
import t, { type Test } from "tap";
import { createClient, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { DiscoveryService } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { createDiscoveryTransport, type TransportOptions } from "../../src/client/transport.js";

/** What a recording server saw of one request. */
interface Seen {
  httpVersion: string;
  contentType: string | undefined;
  path: string | undefined;
}

/**
 * A loopback server speaking only `version` (HTTP/1.1, or HTTP/2 without TLS),
 * serving a Health stub through connect-node under `/` and `/prefix/`, and
 * recording the HTTP version, content type and path of every request. A
 * transport that picked another HTTP version fails against it.
 */
async function recordingServer(t: Test, version: "1.1" | "2"): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const routes = { routes: (router: ConnectRouter) => router.service(DiscoveryService, { health: () => ({ status: "ok" }) }) };
  const plain = connectNodeAdapter(routes);
  const prefixed = connectNodeAdapter({ ...routes, requestPathPrefix: "/prefix" });
  const record = (req: IncomingMessage | Http2ServerRequest) => {
    seen.push({ httpVersion: req.httpVersion, contentType: req.headers["content-type"], path: req.url });
    return req.url?.startsWith("/prefix/") === true ? prefixed : plain;
  };
  let server: Server;
  if (version === "1.1") {
    const http1 = createHttp1Server((req: IncomingMessage, res: ServerResponse) => record(req)(req, res));
    t.teardown(() => new Promise<void>((resolve) => (http1.closeAllConnections(), http1.close(() => resolve()))));
    server = http1;
  } else {
    const sessions = new Set<ServerHttp2Session>();
    const http2 = createHttp2Server((req: Http2ServerRequest, res: Http2ServerResponse) => record(req)(req, res));
    http2.on("session", (session: ServerHttp2Session) => sessions.add(session));
    t.teardown(() => new Promise<void>((resolve) => (sessions.forEach((s) => s.destroy()), http2.close(() => resolve()))));
    server = http2;
  }
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

t.test("each protocol choice yields a transport with the documented HTTP version and format", async (t) => {
  const servers = { "1.1": await recordingServer(t, "1.1"), "2": await recordingServer(t, "2") };
  const cases: [name: string, options: Omit<TransportOptions, "baseUrl">, httpVersion: "1.1" | "2", contentType: string][] = [
    ["the default: Connect JSON over HTTP/1.1", {}, "1.1", "application/json"],
    ["Connect binary", { binary: true }, "1.1", "application/proto"],
    ["Connect over h2c", { protocol: "connect", httpVersion: "2" }, "2", "application/json"],
    ["Connect binary over h2c", { httpVersion: "2", binary: true }, "2", "application/proto"],
    ["gRPC: binary over HTTP/2 by default", { protocol: "grpc" }, "2", "application/grpc+proto"],
    ["gRPC with JSON", { protocol: "grpc", binary: false }, "2", "application/grpc+json"],
    ["gRPC ignores httpVersion 1.1: always HTTP/2", { protocol: "grpc", httpVersion: "1.1" }, "2", "application/grpc+proto"],
    ["gRPC-Web: binary over HTTP/1.1 by default", { protocol: "grpc-web" }, "1.1", "application/grpc-web+proto"],
    ["gRPC-Web with JSON", { protocol: "grpc-web", binary: false }, "1.1", "application/grpc-web+json"],
    ["gRPC-Web over h2c", { protocol: "grpc-web", httpVersion: "2" }, "2", "application/grpc-web+proto"],
  ];
  for (const [name, options, httpVersion, contentType] of cases) {
    const server = servers[httpVersion];
    const before = server.seen.length;
    const client = createClient(DiscoveryService, createDiscoveryTransport({ baseUrl: server.url, ...options }));
    t.equal((await client.health({})).status, "ok", `${name}: answered`);
    t.same(
      server.seen.slice(before),
      [{ httpVersion: httpVersion === "2" ? "2.0" : "1.1", contentType, path: "/coral.discovery.v1.DiscoveryService/Health" }],
      `${name}: one request, HTTP/${httpVersion}, ${contentType}`,
    );
  }
});

t.test("the base URL is used as given, path prefix included", async (t) => {
  const server = await recordingServer(t, "1.1");
  const client = createClient(DiscoveryService, createDiscoveryTransport({ baseUrl: `${server.url}/prefix` }));
  t.equal((await client.health({})).status, "ok");
  t.equal(server.seen[0]?.path, "/prefix/coral.discovery.v1.DiscoveryService/Health");
});

t.test("a base URL that is not absolute http(s) is refused before anything else", async (t) => {
  for (const baseUrl of ["discovery:8080", "127.0.0.1:8080", "", "ftp://discovery.coral.io"]) {
    t.throws(() => createDiscoveryTransport({ baseUrl }), new TypeError(`baseUrl must be an absolute http:// or https:// URL, got ${JSON.stringify(baseUrl)}`));
  }
  // @ts-expect-error: untyped configuration may hold anything
  t.throws(() => createDiscoveryTransport({ baseUrl: "nope", protocol: "http" }), { name: "TypeError", message: /^baseUrl/ }, "the URL is checked first");
});

t.test("an unknown protocol or HTTP version is refused with the value and the allowed ones", async (t) => {
  const baseUrl = "http://127.0.0.1:1";
  // @ts-expect-error: an unknown protocol from untyped configuration
  t.throws(() => createDiscoveryTransport({ baseUrl, protocol: "http" }), new RangeError('protocol must be one of connect, grpc, grpc-web, got "http"'));
  // @ts-expect-error: protocol names are lower case
  t.throws(() => createDiscoveryTransport({ baseUrl, protocol: "GRPC" }), new RangeError('protocol must be one of connect, grpc, grpc-web, got "GRPC"'));
  // @ts-expect-error: HTTP/3 is not offered
  t.throws(() => createDiscoveryTransport({ baseUrl, httpVersion: "3" }), new RangeError('httpVersion must be "1.1" or "2", got "3"'));
  // @ts-expect-error: a number where a string is expected
  t.throws(() => createDiscoveryTransport({ baseUrl, protocol: "grpc", httpVersion: 2 }), new RangeError('httpVersion must be "1.1" or "2", got 2'), "checked for gRPC too, which ignores it");
});

t.test("building a transport needs no server: valid options to a closed port succeed", async (t) => {
  for (const protocol of ["connect", "grpc", "grpc-web"] as const) {
    const transport = createDiscoveryTransport({ baseUrl: "http://127.0.0.1:1", protocol });
    t.type(transport.unary, "function", protocol);
  }
});
