import t from "tap";
import { createLeaseTable, type Lease } from "../../src/registry/lease-table.js";

/** A whole second in Unix ms, so that `S + n` for 0 <= n < 1000 stays in one expiry second. */
const S = 1_700_000_000_000;

interface Named extends Lease {
  readonly name: string;
}

const lease = (name: string, expiresAtMs: number): Named => ({ name, expiresAtMs });
const names = (leases: readonly Named[]) => leases.map((l) => l.name);

t.test("get returns a lease until its expiry instant; peek returns it expired or not", async (t) => {
  const table = createLeaseTable<Named>();
  const a = lease("a", S + 500);
  table.set("a", a);
  t.equal(table.get("a", S + 499), a, "active 1 ms before expiry");
  t.equal(table.get("a", S + 500), undefined, "expired at its instant, without a sweep");
  t.equal(table.peek("a"), a, "still stored");
  t.equal(table.get("b", S), undefined, "absent");
  t.equal(table.peek("b"), undefined, "absent");
});

t.test("set replaces a lease wholesale and re-files it under its new expiry", async (t) => {
  const table = createLeaseTable<Named>();
  table.set("a", lease("first", S + 500));
  const renewed = lease("renewed", S + 5_500);
  table.set("a", renewed);
  t.equal(table.size, 1);
  t.equal(table.get("a", S + 1_000), renewed, "the renewal holds past the first expiry");
  t.same(table.sweep(S + 1_000), [], "nothing is swept from the old expiry second");
  t.same(names(table.sweep(S + 5_500)), ["renewed"], "swept at the new expiry, once");
  t.equal(table.size, 0);
});

t.test("set to an earlier expiry is swept at that expiry and not again later", async (t) => {
  const table = createLeaseTable<Named>();
  table.set("a", lease("long", S + 9_500));
  table.set("a", lease("short", S + 500));
  t.same(names(table.sweep(S + 1_000)), ["short"]);
  t.same(table.sweep(S + 10_000), []);
});

t.test("set after expiry but before a sweep replaces the expired lease", async (t) => {
  const table = createLeaseTable<Named>();
  table.set("a", lease("expired", S + 500));
  table.set("a", lease("fresh", S + 2_500));
  t.same(table.sweep(S + 1_500), [], "the expired lease is not swept: it was replaced");
  t.equal(table.get("a", S + 1_500)?.name, "fresh");
});

t.test("delete removes a lease and its expiry entry; deleting twice is false", async (t) => {
  const table = createLeaseTable<Named>();
  table.set("a", lease("a", S + 500));
  table.set("b", lease("b", S + 500));
  t.equal(table.delete("a"), true);
  t.equal(table.delete("a"), false, "already gone");
  t.equal(table.delete("never"), false, "never stored");
  t.equal(table.peek("a"), undefined);
  t.equal(table.size, 1);
  table.set("a", lease("again", S + 2_500));
  t.same(names(table.sweep(S + 1_000)), ["b"], "the deleted lease is not swept, nor is the key's new lease");
  t.equal(table.get("a", S + 1_000)?.name, "again");
  t.equal(table.activeCount(S + 1_000), 1);
  t.same(names(table.sweep(S + 2_500)), ["again"]);
});

t.test("sweep removes and returns only expired leases, oldest first", async (t) => {
  const table = createLeaseTable<Named>();
  table.set("old", lease("old", S + 100));
  table.set("older-second", lease("older-second", S - 1_000 + 900));
  table.set("same-second-late", lease("same-second-late", S + 800));
  table.set("young", lease("young", S + 60_000));
  t.same(names(table.sweep(S + 500)), ["older-second", "old"]);
  t.equal(table.size, 2);
  t.equal(table.peek("old"), undefined, "swept leases are no longer stored");
  t.ok(table.peek("same-second-late"), "unexpired in the same second: kept");
  t.same(names(table.sweep(S + 800)), ["same-second-late"]);
  t.same(table.sweep(S + 800), [], "a second sweep finds nothing");
  t.ok(table.get("young", S + 800));
});

t.test("sweep removes at most limit leases and the next sweep resumes", async (t) => {
  const table = createLeaseTable<Named>();
  for (let i = 0; i < 5; i++) table.set(`k${i}`, lease(`k${i}`, S + i * 10));
  t.same(names(table.sweep(S + 1_000, 2)), ["k0", "k1"]);
  t.same(table.sweep(S + 1_000, 0), [], "a limit of 0 removes nothing");
  t.same(names(table.sweep(S + 1_000, 2)), ["k2", "k3"]);
  t.same(names(table.sweep(S + 1_000)), ["k4"], "no limit: all that is left");
  t.equal(table.size, 0);
});

t.test("activeCount subtracts unswept expired leases exactly", async (t) => {
  const table = createLeaseTable<Named>();
  table.set("a", lease("a", 10_001_000));
  table.set("b", lease("b", 10_001_700));
  table.set("c", lease("c", 10_005_000));
  t.equal(table.activeCount(10_000_500), 3);
  t.equal(table.activeCount(10_001_000), 2, "a expired at its instant");
  t.equal(table.activeCount(10_001_699), 2);
  t.equal(table.activeCount(10_001_700), 1);
  t.equal(table.size, 3, "counting does not remove");
  t.ok(table.delete("c"));
  t.notOk(table.delete("c"));
  t.equal(table.activeCount(10_001_700), 0);
  t.equal(table.activeCount(10_005_000), 0, "the deleted lease is not subtracted when its expiry passes");
});

