// One road for every unary RPC of a service, on every protocol connect-es
// serves: Connect (JSON, binary), gRPC and gRPC-Web, over HTTP/1.1 and h2c.
// A request is decoded here, then passes the one ordered list of steps
// (src/service/call.ts: logging, error mapping, rate limit) to its handler,
// and is answered here. Protocol details come from connect-es's exported
// helpers; what differs from connect-es's router is deliberate: a request
// that does not decode (a broken message, a lying envelope, a body that does
// not decompress) is the client's fault, invalid_argument, where connect-es
// says internal. test/server/road/road.test.ts compares both answer by answer.
import { performance } from "node:perf_hooks";
import { create, fromBinary, fromJsonString, toBinary, toJsonString, type DescMessage, type DescMethodUnary, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { compressionNegotiate, type Compression } from "@connectrpc/connect/protocol";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ByteBudget } from "../../limits/byte-budget.js";
import { addressKey, type ClientAddress } from "../../net/address.js";
import { chain, type Step, type UnaryHandler } from "../../service/call.js";
import { logRpcError, type RpcLogger } from "../../service/logging.js";
import { headerListSize } from "../header-size.js";
import { readBody } from "./body.js";
import { RequestCharge } from "./charge.js";
import { ACCEPTED, type SyncCompression } from "./compression.js";
import { createRoadContext } from "./context.js";
import { HEADERS, parseTimeout, rpcProtocol, unaryEncoding, type Encoding, type Protocol } from "./encodings.js";
import { checkEnvelopeHeader, COMPRESSED_FLAG, ENVELOPE_HEADER_BYTES, singleEnvelope } from "./envelope.js";
import { peerGone, writeError, writeMessage, writeStatus, writeUnknownMethod, type Answer } from "./respond.js";

export interface UnaryRoadOptions {
  readonly service: DescService;
  /** One handler per method, by the method's local name (`registerColony`). */
  readonly handlers: Readonly<Record<string, UnaryHandler>>;
  /** The cross-cutting steps, outermost first. */
  readonly steps: readonly Step[];
  /** Largest request message, bytes (`--max-body-bytes`). */
  readonly maxBodyBytes: number;
  /** Where a request comes from (see resolveClient). */
  readonly client: (req: FastifyRequest) => ClientAddress;
  /** Where failures outside the steps (requests that do not decode, answers that do not encode) are logged. */
  readonly log: RpcLogger;
  /** Memory held by requests while they arrive, per client address and in all. */
  readonly buffered: ByteBudget;
  /** Told of every RPC answered (the metrics); none: nothing is measured. */
  readonly observer?: RpcObserver;
}

/**
 * Watches RPCs: `forMethod` is asked once per method, its recorder once per
 * RPC answered, with the answer's code (0: success) and the time from the
 * request's arrival to the answer, seconds.
 */
export interface RpcObserver {
  /** `method`: the method's name (`LookupColony`). */
  forMethod(method: string): (protocol: Protocol, code: Code | 0, seconds: number) => void;
}

/** JSON as connect-es reads it: unknown fields ignored. */
const JSON_READ = { ignoreUnknownFields: true } as const;

/**
 * Registers one route per unary method of the service, in a scope where no
 * content type parser touches the body (the road reads it).
 */
export async function registerUnaryRoad(app: FastifyInstance, options: UnaryRoadOptions): Promise<void> {
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (_req, _payload, done) => done(null, undefined));
    for (const method of options.service.methods) {
      if (method.methodKind !== "unary") continue;
      const handler = options.handlers[method.localName];
      if (handler === undefined) throw new Error(`no handler for ${method.name}`);
      scope.all(`/${options.service.typeName}/${method.name}`, createMethodRoute(method as DescMethodUnary, handler, options));
    }
  });
}

