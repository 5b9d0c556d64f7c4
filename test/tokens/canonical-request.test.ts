import t from "tap";
import { create, fromBinary, toBinary, type DescMessage } from "@bufbuild/protobuf";
import {
  FingerprintAlgorithm,
  RegisterAgentRequestSchema,
  RegisterColonyRequestSchema,
} from "../../gen/coral/discovery/v1/discovery_pb.js";
import { canonicalRequestBytes } from "../../src/tokens/canonical-request.js";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
/** A length-delimited record, written by hand. */
const ld = (field: number, text: string) => {
  const bytes = Buffer.from(text, "utf8");
  return Buffer.concat([Buffer.from([(field << 3) | 2, bytes.length]), bytes]);
};

t.test("without maps, or with map keys already in order and not integer-like, toBinary and the canonical bytes agree", async (t) => {
  const requests = [
    create(RegisterColonyRequestSchema, { meshId: "m", pubkey: "p", endpoints: ["1.2.3.4:5"], connectPort: 9000 }),
    create(RegisterColonyRequestSchema, {
      meshId: "m",
      pubkey: "p",
      endpoints: ["1.2.3.4:5", "[2001:db8::1]:5"],
      meshIpv4: "10.0.0.1",
      meshIpv6: "fd00::1",
      connectPort: 1,
      metadata: { a: "1", b: "2", c: "" },
      observedEndpoint: { ip: "203.0.113.1", port: 7, protocol: "udp", viaRelay: true },
      publicPort: 443,
      publicEndpoint: {
        enabled: true,
        url: "https://x",
        caCert: "pem",
        caFingerprint: { algorithm: FingerprintAlgorithm.SHA256, value: new Uint8Array([1, 2, 3]) },
        updatedAt: { seconds: 1_767_225_600n, nanos: 5 },
      },
    }),
    create(RegisterAgentRequestSchema, { agentId: "a", meshId: "m", pubkey: "p", metadata: { only: "one" }, observedEndpoint: {} }),
    create(RegisterAgentRequestSchema, { agentId: "a", meshId: "m", pubkey: "p", metadata: { "10": "x" } }),
  ];
  for (const request of requests) {
    const schema: DescMessage = request.$typeName === RegisterColonyRequestSchema.typeName ? RegisterColonyRequestSchema : RegisterAgentRequestSchema;
    t.equal(hex(canonicalRequestBytes(request)), hex(toBinary(schema, request)), request.$typeName);
  }
});

t.test("map entries are sorted by key bytes, as Go's deterministic marshaling writes them; JavaScript's order differs", async (t) => {
  const request = create(RegisterColonyRequestSchema, { meshId: "m", metadata: { zone: "eu", "9": "nine", "10": "ten", b: "", "é": "e" }, publicPort: 1 });
  t.same(Object.keys(request.metadata), ["9", "10", "zone", "b", "é"], "JavaScript puts integer-like keys first, the rest in insertion order");
  // By hand: field 1, then the entries "10" < "9" < "b" < "zone" < "é" (0xc3 0xa9), then field 9.
  const entryBytes = (key: string, value: string) => {
    const inner = Buffer.concat([ld(1, key), ld(2, value)]);
    return Buffer.concat([Buffer.from([0x3a, inner.length]), inner]);
  };
  const expected = Buffer.concat([
    ld(1, "m"),
    entryBytes("10", "ten"),
    entryBytes("9", "nine"),
    entryBytes("b", ""),
    entryBytes("zone", "eu"),
    entryBytes("é", "e"),
    Buffer.from([0x48, 0x01]),
  ]);
  const canonical = canonicalRequestBytes(request);
  t.equal(hex(canonical), hex(expected));
  t.not(hex(toBinary(RegisterColonyRequestSchema, request)), hex(expected), "toBinary alone writes JavaScript's order");
  t.same(fromBinary(RegisterColonyRequestSchema, canonical).metadata, request.metadata, "the same message decodes from them");
});

t.test("the order of the input never matters: every permutation of the same map gives the same bytes", async (t) => {
  const pairs: [string, string][] = [["x", "1"], ["10", "2"], ["2", "3"], ["ab", "4"], ["a", "5"]];
  const seen = new Set<string>();
  for (let rotation = 0; rotation < pairs.length; rotation++) {
    const rotated = [...pairs.slice(rotation), ...pairs.slice(0, rotation)];
    for (const order of [rotated, [...rotated].reverse()]) {
      seen.add(hex(canonicalRequestBytes(create(RegisterAgentRequestSchema, { agentId: "a", meshId: "m", pubkey: "p", metadata: Object.fromEntries(order) }))));
    }
  }
  t.equal(seen.size, 1);
});

t.test("unknown fields are not part of the canonical bytes; a decoded message gives the bytes its sender computed", async (t) => {
  const sent = create(RegisterColonyRequestSchema, { meshId: "m", pubkey: "p", metadata: { z: "1", y: "2" } });
  const withUnknown = Buffer.concat([toBinary(RegisterColonyRequestSchema, sent), Buffer.from([0xa8, 0x06, 0x01])]); // field 101, varint 1
  const received = fromBinary(RegisterColonyRequestSchema, withUnknown);
  t.equal(received.$unknown?.length, 1, "the decoder kept the unknown field");
  t.equal(hex(canonicalRequestBytes(received)), hex(canonicalRequestBytes(sent)));
});

t.test("the requests' only maps are top-level map<string,string> fields, and nested messages hold none (what the sorting relies on)", async (t) => {
  const mapsIn = (desc: DescMessage, seen = new Set<string>()): string[] => {
    if (seen.has(desc.typeName)) return [];
    seen.add(desc.typeName);
    return desc.fields.flatMap((field) => {
      if (field.fieldKind === "map") return [`${desc.typeName}.${field.name}:${field.mapKey}:${field.mapKind}`];
      if (field.fieldKind === "message" || (field.fieldKind === "list" && field.listKind === "message")) return mapsIn(field.message, seen);
      return [];
    });
  };
  // ScalarType.STRING = 9.
  t.same(mapsIn(RegisterColonyRequestSchema), ["coral.discovery.v1.RegisterColonyRequest.metadata:9:scalar"]);
  t.same(mapsIn(RegisterAgentRequestSchema), ["coral.discovery.v1.RegisterAgentRequest.metadata:9:scalar"]);
});
