import t from "tap";
import { createMemoryRendezvousStore, sameHash, type RendezvousWrite } from "../../src/registry/rendezvous.js";

const S = 1_700_000_000_000;
const hash = (n: number) => new Uint8Array(32).fill(n);
const write = (n: number, size = 10, ttlMs = 90_000, token = 7): RendezvousWrite => ({
  ciphertext: new Uint8Array(size).fill(n),
  gcmNonce: new Uint8Array(12).fill(n),
  tokenHash: hash(token),
  ttlMs,
});
const LIMITS = { recordsPerMesh: 32, records: 10_000, bytes: 1 << 20 };
const ids = (records: readonly { recordId: string }[]) => records.map((r) => r.recordId);

t.test("sameHash compares bytes, any length mismatch is false", async (t) => {
  t.ok(sameHash(hash(1), hash(1)));
  t.notOk(sameHash(hash(1), hash(2)));
  const last = hash(1);
  last[31] = 0;
  t.notOk(sameHash(hash(1), last), "a difference in the last byte counts");
  t.notOk(sameHash(hash(1), new Uint8Array(31).fill(1)));
});

t.test("publish creates records under the new id, listed least recently published first", async (t) => {
  const store = createMemoryRendezvousStore(LIMITS);
  const a = store.publish("m", undefined, "A", write(1), S);
  t.match(a, { kind: "stored", record: { meshId: "m", recordId: "A", publishedAtMs: S, expiresAtMs: S + 90_000 } });
  store.publish("m", undefined, "B", write(2), S + 1);
  store.publish("other", undefined, "C", write(3), S + 2);
  t.same(ids(store.list("m", S + 3)), ["A", "B"]);
  t.same(ids(store.list("other", S + 3)), ["C"]);
  t.same(store.list("nobody", S), []);
  t.same(store.size, { records: 3, bytes: 30 });
});

t.test("the stored token hash is a copy: changing the caller's buffer changes nothing", async (t) => {
  const store = createMemoryRendezvousStore(LIMITS);
  const w = write(1);
  store.publish("m", undefined, "A", w, S);
  (w.tokenHash as Uint8Array).fill(9);
  t.equal(store.check("m", "A", hash(7), S), "ok");
});

t.test("republish with the right token replaces ciphertext, nonce and times, keeps id and hash, moves it last", async (t) => {
  const store = createMemoryRendezvousStore(LIMITS);
  store.publish("m", undefined, "A", write(1), S);
  store.publish("m", undefined, "B", write(2), S);
  const again = store.publish("m", "A", "unused", write(5, 20, 30_000), S + 10_000);
  t.match(again, { kind: "stored", record: { recordId: "A", publishedAtMs: S + 10_000, expiresAtMs: S + 40_000 } });
  const listed = store.list("m", S + 10_000);
  t.same(ids(listed), ["B", "A"]);
  t.same([...(listed[1]?.ciphertext ?? [])], new Array(20).fill(5));
  t.same(store.size, { records: 2, bytes: 30 }, "bytes follow the new ciphertext");
  t.equal(store.check("m", "A", hash(7), S + 10_000), "ok");
});

t.test("republish: unknown id, another mesh's id, expired record, wrong token", async (t) => {
  const store = createMemoryRendezvousStore(LIMITS);
  store.publish("m", undefined, "A", write(1, 10, 1_000), S);
  t.same(store.publish("m", "nope", "x", write(1), S), { kind: "unknown_record" });
  t.same(store.publish("other", "A", "x", write(1), S), { kind: "unknown_record" }, "an id of another mesh is unknown");
  t.same(store.publish("m", "A", "x", write(1, 10, 1_000, 8), S), { kind: "token_mismatch" });
  t.same([...(store.list("m", S)[0]?.ciphertext ?? [])], new Array(10).fill(1), "untouched by a mismatch");
  t.same(store.publish("m", "A", "x", write(1), S + 1_000), { kind: "unknown_record" }, "expired at its instant, unswept");
});

