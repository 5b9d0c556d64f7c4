import t from "tap";
import { createMemoryRendezvousStore, sameHash, type MemoryRendezvousStore } from "../../src/registry/rendezvous.js";
import { hash, LIMITS, rendezvousContract } from "../fixtures/rendezvous-contract.js";


t.test("sameHash compares bytes, any length mismatch is false", async (t) => {
  t.ok(sameHash(hash(1), hash(1)));
  t.notOk(sameHash(hash(1), hash(2)));
  const last = hash(1);
  last[31] = 0;
  t.notOk(sameHash(hash(1), last), "a difference in the last byte counts");
  t.notOk(sameHash(hash(1), new Uint8Array(31).fill(1)));
});

rendezvousContract(t, async (_t, limits, registryBytes = 2 ** 40) => {
  // No leases here: the budget holds what the records are charged.
  const store: MemoryRendezvousStore = createMemoryRendezvousStore(limits, { used: () => store.size.charged, max: registryBytes });
  return store;
});

t.test("the memory store counts what it holds synchronously (what /health read before stores could be shared)", async (t) => {
  const store = createMemoryRendezvousStore(LIMITS);
  t.same(store.size, { records: 0, bytes: 0, charged: 0 });
  t.same(store.stats(0), { records: 0, bytes: 0 });
});
