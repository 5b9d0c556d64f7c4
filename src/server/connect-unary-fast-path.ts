// A fast path for the request shapes real Coral clients send: Connect unary,
// uncompressed POST, JSON (connect-go's JSON codec over HTTP/1.1) or binary.
// connect-es serves it correctly but spends ~7x a bare Fastify route on
// generic machinery (abort signals, Headers objects, async iterables); this
// answers the same request with the same bytes: the same JSON options, error
// envelope, status mapping, length checks, messages and gzip threshold.
// One deliberate difference: a binary body that does not decode is
// `invalid_argument` here, where connect-es says `internal` (a client error is
// not a server fault). Anything else (gRPC, gRPC-Web, compressed requests, bad
// timeout headers, GET) falls through to connect-es. test/fast-path.test.ts
// compares both paths answer by answer.
import { gzipSync } from "node:zlib";
import { create, fromBinary, fromJsonString, toBinary, toJsonString, type DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, errorToJson, parseContentType } from "@connectrpc/connect/protocol-connect";
import type { FastifyReply, FastifyRequest } from "fastify";
import { DiscoveryService } from "../../gen/coral/discovery/v1/discovery_pb.js";
import type { DiscoveryHandlers } from "../service/discovery-service.js";
import { logRpcError, type RpcLogger } from "../service/logging.js";
import type { RateLimit } from "../service/rate-limit.js";

export interface FastPathOptions {
  readonly handlers: DiscoveryHandlers;
  /** Applied like the interceptor does, after the request is decoded. */
  readonly rateLimit: RateLimit | undefined;
  readonly log: RpcLogger;
  /** Largest request body, bytes (connect-es's `readMaxBytes`). */
  readonly maxBodyBytes: number;
  /** The caller's address, as the Connect context values get it. */
  readonly clientIp: (req: FastifyRequest) => string | undefined;
}

interface Route {
  readonly name: string;
  readonly rpc: string;
  readonly input: DescMessage;
  readonly output: DescMessage;
  readonly handler: (req: unknown, clientIp: string | undefined) => object;
}

/** connect-es's defaults: unknown fields ignored on input, implicit values omitted on output. */
const JSON_READ = { ignoreUnknownFields: true } as const;
const GZIP_MIN_BYTES = 1024;
const TIMEOUT = /^\d{1,10}$/;

/** A Fastify preHandler hook that answers matching requests itself and leaves the rest alone. */
export function createConnectUnaryFastPath(options: FastPathOptions) {
  const { rateLimit, log, maxBodyBytes, clientIp } = options;
  const routes = new Map<string, Route>();
  for (const method of DiscoveryService.methods) {
    const handler = (options.handlers as unknown as Record<string, Route["handler"]>)[method.localName];
    if (method.methodKind !== "unary" || handler === undefined) continue;
    routes.set(`/${DiscoveryService.typeName}/${method.name}`, {
      name: method.name,
      rpc: `${DiscoveryService.typeName}/${method.name}`,
      input: method.input,
      output: method.output,
      handler,
    });
  }

  return async function connectUnaryFastPath(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (req.method !== "POST") return;
    const route = routes.get(req.url);
    if (route === undefined) return;
    const { headers } = req;
    const type = parseContentType(headers["content-type"] ?? null);
    if (type === undefined || type.stream) return;
    const encoding = headers["content-encoding"];
    if (encoding !== undefined && encoding !== "identity") return;
    const timeout = headers["connect-timeout-ms"];
    if (timeout !== undefined && !(typeof timeout === "string" && TIMEOUT.test(timeout))) return;

    let status = 200;
    let body: Buffer;
    let metadata: Headers | undefined;
    try {
      const bytes = await readBody(req, maxBodyBytes);
      let input: unknown;
      try {
        input = type.binary ? fromBinary(route.input, bytes) : fromJsonString(route.input, bytes.toString("utf8"), JSON_READ);
      } catch (error) {
        if (!type.binary) throw ConnectError.from(error, Code.InvalidArgument);
        throw new ConnectError(`cannot decode ${route.input.typeName}: ${(error as Error).message}`, Code.InvalidArgument);
      }
      const ip = clientIp(req);
      const refused = rateLimit?.check(route.name, ip);
      if (refused !== undefined) throw refused;
      const output = create(route.output, route.handler(input, ip) as never);
      body = type.binary ? Buffer.from(toBinary(route.output, output)) : Buffer.from(toJsonString(route.output, output));
    } catch (thrown) {
      const error = logRpcError(log, route.rpc, thrown);
      status = codeToHttpStatus(error.code);
      metadata = error.metadata;
      body = Buffer.from(JSON.stringify(errorToJson(error, undefined)));
    }

    if (metadata !== undefined) metadata.forEach((value, key) => void reply.header(key, value));
    const accept = headers["accept-encoding"];
    if (body.byteLength >= GZIP_MIN_BYTES && typeof accept === "string" && /\bgzip\b/.test(accept)) {
      body = gzipSync(body);
      void reply.header("content-encoding", "gzip");
    }
    // Errors are always JSON; a Buffer payload is sent as is, without a charset added.
    const contentType = status === 200 && type.binary ? "application/proto" : "application/json";
    await reply.code(status).header("content-type", contentType).send(body);
  };
}

/** The request body, with connect-es's length checks and messages. */
async function readBody(req: FastifyRequest, maxBytes: number): Promise<Buffer> {
  const declared = req.headers["content-length"];
  const hint = declared === undefined ? NaN : Number(declared);
  if (hint > maxBytes) {
    throw new ConnectError(`message size ${hint} is larger than configured readMaxBytes ${maxBytes}`, Code.ResourceExhausted);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req.raw as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (Number.isInteger(hint) && size > hint) {
      throw new ConnectError(`protocol error: promised ${hint} bytes, received ${size}`, Code.InvalidArgument);
    }
    if (size > maxBytes) {
      throw new ConnectError(`message size is larger than configured readMaxBytes ${maxBytes}`, Code.ResourceExhausted);
    }
    chunks.push(chunk);
  }
  if (Number.isInteger(hint) && size < hint) {
    throw new ConnectError(`protocol error: promised ${hint} bytes, received ${size}`, Code.InvalidArgument);
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
}
