import t from "tap";
import { createProbeQuota, PROBE_QUOTA_DEFAULTS } from "../../src/service/probe-quota.js";

const S = 1_700_000_000_000;

t.test("per address: a burst of 5, then 20 an hour (one per 3 minutes)", async (t) => {
  const quota = createProbeQuota();
  for (let i = 0; i < 5; i++) (quota.take("a", "t", S) as () => void)();
  t.equal(quota.take("a", "t", S), "rate");
  t.type(quota.take("b", "t", S), "function", "another address has its own");
  t.equal(quota.take("a", "t", S + 179_000), "rate");
  t.type(quota.take("a", "t", S + 180_000), "function");
});

t.test("per address: at most 10 distinct targets in a rolling hour", async (t) => {
  const quota = createProbeQuota({ ...PROBE_QUOTA_DEFAULTS, perAddressBurst: 100, perAddressPerHour: 100_000 });
  for (let i = 0; i < 10; i++) (quota.take("a", `t${i}`, S) as () => void)();
  t.equal(quota.take("a", "t10", S), "targets");
  t.type(quota.take("a", "t3", S + 1), "function", "a known target still may be probed");
  t.type(quota.take("a", "t10", S + 3_600_000), "function", "an hour later the old ones are forgotten");
});

t.test("in flight: at most 20; releasing (once) frees a slot", async (t) => {
  const quota = createProbeQuota({ ...PROBE_QUOTA_DEFAULTS, inFlight: 2 });
  const first = quota.take("a", "t", S) as () => void;
  quota.take("b", "t", S);
  t.equal(quota.inFlight, 2);
  t.equal(quota.take("c", "t", S), "in_flight");
  first();
  first();
  t.equal(quota.inFlight, 1, "a second release gives nothing back");
  t.type(quota.take("c", "t", S), "function");
});

t.test("remembered addresses are bounded", async (t) => {
  const quota = createProbeQuota({ ...PROBE_QUOTA_DEFAULTS, maxAddresses: 2, targetsPerAddressPerHour: 1, perAddressBurst: 100, perAddressPerHour: 100_000 });
  (quota.take("a", "t1", S) as () => void)();
  t.equal(quota.take("a", "t2", S), "targets");
  (quota.take("b", "t1", S) as () => void)();
  (quota.take("c", "t1", S) as () => void)();
  t.type(quota.take("a", "t2", S), "function", "a was forgotten, the least recently seen");
});
