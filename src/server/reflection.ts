import { toBinary, type DescEnum, type DescExtension, type DescFile, type DescMessage } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ConnectError, ConnectRouter, HandlerContext } from "@connectrpc/connect";
import {
  file_grpc_reflection_v1_reflection,
  ServerReflection as ServerReflectionV1,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import {
  file_grpc_reflection_v1alpha_reflection,
  ServerReflection as ServerReflectionV1alpha,
} from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/**
 * Registers gRPC server reflection on `router`, as both
 * `grpc.reflection.v1.ServerReflection` and `grpc.reflection.v1alpha.ServerReflection`,
 * so that `buf curl`, grpcurl and friends work without a local schema.
 *
 * `files` are the files whose services the server exposes, typically
 * `[file_coral_discovery_v1_discovery]`. Their transitive dependencies (for example
 * `google/protobuf/timestamp.proto`) are served too, and so are the reflection files
 * themselves, so `list_services` names the reflection services as grpc-go does.
 * Every lookup table and every serialized descriptor is built here, once; a request
 * only reads them.
 *
 * Reflection is a bidi stream: over gRPC it needs HTTP/2 (h2c or TLS) on the server.
 *
 * @throws Error when two different files define the same fully-qualified name.
 */
export function registerReflection(router: ConnectRouter, files: readonly DescFile[], options: ReflectionOptions = {}): void {
  const { admit } = options;
  const index = createReflectionIndex([
    ...files,
    file_grpc_reflection_v1_reflection,
    file_grpc_reflection_v1alpha_reflection,
  ]);
  // The v1 and v1alpha messages are wire-identical and differ only in their type names.
  // The implementation is written against the structural shapes below, which both
  // generated request types satisfy and whose answers are valid init shapes for both
  // response types, so the compiler checks the one implementation against both services.
  const impl = {
    async *serverReflectionInfo(requests: AsyncIterable<ReflectionRequest>, ctx: HandlerContext) {
      for await (const request of requests) {
        const refused = admit?.(ctx);
        if (refused !== undefined) throw refused;
        yield answer(index, request);
      }
    },
  };
  router.service(ServerReflectionV1, impl);
  router.service(ServerReflectionV1alpha, impl);
}

export interface ReflectionOptions {
  /**
   * Asked before each request message on a stream is answered: undefined lets
   * it through, an error ends the stream with it (a rate limit, for example).
   * Default: every message is answered.
   */
  readonly admit?: (ctx: HandlerContext) => ConnectError | undefined;
}

/** `ServerReflectionRequest` of either protocol version, without its type name. */
interface ReflectionRequest {
  host: string;
  messageRequest:
    | { case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices"; value: string }
    | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
    | { case: undefined; value?: undefined };
}

/** Init shape of `ServerReflectionResponse` of either protocol version. */
interface ReflectionResponse {
  validHost: string;
  originalRequest: ReflectionRequest;
  messageResponse:
    | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
    | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
    | { case: "listServicesResponse"; value: { service: { name: string }[] } }
    | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };
}

/** gRPC status codes used in `error_response.error_code`. */
const Code = { InvalidArgument: 3, NotFound: 5 } as const;

interface ReflectionIndex {
  /** Fully-qualified service names, in registration order. */
  readonly services: readonly string[];
  /** File name (`foo/bar.proto`) -> the file and its transitive dependencies, serialized, the file first. */
  readonly filesByName: ReadonlyMap<string, readonly Uint8Array[]>;
  /** Fully-qualified symbol -> the file name that defines it. */
  readonly fileBySymbol: ReadonlyMap<string, string>;
  /** Fully-qualified message name -> extension number -> the file name that defines the extension. */
  readonly extensionsByType: ReadonlyMap<string, ReadonlyMap<number, string>>;
}

function createReflectionIndex(roots: readonly DescFile[]): ReflectionIndex {
  const files = new Map<string, DescFile>();
  const visit = (file: DescFile): void => {
    // First one wins: the same file can arrive through several roots.
    if (files.has(file.proto.name)) return;
    files.set(file.proto.name, file);
    file.dependencies.forEach(visit);
  };
  roots.forEach(visit);

  // Each file is serialized once, however many closures it appears in.
  const serialized = new Map<string, Uint8Array>();
  const bytesOf = (file: DescFile): Uint8Array => {
    let bytes = serialized.get(file.proto.name);
    if (bytes === undefined) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      serialized.set(file.proto.name, bytes);
    }
    return bytes;
  };
  const filesByName = new Map<string, readonly Uint8Array[]>();
  for (const [name, file] of files) filesByName.set(name, closure(file).map(bytesOf));

  const services: string[] = [];
  const fileBySymbol = new Map<string, string>();
  const extensionsByType = new Map<string, Map<number, string>>();
  // Extensions are attached to their extendee after the walk, whichever order files come in.
  const extensions: { extendee: string; number: number; fileName: string }[] = [];
  for (const [fileName, file] of files) {
    const define = (symbol: string): void => {
      const previous = fileBySymbol.get(symbol);
      if (previous !== undefined && previous !== fileName) {
        throw new Error(`reflection: symbol "${symbol}" is defined in both "${previous}" and "${fileName}"`);
      }
      fileBySymbol.set(symbol, fileName);
    };
    const defineExtension = (ext: DescExtension): void => {
      define(ext.typeName);
      extensions.push({ extendee: ext.extendee.typeName, number: ext.number, fileName });
    };
    const defineEnum = (desc: DescEnum): void => {
      define(desc.typeName);
      // Enum values are scoped as siblings of their enum, as in C++.
      const scope = desc.typeName.slice(0, desc.typeName.length - desc.name.length);
      for (const value of desc.values) define(scope + value.name);
    };
    const defineMessage = (desc: DescMessage): void => {
      define(desc.typeName);
      extensionsByType.set(desc.typeName, extensionsByType.get(desc.typeName) ?? new Map());
      for (const member of [...desc.fields, ...desc.oneofs]) define(`${desc.typeName}.${member.name}`);
      desc.nestedMessages.forEach(defineMessage);
      // protobuf-es turns map fields into maps and has no DescMessage for their synthetic
      // entry types, but the descriptor we serve does declare them, so grpc-go finds them.
      for (const entry of desc.proto.nestedType.filter((n) => n.options?.mapEntry === true)) {
        const entryName = `${desc.typeName}.${entry.name}`;
        define(entryName);
        for (const field of entry.field) define(`${entryName}.${field.name}`);
      }
      desc.nestedEnums.forEach(defineEnum);
      desc.nestedExtensions.forEach(defineExtension);
    };
    file.messages.forEach(defineMessage);
    file.enums.forEach(defineEnum);
    file.extensions.forEach(defineExtension);
    for (const service of file.services) {
      define(service.typeName);
      services.push(service.typeName);
      for (const method of service.methods) define(`${service.typeName}.${method.name}`);
    }
  }
  for (const { extendee, number, fileName } of extensions) {
    const byNumber = extensionsByType.get(extendee) ?? new Map<number, string>();
    byNumber.set(number, fileName);
    extensionsByType.set(extendee, byNumber);
  }

  return { services, filesByName, fileBySymbol, extensionsByType };
}

