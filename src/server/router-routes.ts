// connect-es's router on Fastify, for what the road does not serve (gRPC
// reflection, a stream; every RPC with `unaryRoad: false`). It mirrors
// @connectrpc/connect-fastify's plugin, whose failures go to console.error
// with a stack, and whose writer waits for an 'end' event Node's responses
// never emit: here a failure goes through our logger (a client that went
// away at debug, anything else at error level within the error-line
// budget), and nothing is written to a client that is gone.
import { createConnectRouter, type ConnectRouter, type ContextValues } from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest } from "@connectrpc/connect-node";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { OutgoingHttpHeaders } from "node:http";
import { logRpcError, type RpcLogger } from "../service/logging.js";
import { peerGone, type RawResponse } from "./road/respond.js";

export interface RouterRoutesOptions {
  /** Registers services on the router. */
  readonly routes: (router: ConnectRouter) => void;
  /** Largest request message, bytes (`--max-body-bytes`). */
  readonly readMaxBytes: number;
  /** Context values of a request (the client address). */
  readonly contextValues: (req: FastifyRequest) => ContextValues;
  /** Where failures are logged. */
  readonly log: RpcLogger;
}

/** A Node response as the writer uses it (both HTTP versions have these). */
interface NodeResponse {
  writeHead(status: number, headers?: OutgoingHttpHeaders): unknown;
  write(chunk: Uint8Array): boolean;
  addTrailers(trailers: OutgoingHttpHeaders): void;
  end(): unknown;
  destroy(): unknown;
  once(event: "drain" | "close", listener: () => void): unknown;
  off(event: "drain" | "close", listener: () => void): unknown;
}

/**
 * Registers one route per handler of a connect-es router built by
 * `options.routes`, in a scope where no content type parser touches the
 * body (connect-es reads it; it answers content types it does not serve).
 */
export async function registerRouterRoutes(app: FastifyInstance, options: RouterRoutesOptions): Promise<void> {
  const router = createConnectRouter({ readMaxBytes: options.readMaxBytes, acceptCompression: [compressionGzip, compressionBrotli] });
  options.routes(router);
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (_req, _payload, done) => done(null, undefined));
    for (const handler of router.handlers) {
      scope.all(handler.requestPath, (req, reply) => serve(handler, req, reply, options));
    }
  });
}

async function serve(handler: UniversalHandler, req: FastifyRequest, reply: FastifyReply, options: RouterRoutesOptions): Promise<void> {
  reply.hijack();
  const raw: RawResponse = reply.raw;
  const res = raw as unknown as NodeResponse;
  try {
    const answer = await handler(universalRequestFromNodeRequest(req.raw, raw, undefined, options.contextValues(req)));
    await writeAnswer(answer, raw);
  } catch (error) {
    // Rare: connect-es answers a handler's failures itself. A client that
    // left mid-write is at debug (see logRpcError); the exchange cannot be
    // finished either way, so it is cut (a no-op when the client is gone).
    logRpcError(options.log, `${handler.service.typeName}/${handler.method.name}`, error);
    res.destroy();
  }
}

/**
 * Writes connect-es's answer: headers once the first chunk is ready (a
 * handler may set headers until then), each chunk as the client takes it,
 * then trailers. Stops, writing nothing more, once the client is gone.
 */
async function writeAnswer(answer: UniversalServerResponse, raw: RawResponse): Promise<void> {
  const res = raw as unknown as NodeResponse;
  const chunks = (answer.body ?? NO_BODY)[Symbol.asyncIterator]();
  try {
    let begun = false;
    for (let chunk = await chunks.next(); ; chunk = await chunks.next()) {
      if (peerGone(raw)) return;
      if (!begun) res.writeHead(answer.status, nodeHeaders(answer.header));
      begun = true;
      if (chunk.done === true) break;
      if (!res.write(chunk.value)) await drained(res);
    }
    if (answer.trailer !== undefined) res.addTrailers(nodeHeaders(answer.trailer));
    res.end();
  } finally {
    // Ends connect-es's handler if it is still running (a stream whose client left).
    await chunks.return?.();
  }
}

const NO_BODY: AsyncIterable<Uint8Array> = (async function* () {})();

/** Resolves once the response can take more, or is closed. */
function drained(res: NodeResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.once("drain", done);
    res.once("close", done);
  });
}

function nodeHeaders(headers: Headers | undefined): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  headers?.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}
