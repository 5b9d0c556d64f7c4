import t from "tap";
import { createRegistry, memoryStore } from "../../src/registry/index.js";
import { discoveryEntrySizes } from "../../src/service/entry-size.js";
import { RELAY_TTL_MS, storeContract, TTL_MS } from "../fixtures/store-contract.js";

storeContract(t, async (_t, clock, limits) =>
  memoryStore(createRegistry({ ttlMs: TTL_MS, relaySessionTtlMs: RELAY_TTL_MS, now: clock.now, limits, sizeOf: discoveryEntrySizes })),
);

t.test("the memory store is always ready, answers in the same turn and closes without a fuss", async (t) => {
  const store = memoryStore(createRegistry({ ttlMs: TTL_MS, relaySessionTtlMs: RELAY_TTL_MS, now: () => 1, limits: { colonies: 1, agentsPerMesh: 1, agents: 1, relaySessions: 1, bytes: 1e6, agentsPerMeshPerOwner: 1, relaySessionsPerOwner: 1 }, sizeOf: discoveryEntrySizes }));
  t.equal(store.kind, "memory");
  t.equal(store.ready(), true);
  t.notOk(store.counts() instanceof Promise, "no promise: the registry's own cost");
  await store.close();
});
