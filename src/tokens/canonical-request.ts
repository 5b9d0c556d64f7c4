// The canonical bytes of a registration request, which a registration proof
// covers: the message as Go's proto.MarshalOptions{Deterministic: true} (and
// Python's SerializeToString(deterministic=True)) writes it, so that a client
// in another language can reproduce them from its own message:
//   - known fields only (unknown fields are left out), in field-number order;
//   - proto3 implicit presence: zero scalars and empty lists/maps are not
//     written; a set message field is written even when empty;
//   - repeated strings and messages one record per element, in list order;
//   - map entries sorted by key (bytewise UTF-8), each entry with its key
//     (field 1) and its value (field 2), both always written.
// protobuf-es's toBinary already writes fields in number order; only its map
// entry order (JavaScript property order, integer-like keys first) differs,
// so the entries of each map field are put in key order here.
import { toBinary } from "@bufbuild/protobuf";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import {
  RegisterAgentRequestSchema,
  RegisterColonyRequestSchema,
  type RegisterAgentRequest,
  type RegisterColonyRequest,
} from "../../gen/coral/discovery/v1/discovery_pb.js";

/** The requests a proof covers; their only maps are top-level `map<string, string>` (a test holds that). */
export type ProvableRequest = RegisterColonyRequest | RegisterAgentRequest;

/** One top-level field record of the encoded message: its bytes' range and field number. */
interface Span {
  readonly start: number;
  readonly end: number;
  readonly fieldNo: number;
}

/** A map entry's key: its field 1 (protobuf-es writes it first). */
function entryKey(entry: Uint8Array): Uint8Array {
  const reader = new BinaryReader(entry);
  reader.tag();
  return reader.bytes();
}

/** The canonical bytes of `request` (see the top of this file). */
export function canonicalRequestBytes(request: ProvableRequest): Uint8Array {
  const schema = request.$typeName === RegisterColonyRequestSchema.typeName ? RegisterColonyRequestSchema : RegisterAgentRequestSchema;
  const bytes = toBinary(schema, request as never, { writeUnknownFields: false });
  const mapField = schema.fields.find((field) => field.fieldKind === "map")?.number;
  if (mapField === undefined || Object.keys((request as { metadata: object }).metadata).length < 2) return bytes;
  // The top-level records; the entries of the map field are consecutive.
  const records: Span[] = [];
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const [fieldNo, wireType] = reader.tag();
    reader.skip(wireType, fieldNo);
    records.push({ start, end: reader.pos, fieldNo });
  }
  const entries = records.filter((record) => record.fieldNo === mapField);
  const first = records.indexOf(entries[0] as Span);
  const keyed = entries.map((record) => {
    const whole = bytes.subarray(record.start, record.end);
    const entryReader = new BinaryReader(whole);
    entryReader.tag(); // the map field's own tag: length-delimited
    return { whole, key: entryKey(entryReader.bytes()) };
  });
  keyed.sort((a, b) => Buffer.compare(a.key, b.key));
  const out = new Uint8Array(bytes.length);
  let at = 0;
  const put = (part: Uint8Array) => {
    out.set(part, at);
    at += part.length;
  };
  put(bytes.subarray(0, (records[first] as Span).start));
  for (const entry of keyed) put(entry.whole);
  put(bytes.subarray((records[first + entries.length - 1] as Span).end));
  return out;
}