function createMethodRoute(method: DescMethodUnary, handler: UnaryHandler, options: UnaryRoadOptions) {
  const { maxBodyBytes, log, buffered } = options;
  const rpc = `${options.service.typeName}/${method.name}`;
  const next = chain(options.steps, (call) => handler(call.input as never, call.ctx));
  const record = options.observer?.forMethod(method.name);

  return async function unaryRoute(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    reply.hijack();
    const res = reply.raw;
    if (req.method !== "POST") return writeStatus(res, 405);
    const contentType = req.headers["content-type"];
    const encoding = unaryEncoding(contentType);
    if (encoding === undefined) return writeStatus(res, 415);

    const names = HEADERS[encoding.protocol];
    // Node joins repeated request headers into one string (only set-cookie stays a list).
    const header = (name: string) => req.headers[name] as string | undefined;
    // connect-es's negotiation reads only the names.
    const negotiated = compressionNegotiate(ACCEPTED as unknown as Compression[], header(names.encoding) ?? null, header(names.acceptEncoding) ?? null, names.acceptEncoding);
    const requestCompression = negotiated.request as SyncCompression | null;
    const ctx = createRoadContext(req.headers, res, options.client(req));
    const answer = (): Answer => ({ encoding, compression: negotiated.response as SyncCompression | null, headers: ctx.responseHeaders });
    const charge = new RequestCharge(buffered, addressKey(ctx.clientIp));
    const startedMs = record === undefined ? 0 : performance.now();
    let code: Code | 0 = 0; // 0: success (Connect's codes start at 1)
    try {
      if (negotiated.error !== undefined) throw negotiated.error;
      const timeout = parseTimeout(encoding.protocol, header(names.timeout));
      if (timeout.error !== undefined) throw timeout.error;
      ctx.timeoutMs = timeout.timeoutMs;
      charge.add(headerListSize(req.raw.rawHeaders));
      const input = decode(method.input, await readMessage(req, encoding, requestCompression, maxBodyBytes, charge.add), encoding.binary);
      let output: object;
      try {
        output = await next({ method, rpc, input, ctx });
      } catch (error) {
        // The logging step has logged it and made it a ConnectError.
        const refused = ConnectError.from(error);
        code = refused.code;
        if (!peerGone(res)) writeError(res, answer(), refused);
        return;
      }
      // A client gone while its call ran gets no answer: nobody would read it.
      if (!peerGone(res)) writeMessage(res, answer(), encode(method.output, output, encoding.binary));
    } catch (error) {
      const failed = logRpcError(log, rpc, error);
      code = failed.code;
      if (!peerGone(res)) writeError(res, answer(), failed);
    } finally {
      charge.release();
      ctx.dispose();
      record?.(encoding.protocol, code, (performance.now() - startedMs) / 1000);
    }
  };
}

/** The request message's bytes: the body (Connect) or its one envelope (gRPC, gRPC-Web), decompressed. */
async function readMessage(
  req: FastifyRequest,
  encoding: Encoding,
  compression: SyncCompression | null,
  maxBytes: number,
  charge: (bytes: number) => void,
): Promise<Uint8Array> {
  if (encoding.protocol === "connect") {
    const body = await readBody(req.raw, { maxBytes, declaredLength: req.headers["content-length"], charge });
    return compression === null ? body : compression.decompressSync(body, maxBytes);
  }
  const body = await readBody(req.raw, {
    maxBytes: maxBytes + ENVELOPE_HEADER_BYTES,
    overflow: () => new ConnectError("protocol error: received extra input message for unary method", Code.InvalidArgument),
    check: (received, size) => checkEnvelopeHeader(received, size, maxBytes),
    charge,
  });
  const envelope = singleEnvelope(body, maxBytes);
  if ((envelope.flags & COMPRESSED_FLAG) === 0) return envelope.data;
  if (compression === null) {
    throw new ConnectError("protocol error: received compressed envelope, but do not know how to decompress", Code.InvalidArgument);
  }
  return compression.decompressSync(envelope.data, maxBytes);
}

function decode(desc: DescMessage, bytes: Uint8Array, binary: boolean): object {
  if (binary) {
    try {
      return fromBinary(desc, bytes);
    } catch (error) {
      // connect-es answers `internal` here; a message that does not decode is the client's.
      throw new ConnectError(`parse binary: ${(error as Error).message}`, Code.InvalidArgument);
    }
  }
  try {
    return fromJsonString(desc, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"), JSON_READ);
  } catch (error) {
    throw ConnectError.from(error, Code.InvalidArgument);
  }
}

function encode(desc: DescMessage, output: object, binary: boolean): Uint8Array {
  const message = create(desc, output as never);
  return binary ? toBinary(desc, message) : Buffer.from(toJsonString(desc, message));
}

/**
 * Answers RPCs to paths no method lives at, per protocol (see
 * writeUnknownMethod); returns false for requests that are not RPCs.
 */
export function answerUnknownMethod(req: FastifyRequest, reply: FastifyReply): boolean {
  if (req.method !== "POST") return false;
  const protocol = rpcProtocol(req.headers["content-type"]);
  const match = /^\/([\w.]+)\/([\w]+)$/.exec(req.url);
  if (protocol === undefined || match === null) return false;
  reply.hijack();
  const [, service, method] = match;
  writeUnknownMethod(reply.raw, protocol, `unknown method ${method} for service ${service}`);
  return true;
}
