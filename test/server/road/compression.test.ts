import t, { type Test } from "tap";
import { randomBytes } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { Code, ConnectError } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import { ACCEPTED, BROTLI, COMPRESS_MIN_BYTES, GZIP, type SyncCompression } from "../../../src/server/road/compression.js";

/** Each compression with connect-es's own (asynchronous) implementation of it. */
const PAIRS: readonly [SyncCompression, typeof compressionGzip][] = [
  [GZIP, compressionGzip],
  [BROTLI, compressionBrotli],
];

/** Text that compresses well, like a JSON message. */
const TEXT = Buffer.from(JSON.stringify({ meshId: "mesh-1", colonyId: "colony-1", endpoints: Array.from({ length: 50 }, (_, i) => `10.0.0.${i}:4242`) }));

function failure(t: Test, run: () => unknown, what: string): ConnectError {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  t.ok(thrown instanceof ConnectError, `${what}: throws a ConnectError`);
  return thrown instanceof ConnectError ? thrown : new ConnectError("nothing thrown", Code.Unknown);
}

t.test("the road accepts gzip then br, and compresses answers from 1024 bytes as connect-es does", async (t) => {
  t.same(
    ACCEPTED.map((c) => c.name),
    ["gzip", "br"],
  );
  t.equal(ACCEPTED[0], GZIP);
  t.equal(ACCEPTED[1], BROTLI);
  t.equal(COMPRESS_MIN_BYTES, 1024);
});

t.test("gzip and br round-trip a message, and shrink one that repeats itself", async (t) => {
  for (const [compression] of PAIRS) {
    const compressed = compression.compressSync(TEXT);
    t.ok(compressed.byteLength < TEXT.byteLength, `${compression.name}: smaller than the input`);
    t.same(Buffer.from(compression.decompressSync(compressed, TEXT.byteLength)), TEXT, `${compression.name}: the same bytes back`);
    const random = randomBytes(3000);
    t.same(Buffer.from(compression.decompressSync(compression.compressSync(random), 3000)), random, `${compression.name}: incompressible bytes too`);
  }
});

t.test("what the road compresses connect-es decompresses, and the other way round", async (t) => {
  for (const [ours, theirs] of PAIRS) {
    t.same(Buffer.from(await theirs.decompress(ours.compressSync(TEXT), TEXT.byteLength)), TEXT, `${ours.name}: connect-es reads ours`);
    t.same(Buffer.from(ours.decompressSync(await theirs.compress(TEXT), TEXT.byteLength)), TEXT, `${ours.name}: we read connect-es's`);
  }
});

t.test("a message exactly as large as the limit decompresses; one byte more is resource_exhausted", async (t) => {
  for (const [compression] of PAIRS) {
    const compressed = compression.compressSync(TEXT);
    t.equal(compression.decompressSync(compressed, TEXT.byteLength).byteLength, TEXT.byteLength, `${compression.name}: at the limit`);
    const error = failure(t, () => compression.decompressSync(compressed, TEXT.byteLength - 1), `${compression.name}: one over`);
    t.equal(Code[error.code], Code[Code.ResourceExhausted], `${compression.name}: resource_exhausted`);
  }
});

t.test("a decompression bomb stops at the limit with resource_exhausted and connect-es's message", async (t) => {
  const zeros = Buffer.alloc(16 * 1024 * 1024);
  for (const [ours, theirs] of PAIRS) {
    const bomb = ours.compressSync(zeros);
    t.ok(bomb.byteLength < 64 * 1024, `${ours.name}: 16 MiB in ${bomb.byteLength} bytes`);
    const error = failure(t, () => ours.decompressSync(bomb, 4096), ours.name);
    t.equal(Code[error.code], Code[Code.ResourceExhausted], `${ours.name}: resource_exhausted`);
    t.equal(error.rawMessage, "message is larger than configured readMaxBytes 4096 after decompression", `${ours.name}: the limit in the message`);
    const reference = await theirs.decompress(bomb, 4096).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(reference instanceof ConnectError, `${ours.name}: connect-es refuses it too`);
    t.equal((reference as ConnectError).rawMessage, error.rawMessage, `${ours.name}: with the same message`);
    t.equal((reference as ConnectError).code, error.code, `${ours.name}: and the same code`);
  }
});

t.test("input that is not compressed at all is invalid_argument for both, with the zlib error as cause", async (t) => {
  const garbage = Buffer.from("this was never compressed, not even once");
  for (const [compression] of PAIRS) {
    const error = failure(t, () => compression.decompressSync(garbage, 1 << 20), compression.name);
    t.equal(Code[error.code], Code[Code.InvalidArgument], `${compression.name}: invalid_argument`);
    t.equal(error.rawMessage, "decompression failed", `${compression.name}: connect-es's message`);
    t.ok(error.cause instanceof Error, `${compression.name}: the zlib error is kept as the cause`);
  }
  const gzipError = failure(t, () => GZIP.decompressSync(garbage, 1 << 20), "gzip");
  t.equal((gzipError.cause as NodeJS.ErrnoException).code, "Z_DATA_ERROR", "gzip: a data error");
});

t.test("one compression's output given to the other is invalid_argument", async (t) => {
  t.equal(failure(t, () => BROTLI.decompressSync(GZIP.compressSync(TEXT), 1 << 20), "gzip as br").code, Code.InvalidArgument);
  t.equal(failure(t, () => GZIP.decompressSync(BROTLI.compressSync(TEXT), 1 << 20), "br as gzip").code, Code.InvalidArgument);
});

t.test("truncated input is invalid_argument for both, where connect-es says internal", async (t) => {
  for (const [ours, theirs] of PAIRS) {
    const compressed = ours.compressSync(TEXT);
    const truncated = compressed.subarray(0, compressed.byteLength - 8);
    const error = failure(t, () => ours.decompressSync(truncated, 1 << 20), `${ours.name} truncated`);
    t.equal(Code[error.code], Code[Code.InvalidArgument], `${ours.name}: invalid_argument`);
    t.equal(error.rawMessage, "decompression failed", `${ours.name}: connect-es's message`);
    const reference = await theirs.decompress(truncated, 1 << 20).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.equal(Code[(reference as ConnectError).code], Code[Code.Internal], `${ours.name}: connect-es answers internal (the road deliberately does not)`);
  }
});

t.test("an empty input decompresses to an empty message, as connect-es treats it", async (t) => {
  for (const [ours, theirs] of PAIRS) {
    t.equal(ours.decompressSync(new Uint8Array(0), 1024).byteLength, 0, ours.name);
    t.equal((await theirs.decompress(new Uint8Array(0), 1024)).byteLength, 0, `${ours.name}: connect-es too`);
  }
});

t.test("gzip output is a standard gzip stream", async (t) => {
  t.same(gunzipSync(GZIP.compressSync(TEXT)), TEXT);
});
