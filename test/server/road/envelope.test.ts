import t, { type Test } from "tap";
import { Code, ConnectError } from "@connectrpc/connect";
import { trailerFlag } from "@connectrpc/connect/protocol-grpc-web";
import { compressedFlag } from "@connectrpc/connect/protocol";
import {
  checkEnvelopeHeader,
  COMPRESSED_FLAG,
  encodeEnvelope,
  ENVELOPE_HEADER_BYTES,
  singleEnvelope,
  TRAILER_FLAG,
} from "../../../src/server/road/envelope.js";

/** An envelope as bytes, built by hand: flags, a declared length that may lie, the payload. */
function frame(flags: number, payload: number[] | Buffer, declaredLength = payload.length): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(declaredLength, 1);
  return Buffer.concat([head, Buffer.from(payload)]);
}

function thrown(t: Test, run: () => unknown, code: Code, message: string, what: string) {
  let error: unknown;
  try {
    run();
  } catch (e) {
    error = e;
  }
  t.ok(error instanceof ConnectError, `${what}: a ConnectError`);
  t.equal(Code[(error as ConnectError).code], Code[code], `${what}: ${Code[code]}`);
  t.equal((error as ConnectError).rawMessage, message, `${what}: ${message}`);
}

t.test("the envelope constants are the protocol's: a 5-byte header, 0x01 compressed, 0x80 trailers", async (t) => {
  t.equal(ENVELOPE_HEADER_BYTES, 5);
  t.equal(COMPRESSED_FLAG, 0x01);
  t.equal(COMPRESSED_FLAG, compressedFlag, "connect-es's compressed flag");
  t.equal(TRAILER_FLAG, 0x80);
  t.equal(TRAILER_FLAG, trailerFlag, "connect-es's gRPC-Web trailer flag");
});

t.test("the one envelope of a body is its flags and a view of its payload", async (t) => {
  const body = frame(0, [1, 2, 3]);
  const envelope = singleEnvelope(body, 100);
  t.equal(envelope.flags, 0);
  t.same(Buffer.from(envelope.data), Buffer.from([1, 2, 3]));
  t.equal(envelope.data.buffer, body.buffer, "no copy");
});

t.test("an envelope with an empty payload is an empty message", async (t) => {
  const envelope = singleEnvelope(frame(0, []), 100);
  t.equal(envelope.flags, 0);
  t.equal(envelope.data.byteLength, 0);
});

t.test("an empty body is a missing message", async (t) => {
  thrown(t, () => singleEnvelope(Buffer.alloc(0), 100), Code.InvalidArgument, "protocol error: missing input message for unary method", "empty");
});

t.test("a body of 1 to 4 bytes is an incomplete envelope", async (t) => {
  for (let length = 1; length <= 4; length++) {
    thrown(t, () => singleEnvelope(Buffer.alloc(length), 100), Code.InvalidArgument, "protocol error: incomplete envelope", `${length} bytes`);
  }
});

t.test("a payload shorter than its declared length is an incomplete envelope", async (t) => {
  thrown(t, () => singleEnvelope(frame(0, [1, 2, 3], 10), 100), Code.InvalidArgument, "protocol error: incomplete envelope", "3 of 10 bytes");
  thrown(t, () => singleEnvelope(frame(0, [], 1), 100), Code.InvalidArgument, "protocol error: incomplete envelope", "0 of 1 bytes");
});

t.test("a declared length over the limit is resource_exhausted with connect-es's message, whatever follows", async (t) => {
  thrown(t, () => singleEnvelope(frame(0, [1, 2], 101), 100), Code.ResourceExhausted, "message size 101 is larger than configured readMaxBytes 100", "101 declared");
  thrown(t, () => singleEnvelope(frame(0, [], 0xffff_ffff), 100), Code.ResourceExhausted, "message size 4294967295 is larger than configured readMaxBytes 100", "4 GiB declared");
  t.equal(singleEnvelope(frame(0, Buffer.alloc(100)), 100).data.byteLength, 100, "a payload of exactly the limit is fine");
});

t.test("bytes after the envelope are an extra message", async (t) => {
  thrown(t, () => singleEnvelope(Buffer.concat([frame(0, [1]), Buffer.from([0])]), 100), Code.InvalidArgument, "protocol error: received extra input message for unary method", "one extra byte");
  thrown(t, () => singleEnvelope(Buffer.concat([frame(0, [1]), frame(0, [2])]), 100), Code.InvalidArgument, "protocol error: received extra input message for unary method", "a second envelope");
});