t.test("expiry is checked on every read, and sweep frees memory", async (t) => {
  const store = createMemoryRendezvousStore(LIMITS);
  store.publish("m", undefined, "A", write(1, 10, 1_000), S);
  store.publish("n", undefined, "B", write(1, 10, 5_000), S);
  t.equal(store.check("m", "A", hash(7), S + 999), "ok");
  t.equal(store.check("m", "A", hash(7), S + 1_000), "absent");
  t.equal(store.ack("m", "A", hash(7), S + 1_000), "absent");
  t.equal(store.size.records, 2, "not swept yet");
  t.equal(store.sweep(S + 1_000), 1);
  t.same(store.size, { records: 1, bytes: 10 });
  t.same(store.list("m", S + 1_000), []);
  t.equal(store.sweep(S + 10_000, 5), 1);
  t.same(store.size, { records: 0, bytes: 0 });
});

t.test("list drops the mesh's expired records", async (t) => {
  const store = createMemoryRendezvousStore(LIMITS);
  store.publish("m", undefined, "A", write(1, 10, 1_000), S);
  store.publish("m", undefined, "B", write(1, 10, 5_000), S);
  t.same(ids(store.list("m", S + 2_000)), ["B"]);
  t.same(store.size, { records: 1, bytes: 10 });
});

t.test("ack: absent, mismatch keeps the record, ok deletes it", async (t) => {
  const store = createMemoryRendezvousStore(LIMITS);
  store.publish("m", undefined, "A", write(1), S);
  t.equal(store.ack("m", "B", hash(7), S), "absent");
  t.equal(store.ack("m", "A", hash(8), S), "mismatch");
  t.same(ids(store.list("m", S)), ["A"]);
  t.equal(store.ack("m", "A", hash(7), S), "ok");
  t.same(store.list("m", S), []);
  t.equal(store.ack("m", "A", hash(7), S), "absent", "twice: absent");
  t.same(store.size, { records: 0, bytes: 0 });
});

t.test("records per mesh: counts active records; expired ones of the mesh make room", async (t) => {
  const store = createMemoryRendezvousStore({ ...LIMITS, recordsPerMesh: 2 });
  store.publish("m", undefined, "A", write(1, 10, 1_000), S);
  store.publish("m", undefined, "B", write(1), S);
  t.same(store.publish("m", undefined, "C", write(1), S), { kind: "full", cap: "records_per_mesh" });
  t.match(store.publish("other", undefined, "C", write(1), S), { kind: "stored" }, "another mesh has its own");
  t.match(store.publish("m", "B", "x", write(2), S), { kind: "stored" }, "a republish is never refused by the count");
  t.match(store.publish("m", undefined, "C", write(1), S + 1_000), { kind: "stored" }, "A expired and made room");
});

t.test("records in all: expired records anywhere are freed to make room", async (t) => {
  const store = createMemoryRendezvousStore({ ...LIMITS, records: 2 });
  store.publish("a", undefined, "A", write(1, 10, 1_000), S);
  store.publish("b", undefined, "B", write(1), S);
  t.same(store.publish("c", undefined, "C", write(1), S), { kind: "full", cap: "records" });
  t.match(store.publish("c", undefined, "C", write(1), S + 1_000), { kind: "stored" });
  t.equal(store.size.records, 2);
});

t.test("ciphertext bytes in all: new records and republishes that grow are refused past it", async (t) => {
  const store = createMemoryRendezvousStore({ ...LIMITS, bytes: 100 });
  store.publish("a", undefined, "A", write(1, 60, 1_000), S);
  t.same(store.publish("b", undefined, "B", write(1, 50), S), { kind: "full", cap: "bytes" });
  store.publish("b", undefined, "B", write(1, 40), S);
  t.same(store.publish("b", "B", "x", write(1, 41), S), { kind: "full", cap: "bytes" }, "a republish that grows past it");
  t.match(store.publish("b", "B", "x", write(1, 30), S), { kind: "stored" }, "a republish that shrinks");
  t.match(store.publish("b", "B", "x", write(1, 90), S + 1_000), { kind: "stored" }, "A expired and made room for growth");
  t.same(store.size, { records: 1, bytes: 90 });
  t.same(store.publish("c", undefined, "C", write(1, 11), S + 1_000), { kind: "full", cap: "bytes" });
});

t.test("a new id that collides with a stored record replaces it wholesale", async (t) => {
  const store = createMemoryRendezvousStore(LIMITS);
  store.publish("m", undefined, "A", write(1, 10), S);
  store.publish("m", undefined, "A", write(2, 20, 90_000, 3), S + 1);
  t.same(store.size, { records: 1, bytes: 20 });
  t.equal(store.check("m", "A", hash(3), S + 1), "ok");
});