/** `file` and its transitive dependencies, each once, `file` first (depth-first, in import order). */
function closure(file: DescFile): DescFile[] {
  const seen = new Set<string>();
  const out: DescFile[] = [];
  const walk = (f: DescFile): void => {
    if (seen.has(f.proto.name)) return;
    seen.add(f.proto.name);
    out.push(f);
    f.dependencies.forEach(walk);
  };
  walk(file);
  return out;
}

function answer(index: ReflectionIndex, request: ReflectionRequest): ReflectionResponse {
  const reply = (messageResponse: ReflectionResponse["messageResponse"]): ReflectionResponse => ({
    validHost: request.host,
    originalRequest: request,
    messageResponse,
  });
  const error = (errorCode: number, errorMessage: string) =>
    reply({ case: "errorResponse", value: { errorCode, errorMessage } });
  const fileResponse = (fileName: string | undefined, notFound: string) => {
    const descriptors = fileName === undefined ? undefined : index.filesByName.get(fileName);
    return descriptors === undefined
      ? error(Code.NotFound, notFound)
      : reply({ case: "fileDescriptorResponse", value: { fileDescriptorProto: [...descriptors] } });
  };

  const r = request.messageRequest;
  switch (r.case) {
    case "listServices":
      return reply({ case: "listServicesResponse", value: { service: index.services.map((name) => ({ name })) } });
    case "fileByFilename":
      return fileResponse(r.value, `file "${r.value}" not found`);
    case "fileContainingSymbol": {
      // Some clients send the leading dot of a fully-qualified protobuf reference.
      const symbol = r.value.startsWith(".") ? r.value.slice(1) : r.value;
      return fileResponse(index.fileBySymbol.get(symbol), `symbol "${r.value}" not found`);
    }
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = r.value;
      return fileResponse(
        index.extensionsByType.get(containingType)?.get(extensionNumber),
        `extension ${extensionNumber} of type "${containingType}" not found`,
      );
    }
    case "allExtensionNumbersOfType": {
      const byNumber = index.extensionsByType.get(r.value);
      return byNumber === undefined
        ? error(Code.NotFound, `message type "${r.value}" not found`)
        : reply({
            case: "allExtensionNumbersResponse",
            value: { baseTypeName: r.value, extensionNumber: [...byNumber.keys()].sort((a, b) => a - b) },
          });
    }
    case undefined:
      return error(Code.InvalidArgument, "empty request: set one of the message_request fields");
  }
}