t.test("any flag but the compressed one is refused, quoting the flags in binary", async (t) => {
  for (let bit = 1; bit < 8; bit++) {
    const flags = 1 << bit;
    thrown(
      t,
      () => singleEnvelope(frame(flags, [1]), 100),
      Code.InvalidArgument,
      `protocol error: unexpected envelope flags 0b${flags.toString(2).padStart(8, "0")}`,
      `flag 0x${flags.toString(16)}`,
    );
  }
  thrown(t, () => singleEnvelope(frame(0x81, [1]), 100), Code.InvalidArgument, "protocol error: unexpected envelope flags 0b10000001", "a compressed trailer block");
  thrown(t, () => singleEnvelope(frame(0xff, [1]), 100), Code.InvalidArgument, "protocol error: unexpected envelope flags 0b11111111", "every flag");
});

t.test("the compressed flag passes through for the caller to decompress", async (t) => {
  const envelope = singleEnvelope(frame(COMPRESSED_FLAG, [9, 8, 7]), 100);
  t.equal(envelope.flags, COMPRESSED_FLAG);
  t.same(Buffer.from(envelope.data), Buffer.from([9, 8, 7]));
});

t.test("checkEnvelopeHeader waits for 5 bytes before it judges", async (t) => {
  for (let size = 0; size < 5; size++) {
    const head = Buffer.alloc(size, 0xff);
    t.doesNotThrow(() => checkEnvelopeHeader(size === 0 ? [] : [head], size, 100), `${size} bytes of 0xff`);
  }
  t.doesNotThrow(() => checkEnvelopeHeader([Buffer.from([0xff, 0xff]), Buffer.from([0xff, 0xff])], 4, 100), "4 bytes in two chunks");
});

t.test("checkEnvelopeHeader refuses a declared length over the limit from the first chunk holding the header", async (t) => {
  const over = frame(0, [], 101);
  thrown(t, () => checkEnvelopeHeader([over], 5, 100), Code.ResourceExhausted, "message size 101 is larger than configured readMaxBytes 100", "header alone");
  const withPayload = frame(0, [1, 2, 3], 101);
  thrown(t, () => checkEnvelopeHeader([withPayload], withPayload.length, 100), Code.ResourceExhausted, "message size 101 is larger than configured readMaxBytes 100", "header and payload");
  t.doesNotThrow(() => checkEnvelopeHeader([frame(0, [], 100)], 5, 100), "exactly the limit");
  t.doesNotThrow(() => checkEnvelopeHeader([frame(0, [1, 2, 3])], 8, 100), "a small message");
});

t.test("checkEnvelopeHeader reads a header split across chunks", async (t) => {
  const over = frame(0, [1, 2], 0x0102_0304);
  const splits: Buffer[][] = [
    [over.subarray(0, 1), over.subarray(1)],
    [over.subarray(0, 2), over.subarray(2, 4), over.subarray(4)],
    [over.subarray(0, 1), over.subarray(1, 2), over.subarray(2, 3), over.subarray(3, 4), over.subarray(4, 5)],
    [over.subarray(0, 4), over.subarray(4, 5), over.subarray(5)],
  ];
  for (const chunks of splits) {
    const size = chunks.reduce((n, c) => n + c.length, 0);
    thrown(
      t,
      () => checkEnvelopeHeader(chunks, size, 100),
      Code.ResourceExhausted,
      "message size 16909060 is larger than configured readMaxBytes 100",
      `chunks of ${chunks.map((c) => c.length).join("+")}`,
    );
  }
  const fine = frame(0, [1, 2], 2);
  t.doesNotThrow(() => checkEnvelopeHeader([fine.subarray(0, 3), fine.subarray(3)], fine.length, 100), "a split header under the limit");
});

t.test("encodeEnvelope writes the flags, the big-endian length and the payload", async (t) => {
  t.same(encodeEnvelope(0, new Uint8Array(0)), Buffer.from([0, 0, 0, 0, 0]), "an empty payload");
  t.same(encodeEnvelope(TRAILER_FLAG, Buffer.from("ab")), Buffer.from([0x80, 0, 0, 0, 2, 0x61, 0x62]), "a trailer block");
  const payload = Buffer.alloc(0x0102, 7);
  const encoded = encodeEnvelope(COMPRESSED_FLAG, payload);
  t.same(encoded.subarray(0, 5), Buffer.from([0x01, 0, 0, 0x01, 0x02]), "the length, big-endian");
  t.same(encoded.subarray(5), payload, "then the payload");
  const view = new Uint8Array([9, 9, 1, 2, 3, 9]).subarray(2, 5);
  t.same(encodeEnvelope(0, view), Buffer.from([0, 0, 0, 0, 3, 1, 2, 3]), "a view is written from its offset");
});

t.test("what encodeEnvelope writes, singleEnvelope reads back", async (t) => {
  for (const flags of [0, COMPRESSED_FLAG]) {
    const payload = Buffer.from(`message with flags ${flags}`);
    const envelope = singleEnvelope(encodeEnvelope(flags, payload), 1000);
    t.equal(envelope.flags, flags);
    t.same(Buffer.from(envelope.data), payload);
  }
});