t.test("size counts stored leases, expired ones included until swept", async (t) => {
  const table = createLeaseTable<Named>();
  t.equal(table.size, 0);
  table.set("a", lease("a", S + 100));
  table.set("b", lease("b", S + 5_000));
  table.set("a", lease("a2", S + 200));
  t.equal(table.size, 2, "a replacement does not add");
  t.equal(table.activeCount(S + 300), 1);
  t.equal(table.size, 2, "the expired lease is still stored");
  table.sweep(S + 300);
  t.equal(table.size, 1);
});

t.test("tables are independent", async (t) => {
  const one = createLeaseTable<Named>();
  const two = createLeaseTable<Named>();
  one.set("a", lease("a", S));
  t.equal(two.peek("a"), undefined);
  t.same(two.sweep(S + 1_000), []);
  t.equal(one.size, 1);
});

/**
 * A lease whose expiry reads are counted: `sweep` and `activeCount` learn
 * whether a lease expired only by reading `expiresAtMs`, so the reads made
 * during a call bound the leases it looked at (a table that scanned what it
 * stores would read every lease's expiry).
 */
function countingLeases() {
  let reads = 0;
  return {
    make(name: string, expiresAtMs: number): Named {
      return {
        name,
        get expiresAtMs() {
          reads++;
          return expiresAtMs;
        },
      };
    },
    takeReads(): number {
      const taken = reads;
      reads = 0;
      return taken;
    },
  };
}

t.test("sweeping 10 expired leases among 50,010 frees those 10 and looks at few leases", async (t) => {
  const table = createLeaseTable<Named>();
  const leases = countingLeases();
  for (let i = 0; i < 50_000; i++) table.set(`long-${i}`, leases.make(`long-${i}`, S + 3_600_000));
  for (let i = 0; i < 10; i++) table.set(`short-${i}`, leases.make(`short-${i}`, S + 1_000));
  const now = S + 2_000;
  leases.takeReads();
  t.equal(table.activeCount(now), 50_000);
  const countReads = leases.takeReads();
  t.ok(countReads <= 11, `activeCount read ${countReads} expiries`);
  const removed = table.sweep(now);
  const sweepReads = leases.takeReads();
  t.same(
    names(removed),
    Array.from({ length: 10 }, (_, i) => `short-${i}`),
  );
  t.ok(sweepReads <= 11, `sweep read ${sweepReads} expiries`);
  t.equal(table.size, 50_000);
  t.equal(table.activeCount(now), 50_000);
});

t.test("in the current second, sweeping and counting stop at the first unexpired lease", async (t) => {
  const table = createLeaseTable<Named>();
  const leases = countingLeases();
  table.set("early", leases.make("early", S + 100));
  for (let i = 0; i < 20_000; i++) table.set(`same-second-${i}`, leases.make(`same-second-${i}`, S + 500));
  const now = S + 200;
  leases.takeReads();
  t.equal(table.activeCount(now), 20_000);
  const countReads = leases.takeReads();
  t.ok(countReads <= 2, `activeCount read ${countReads} expiries with 20,001 leases in the current second`);
  t.same(names(table.sweep(now)), ["early"]);
  const sweepReads = leases.takeReads();
  t.ok(sweepReads <= 2, `sweep read ${sweepReads} expiries`);
  t.equal(table.size, 20_000);
});

t.test("a stale expiry entry (the lease's expiry changed after set, breaking the contract) is skipped by sweep", async (t) => {
  // Lease.expiresAtMs is readonly for the table, but nothing stops a caller's
  // object from changing it. delete() then looks in the wrong expiry second and
  // leaves the key filed under the old one; sweep must not return a lease that
  // is no longer stored.
  const table = createLeaseTable<Named>();
  const mutable = { name: "a", expiresAtMs: S + 500 };
  table.set("a", mutable);
  mutable.expiresAtMs = S + 9_500;
  t.equal(table.delete("a"), true);
  t.same(table.sweep(S + 1_000), [], "nothing stored, nothing returned");
  t.equal(table.size, 0);
});

t.test("values walks every stored lease, expired ones included, live: set during the walk seen, deleted skipped", async (t) => {
  const table = createLeaseTable<Named>();
  table.set("a", lease("a", S + 500));
  table.set("b", lease("b", S + 600));
  table.set("c", lease("c", S + 5_000));
  const seen: string[] = [];
  for (const stored of table.values()) {
    seen.push(stored.name);
    if (stored.name === "a") {
      table.delete("b");
      table.set("d", lease("d", S + 9_000));
    }
  }
  t.same(seen, ["a", "c", "d"]);
  t.same(names([...table.values()]), ["a", "c", "d"], "expiry does not matter: get() and the caller decide");
});
