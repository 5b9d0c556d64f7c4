import t from "tap";
import { createConnectionSlots, isRefusal, type ConnectionSlot, type Refusal } from "../../src/server/connection-slots.js";

/** A connection the test can see reclaimed. */
function connect(slots: ReturnType<typeof createConnectionSlots>, ip: string | undefined) {
  const conn = { reclaimed: false, slot: undefined as ConnectionSlot | undefined, refusal: undefined as Refusal | undefined };
  const admitted = slots.admit(ip, () => (conn.reclaimed = true));
  if (isRefusal(admitted)) conn.refusal = admitted;
  else conn.slot = admitted;
  return conn;
}

const caps = (perIp: number, per56: number, per48: number) => [
  { max: perIp, ipv6PrefixBits: 64 },
  { max: per56, ipv6PrefixBits: 56 },
  { max: per48, ipv6PrefixBits: 48 },
];

t.test("per-address caps group IPv6 by /64, /56 and /48, each with its own limit", async (t) => {
  const slots = createConnectionSlots({ maxConnections: 0, caps: caps(2, 3, 4) });
  t.ok(connect(slots, "2001:db8:0:100::1").slot);
  t.ok(connect(slots, "2001:db8:0:100::2").slot, "two in one /64");
  t.match(connect(slots, "2001:db8:0:100::3").refusal, { reason: "address", cap: { ipv6PrefixBits: 64 } }, "a third in that /64 is refused");
  t.ok(connect(slots, "2001:db8:0:101::1").slot, "the next /64 of the same /56");
  t.match(connect(slots, "2001:db8:0:102::1").refusal, { reason: "address", cap: { ipv6PrefixBits: 56 } }, "the /56 holds 3");
  t.ok(connect(slots, "2001:db8:0:200::1").slot, "another /56 of the same /48");
  t.match(connect(slots, "2001:db8:0:300::1").refusal, { reason: "address", cap: { ipv6PrefixBits: 48 } }, "the /48 holds 4");
  t.ok(connect(slots, "2001:db8:1::1").slot, "another /48 is free");
  t.equal(slots.size, 5, "refusals take nothing");
});

t.test("IPv4 counts per address under the /64 cap only; wider caps leave it alone", async (t) => {
  const slots = createConnectionSlots({ maxConnections: 0, caps: caps(2, 1, 1) });
  t.ok(connect(slots, "198.51.100.1").slot);
  t.ok(connect(slots, "198.51.100.1").slot);
  t.match(connect(slots, "198.51.100.1").refusal, { reason: "address", cap: { ipv6PrefixBits: 64 } });
  t.ok(connect(slots, "198.51.100.2").slot, "its neighbour is another address");
});

t.test("releasing gives every group its slot back, once", async (t) => {
  const slots = createConnectionSlots({ maxConnections: 0, caps: caps(1, 1, 1) });
  const first = connect(slots, "2001:db8::1");
  t.ok(connect(slots, "2001:db8::2").refusal);
  first.slot?.release();
  first.slot?.release();
  t.equal(slots.size, 0, "a second release changes nothing");
  t.ok(connect(slots, "2001:db8::2").slot, "the /64, /56 and /48 are free again");
  t.ok(connect(slots, "2001:db8:1::1").slot, "other groups were never charged twice");
});

t.test("a cap of 0 is off; exempt addresses and addresses unknown skip the per-address caps, not the global one", async (t) => {
  const slots = createConnectionSlots({ maxConnections: 4, caps: caps(0, 1, 0), isExempt: (ip) => ip === "192.0.2.1" });
  for (let i = 0; i < 2; i++) t.ok(connect(slots, "192.0.2.1").slot, "exempt");
  t.ok(connect(slots, undefined).slot, "no address (a Unix socket)");
  t.ok(connect(slots, "198.51.100.7").slot, "the /64 cap is off");
  for (const conn of [connect(slots, "192.0.2.1"), connect(slots, undefined)]) conn.slot?.busy();
  t.equal(slots.size, 4);
});

t.test("at the global cap the longest-idle connection is reclaimed for a newcomer; busy ones never are", async (t) => {
  const slots = createConnectionSlots({ maxConnections: 3, caps: [] });
  const [a, b, c] = [connect(slots, "198.51.100.1"), connect(slots, "198.51.100.2"), connect(slots, "198.51.100.3")];
  a.slot?.busy();
  t.equal(slots.idle, 2);
  const d = connect(slots, "198.51.100.4");
  t.ok(d.slot, "admitted");
  t.same([a.reclaimed, b.reclaimed, c.reclaimed], [false, true, false], "b: idle the longest (a is busy)");
  t.equal(slots.size, 3, "b's slot went to d");
  b.slot?.release(); // the reclaimed connection closes later: its slot is not freed twice
  t.equal(slots.size, 3);
  c.slot?.busy();
  c.slot?.done(); // c is idle again, now more recently than d
  t.ok(connect(slots, "198.51.100.5").slot);
  t.ok(d.reclaimed, "d had been idle longer than c");
  t.notOk(c.reclaimed);
});

t.test("at the global cap with every connection busy, a newcomer is refused; done() makes one reclaimable again", async (t) => {
  const slots = createConnectionSlots({ maxConnections: 2, caps: [] });
  const [a, b] = [connect(slots, "198.51.100.1"), connect(slots, "198.51.100.1")];
  a.slot?.busy();
  a.slot?.busy(); // two streams
  b.slot?.busy();
  t.same(connect(slots, "198.51.100.2").refusal, { reason: "global" });
  a.slot?.done();
  t.same(connect(slots, "198.51.100.2").refusal, { reason: "global" }, "a still has a stream open");
  a.slot?.done();
  a.slot?.done(); // more done() than busy() changes nothing
  t.equal(slots.idle, 1);
  t.ok(connect(slots, "198.51.100.2").slot);
  t.ok(a.reclaimed);
  t.notOk(b.reclaimed);
});

t.test("a released slot never returns to the idle list", async (t) => {
  const slots = createConnectionSlots({ maxConnections: 1, caps: [] });
  const a = connect(slots, "198.51.100.1");
  a.slot?.busy();
  a.slot?.release();
  a.slot?.done();
  t.equal(slots.idle, 0);
  t.equal(slots.size, 0);
  const b = connect(slots, "198.51.100.2");
  t.ok(b.slot);
  t.notOk(a.reclaimed, "nothing to reclaim: the slot was free");
});

t.test("a newcomer refused by its address cap reclaims nothing", async (t) => {
  const slots = createConnectionSlots({ maxConnections: 1, caps: caps(1, 0, 0) });
  const a = connect(slots, "198.51.100.1");
  t.match(connect(slots, "198.51.100.1").refusal, { reason: "address" });
  t.notOk(a.reclaimed);
});

t.test("releasing one of an address's connections frees one slot of its cap, not all", async (t) => {
  const slots = createConnectionSlots({ maxConnections: 0, caps: caps(2, 0, 0) });
  const first = connect(slots, "198.51.100.1");
  t.ok(connect(slots, "198.51.100.1").slot);
  first.slot?.release();
  t.ok(connect(slots, "198.51.100.1").slot, "one slot back");
  t.match(connect(slots, "198.51.100.1").refusal, { reason: "address" }, "the other is still held");
});
