import { create, createFileRegistry, fromBinary, type DescFile } from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  file_google_protobuf_timestamp,
  type FileDescriptorProto,
} from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, createRouterTransport, type HandlerContext } from "@connectrpc/connect";
import t from "tap";
import { DiscoveryService, file_coral_discovery_v1_discovery } from "../../gen/coral/discovery/v1/discovery_pb.js";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { registerReflection, type ReflectionOptions } from "../../src/server/reflection.js";
import { createRateLimit } from "../../src/service/rate-limit.js";
import { createFakeClock } from "../fixtures/clock.js";

const DISCOVERY_FILE = "coral/discovery/v1/discovery.proto";
const TIMESTAMP_FILE = "google/protobuf/timestamp.proto";

/** A request of either protocol version, as a plain init object. */
interface Request {
  host?: string;
  messageRequest:
    | { case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices"; value: string }
    | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
    | { case: undefined; value?: undefined };
}
type Response = v1.ServerReflectionResponse | v1alpha.ServerReflectionResponse;

/**
 * A request stream the test can push to while the call is open, so it can send a request
 * after reading an answer. It is an async generator because connect-es needs the request
 * iterable to implement `throw()` ("AsyncIterable does not implement throw" otherwise).
 */
function createQueue<T>() {
  const items: T[] = [];
  let wake: (() => void) | undefined;
  let closed = false;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  async function* iterate(): AsyncGenerator<T> {
    for (;;) {
      const item = items.shift();
      if (item !== undefined) yield item;
      else if (closed) return;
      else await new Promise<void>((resolve) => (wake = resolve));
    }
  }
  return {
    iterable: iterate(),
    push(item: T) {
      items.push(item);
      notify();
    },
    close() {
      closed = true;
      notify();
    },
  };
}

interface Stream {
  send(request: Request): void;
  /** The next answer on the stream. */
  receive(): Promise<Response>;
  close(): void;
}

function transportFor(files: readonly DescFile[] = [file_coral_discovery_v1_discovery]) {
  return createRouterTransport((router) => registerReflection(router, files));
}

/** Opens one bidi stream per protocol version over an in-memory router transport. */
const versions: Record<"v1" | "v1alpha", () => Stream> = {
  v1: () => {
    const requests = createQueue<Request>();
    const client = createClient(v1.ServerReflection, transportFor());
    const answers = client.serverReflectionInfo(requests.iterable)[Symbol.asyncIterator]();
    return streamOf(requests, answers);
  },
  v1alpha: () => {
    const requests = createQueue<Request>();
    const client = createClient(v1alpha.ServerReflection, transportFor());
    const answers = client.serverReflectionInfo(requests.iterable)[Symbol.asyncIterator]();
    return streamOf(requests, answers);
  },
};

function streamOf(requests: ReturnType<typeof createQueue<Request>>, answers: AsyncIterator<Response>): Stream {
  return {
    send: (request) => requests.push(request),
    receive: async () => {
      const next = await answers.next();
      if (next.done) throw new Error("stream ended before an answer arrived");
      return next.value;
    },
    close: () => requests.close(),
  };
}

/** Sends `requests` on one stream, half-closes, and returns every answer. */
async function ask(open: () => Stream, ...requests: Request[]): Promise<Response[]> {
  const stream = open();
  requests.forEach((r) => stream.send(r));
  const answers: Response[] = [];
  for (const _ of requests) answers.push(await stream.receive());
  stream.close();
  return answers;
}

function descriptorsOf(response: Response | undefined): FileDescriptorProto[] {
  if (response?.messageResponse.case !== "fileDescriptorResponse") {
    throw new Error(`expected a file_descriptor_response, got ${JSON.stringify(response?.messageResponse)}`);
  }
  return response.messageResponse.value.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
}

function errorOf(response: Response | undefined): { errorCode: number; errorMessage: string } {
  if (response?.messageResponse.case !== "errorResponse") {
    throw new Error(`expected an error_response, got ${JSON.stringify(response?.messageResponse)}`);
  }
  return response.messageResponse.value;
}

for (const [version, open] of Object.entries(versions)) {
  t.test(`grpc.reflection.${version}`, async (t) => {
    t.test("list_services names the discovery service and both reflection services", async (t) => {
      const [answer] = await ask(open, { host: "example:443", messageRequest: { case: "listServices", value: "*" } });
      t.equal(answer?.messageResponse.case, "listServicesResponse");
      const names =
        answer?.messageResponse.case === "listServicesResponse" ? answer.messageResponse.value.service.map((s) => s.name) : [];
      t.same(names.sort(), [
        "coral.discovery.v1.DiscoveryService",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
      ]);
    });

    t.test("every answer echoes valid_host and original_request", async (t) => {
      const [answer] = await ask(open, {
        host: "example:443",
        messageRequest: { case: "fileContainingSymbol", value: "coral.discovery.v1.Endpoint" },
      });
      t.equal(answer?.validHost, "example:443");
      t.equal(answer?.originalRequest?.host, "example:443");
      t.same(answer?.originalRequest?.messageRequest, { case: "fileContainingSymbol", value: "coral.discovery.v1.Endpoint" });
    });

    const symbols = [
      "coral.discovery.v1.DiscoveryService",
      "coral.discovery.v1.LookupColonyRequest",
      "coral.discovery.v1.DiscoveryService.LookupColony",
      "coral.discovery.v1.RegisterColonyRequest.MetadataEntry",
      "coral.discovery.v1.RegisterColonyRequest.MetadataEntry.value",
      "coral.discovery.v1.NatHint",
      "coral.discovery.v1.NAT_SYMMETRIC",
      "coral.discovery.v1.LookupColonyRequest.mesh_id",
      ".coral.discovery.v1.Endpoint",
    ];
    for (const symbol of symbols) {
      t.test(`file_containing_symbol "${symbol}" returns discovery.proto first, then timestamp.proto`, async (t) => {
        const [answer] = await ask(open, { messageRequest: { case: "fileContainingSymbol", value: symbol } });
        t.same(
          descriptorsOf(answer).map((f) => f.name),
          [DISCOVERY_FILE, TIMESTAMP_FILE],
        );
      });
    }

    t.test("file_containing_symbol finds a symbol of a dependency and returns only that file", async (t) => {
      const [answer] = await ask(open, { messageRequest: { case: "fileContainingSymbol", value: "google.protobuf.Timestamp" } });
      t.same(
        descriptorsOf(answer).map((f) => f.name),
        [TIMESTAMP_FILE],
      );
    });

    t.test("file_containing_symbol finds the reflection service itself", async (t) => {
      const [answer] = await ask(open, {
        messageRequest: { case: "fileContainingSymbol", value: `grpc.reflection.${version}.ServerReflection` },
      });
      t.same(
        descriptorsOf(answer).map((f) => f.name),
        [`grpc/reflection/${version}/reflection.proto`],
      );
    });

    t.test("the returned descriptors load into a registry with all DiscoveryService methods", async (t) => {
      const [answer] = await ask(open, {
        messageRequest: { case: "fileContainingSymbol", value: "coral.discovery.v1.DiscoveryService" },
      });
      // As buf curl and grpcurl do: start from the first file and resolve imports by name
      // among the others (the protocol does not promise dependencies-first order).
      const [first, ...rest] = descriptorsOf(answer);
      if (first === undefined) throw new Error("no descriptors");
      const registry = createFileRegistry(first, (name) => rest.find((f) => f.name === name));
      const service = registry.getService("coral.discovery.v1.DiscoveryService");
      t.equal(service?.methods.length, 11);
      t.same(
        service?.methods.map((m) => m.name),
        DiscoveryService.methods.map((m) => m.name),
      );
      const expiresAt = registry.getMessage("coral.discovery.v1.RegisterColonyResponse")?.field["expiresAt"];
      t.equal(expiresAt?.message?.typeName, "google.protobuf.Timestamp", "the Timestamp import resolves");
    });

    t.test("file_by_filename returns the file and its dependencies", async (t) => {
      const [discovery, timestamp] = await ask(
        open,
        { messageRequest: { case: "fileByFilename", value: DISCOVERY_FILE } },
        { messageRequest: { case: "fileByFilename", value: TIMESTAMP_FILE } },
      );
      const files = descriptorsOf(discovery);
      t.same(
        files.map((f) => f.name),
        [DISCOVERY_FILE, TIMESTAMP_FILE],
      );
      t.ok(files[0]?.service.some((s) => s.name === "DiscoveryService"), "the descriptor carries the service");
      t.same(
        descriptorsOf(timestamp).map((f) => f.name),
        [TIMESTAMP_FILE],
      );
    });

    t.test("unknown names answer NOT_FOUND naming what was not found", async (t) => {
      const answers = await ask(
        open,
        { messageRequest: { case: "fileContainingSymbol", value: "coral.discovery.v1.Nope" } },
        { messageRequest: { case: "fileContainingSymbol", value: "coral.discovery.v1.DiscoveryService.Nope" } },
        { messageRequest: { case: "fileByFilename", value: "coral/discovery/v1/discovery" } },
        {
          messageRequest: {
            case: "fileContainingExtension",
            value: { containingType: "coral.discovery.v1.Endpoint", extensionNumber: 100 },
          },
        },
        { messageRequest: { case: "allExtensionNumbersOfType", value: "coral.discovery.v1.Nope" } },
      );
      const errors = answers.map(errorOf);
      t.same(
        errors.map((e) => e.errorCode),
        [5, 5, 5, 5, 5],
      );
      t.match(errors[0]?.errorMessage, /symbol "coral\.discovery\.v1\.Nope" not found/);
      t.match(errors[1]?.errorMessage, /DiscoveryService\.Nope/);
      t.match(errors[2]?.errorMessage, /file "coral\/discovery\/v1\/discovery" not found/);
      t.match(errors[3]?.errorMessage, /extension 100 of type "coral\.discovery\.v1\.Endpoint" not found/);
      t.match(errors[4]?.errorMessage, /message type "coral\.discovery\.v1\.Nope" not found/);
    });

    t.test("all_extension_numbers_of_type lists none for a known message", async (t) => {
      const [answer] = await ask(open, {
        messageRequest: { case: "allExtensionNumbersOfType", value: "coral.discovery.v1.Endpoint" },
      });
      t.equal(answer?.messageResponse.case, "allExtensionNumbersResponse");
      if (answer?.messageResponse.case === "allExtensionNumbersResponse") {
        t.equal(answer.messageResponse.value.baseTypeName, "coral.discovery.v1.Endpoint");
        t.same(answer.messageResponse.value.extensionNumber, []);
      }
    });

    t.test("a request without message_request answers INVALID_ARGUMENT", async (t) => {
      const [answer] = await ask(open, { host: "h", messageRequest: { case: undefined } });
      const error = errorOf(answer);
      t.equal(error.errorCode, 3);
      t.match(error.errorMessage, /message_request/);
      t.equal(answer?.validHost, "h");
    });

    t.test("several requests on one stream are answered in order", async (t) => {
      const requests: Request[] = [
        { messageRequest: { case: "listServices", value: "" } },
        { messageRequest: { case: "fileContainingSymbol", value: "coral.discovery.v1.Nope" } },
        { messageRequest: { case: "fileByFilename", value: TIMESTAMP_FILE } },
        { messageRequest: { case: "fileContainingSymbol", value: "coral.discovery.v1.HealthRequest" } },
      ];
      const answers = await ask(open, ...requests);
      t.same(
        answers.map((a) => a.originalRequest?.messageRequest),
        requests.map((r) => r.messageRequest),
      );
      t.same(
        answers.map((a) => a.messageResponse.case),
        ["listServicesResponse", "errorResponse", "fileDescriptorResponse", "fileDescriptorResponse"],
      );
    });

    t.test("each request is answered before the client half-closes", async (t) => {
      const stream = open();
      stream.send({ messageRequest: { case: "listServices", value: "" } });
      t.equal((await stream.receive()).messageResponse.case, "listServicesResponse");
      stream.send({ messageRequest: { case: "fileByFilename", value: DISCOVERY_FILE } });
      t.equal(descriptorsOf(await stream.receive())[0]?.name, DISCOVERY_FILE);
      stream.close();
    });
  });
}

t.test("registration rejects two files that define the same symbol", async (t) => {
  // A second file in the discovery package that redefines Endpoint.
  const clash = createFileRegistry(
    create(FileDescriptorSetSchema, {
      file: [
        { name: "coral/discovery/v1/clash.proto", package: "coral.discovery.v1", syntax: "proto3", messageType: [{ name: "Endpoint" }] },
      ],
    }),
  ).getFile("coral/discovery/v1/clash.proto");
  t.ok(clash, "the clashing file was built");
  t.throws(() => transportFor([file_coral_discovery_v1_discovery, clash as DescFile]), {
    message: /"coral\.discovery\.v1\.Endpoint" is defined in both/,
  });
});

t.test("a file given twice, or also reached as a dependency, is served once", async (t) => {
  const transport = transportFor([
    file_coral_discovery_v1_discovery,
    file_google_protobuf_timestamp,
    file_coral_discovery_v1_discovery,
  ]);
  const requests = createQueue<Request>();
  requests.push({ messageRequest: { case: "listServices", value: "" } });
  requests.push({ messageRequest: { case: "fileContainingSymbol", value: "coral.discovery.v1.DiscoveryService" } });
  requests.close();
  const answers: Response[] = [];
  for await (const answer of createClient(v1.ServerReflection, transport).serverReflectionInfo(requests.iterable)) {
    answers.push(answer);
  }
  const services = answers[0]?.messageResponse.case === "listServicesResponse" ? answers[0].messageResponse.value.service : [];
  t.equal(services.filter((s) => s.name === "coral.discovery.v1.DiscoveryService").length, 1);
  t.same(
    descriptorsOf(answers[1]).map((f) => f.name),
    [DISCOVERY_FILE, TIMESTAMP_FILE],
  );
});

t.test("a dependency shared by two imports is sent once, after the first import that needs it", async (t) => {
  // A diamond: top imports left and right, which both import shared.
  const registry = createFileRegistry(
    create(FileDescriptorSetSchema, {
      file: [
        { name: "d/shared.proto", package: "d", syntax: "proto3", messageType: [{ name: "Shared" }] },
        { name: "d/left.proto", package: "d", syntax: "proto3", dependency: ["d/shared.proto"], messageType: [{ name: "Left" }] },
        { name: "d/right.proto", package: "d", syntax: "proto3", dependency: ["d/shared.proto"], messageType: [{ name: "Right" }] },
        { name: "d/top.proto", package: "d", syntax: "proto3", dependency: ["d/left.proto", "d/right.proto"], messageType: [{ name: "Top" }] },
      ],
    }),
  );
  const top = registry.getFile("d/top.proto");
  if (top === undefined) throw new Error("d/top.proto was not built");
  const requests = createQueue<Request>();
  const answers = createClient(v1.ServerReflection, transportFor([top])).serverReflectionInfo(requests.iterable);
  requests.push({ messageRequest: { case: "fileByFilename", value: "d/top.proto" } });
  requests.close();
  const received: Response[] = [];
  for await (const answer of answers) received.push(answer);
  t.same(
    descriptorsOf(received[0]).map((f) => f.name),
    ["d/top.proto", "d/left.proto", "d/shared.proto", "d/right.proto"],
  );
});

t.test("extensions are found by extendee and number, and listed per type", async (t) => {
  // protoc would write this for: syntax = "proto2"; package x; message Base { extensions 100 to 199; }
  // extend Base { optional int32 tag = 150; } with Base and the extension in separate files.
  const registry = createFileRegistry(
    create(FileDescriptorSetSchema, {
      file: [
        {
          name: "x/base.proto",
          package: "x",
          syntax: "proto2",
          messageType: [{ name: "Base", extensionRange: [{ start: 100, end: 200 }] }],
        },
        {
          name: "x/ext.proto",
          package: "x",
          syntax: "proto2",
          dependency: ["x/base.proto"],
          extension: [{ name: "tag", number: 150, label: 1, type: 5, extendee: ".x.Base" }],
        },
      ],
    }),
  );
  const ext = registry.getFile("x/ext.proto");
  if (ext === undefined) throw new Error("x/ext.proto was not built");
  const requests = createQueue<Request>();
  const answers = createClient(v1.ServerReflection, transportFor([ext])).serverReflectionInfo(requests.iterable);
  requests.push({
    messageRequest: { case: "fileContainingExtension", value: { containingType: "x.Base", extensionNumber: 150 } },
  });
  requests.push({ messageRequest: { case: "allExtensionNumbersOfType", value: "x.Base" } });
  requests.push({ messageRequest: { case: "fileContainingSymbol", value: "x.tag" } });
  requests.close();
  const received: Response[] = [];
  for await (const answer of answers) received.push(answer);
  t.same(
    descriptorsOf(received[0]).map((f) => f.name),
    ["x/ext.proto", "x/base.proto"],
  );
  t.same(received[1]?.messageResponse.value, {
    $typeName: "grpc.reflection.v1.ExtensionNumberResponse",
    baseTypeName: "x.Base",
    extensionNumber: [150],
  });
  t.equal(descriptorsOf(received[2])[0]?.name, "x/ext.proto");
});

/**
 * Sends `count` list_services requests on one v1 stream served with `options`,
 * half-closes, and returns how many were answered and the error the stream
 * ended with, if any.
 */
async function flood(options: ReflectionOptions, count: number, version: "v1" | "v1alpha" = "v1") {
  const transport = createRouterTransport((router) => registerReflection(router, [file_coral_discovery_v1_discovery], options));
  const requests = createQueue<Request>();
  const service = version === "v1" ? v1.ServerReflection : v1alpha.ServerReflection;
  const answers = createClient(service, transport).serverReflectionInfo(requests.iterable);
  for (let i = 0; i < count; i++) requests.push({ messageRequest: { case: "listServices", value: "" } });
  requests.close();
  let answered = 0;
  try {
    for await (const answer of answers) {
      if (answer.messageResponse.case === "listServicesResponse") answered++;
    }
    return { answered, error: undefined };
  } catch (error) {
    return { answered, error: ConnectError.from(error) };
  }
}

const IP = "198.51.100.7";

t.test("admit is asked once per request message, with the call's context, before it is answered", async (t) => {
  const seen: string[] = [];
  const admit = (ctx: HandlerContext) => (seen.push(`${ctx.service.typeName}/${ctx.method.name}`), undefined);
  t.same(await flood({ admit }, 3), { answered: 3, error: undefined });
  t.same(seen, Array(3).fill("grpc.reflection.v1.ServerReflection/ServerReflectionInfo"));
});

t.test("a refusal ends the stream with that error; the messages before it were answered", async (t) => {
  let left = 2;
  const admit = () => (left-- > 0 ? undefined : new ConnectError("no more", Code.ResourceExhausted));
  const { answered, error } = await flood({ admit }, 5);
  t.equal(answered, 2);
  t.equal(error?.code, Code.ResourceExhausted);
  t.equal(error?.rawMessage, "no more");
});

t.test("metered by the lookup rate limit on an injected clock: a burst of N answers N messages, then resource_exhausted with Retry-After", async (t) => {
  for (const version of ["v1", "v1alpha"] as const) {
    const clock = createFakeClock();
    const lookup = { perSecond: 2, burst: 4 };
    const limit = createRateLimit({ register: lookup, lookup, token: lookup }, clock.now, () => false);
    const admit = (ctx: HandlerContext) => limit.check(ctx.method.name, IP);
    const first = await flood({ admit }, 5, version);
    t.equal(first.answered, 4, `${version}: the burst of 4`);
    t.equal(first.error?.code, Code.ResourceExhausted, `${version}: the fifth message ends the stream`);
    t.match(first.error?.rawMessage, /at most 2 lookups per second \(bursts of 4\)/);
    t.equal(first.error?.metadata.get("retry-after"), "1");
    const next = await flood({ admit }, 1, version);
    t.same([next.answered, next.error?.code], [0, Code.ResourceExhausted], `${version}: a new stream gets no free answer`);
    t.equal(limit.check("Health", IP)?.code, Code.ResourceExhausted, `${version}: the budget is the one Health uses`);
    clock.advance(1_000);
    const later = await flood({ admit }, 3, version);
    t.same([later.answered, later.error?.code], [2, Code.ResourceExhausted], `${version}: refilled at 2 per second`);
  }
});

t.test("an exempt address is never metered", async (t) => {
  const one = { perSecond: 0.001, burst: 1 };
  const limit = createRateLimit({ register: one, lookup: one, token: one }, createFakeClock().now, (ip) => ip === "127.0.0.1");
  t.same(await flood({ admit: (ctx) => limit.check(ctx.method.name, "127.0.0.1") }, 50), { answered: 50, error: undefined });
});
