import t from "tap";
import { Code, ConnectError } from "@connectrpc/connect";
import { createByteBudget } from "../../../src/limits/byte-budget.js";
import { RequestCharge } from "../../../src/server/road/charge.js";

t.test("a request charges its address and the total, and gives everything back on release", async (t) => {
  const budget = createByteBudget({ max: 1_000, maxPerKey: 600 });
  const charge = new RequestCharge(budget, "198.51.100.1");
  charge.add(100);
  charge.add(400);
  t.equal(budget.held("198.51.100.1"), 500);
  charge.release();
  charge.release();
  t.equal(budget.total, 0, "released once, whatever the calls");
});

t.test("past the per-address budget: resource_exhausted naming --max-buffered-bytes-per-ip, nothing taken", async (t) => {
  const budget = createByteBudget({ max: 1_000, maxPerKey: 600 });
  const first = new RequestCharge(budget, "198.51.100.1");
  first.add(550);
  const second = new RequestCharge(budget, "198.51.100.1");
  const error = t.throws(() => second.add(100)) as ConnectError;
  t.ok(error instanceof ConnectError);
  t.equal(error.code, Code.ResourceExhausted);
  t.match(error.rawMessage, /too many unfinished requests from your address: they hold 550 bytes .* past the 600 bytes --max-buffered-bytes-per-ip allows; send fewer requests at once/);
  t.equal(error.metadata.get("retry-after"), "1");
  second.release();
  t.equal(budget.held("198.51.100.1"), 550, "the refused chunk took nothing");
});

t.test("past the total: resource_exhausted naming --max-buffered-bytes", async (t) => {
  const budget = createByteBudget({ max: 1_000, maxPerKey: 600 });
  new RequestCharge(budget, "198.51.100.1").add(600);
  new RequestCharge(budget, "198.51.100.2").add(350);
  const error = t.throws(() => new RequestCharge(budget, "198.51.100.3").add(100)) as ConnectError;
  t.equal(error.code, Code.ResourceExhausted);
  t.match(error.rawMessage, /the server holds 950 bytes of unfinished requests .* past the 1000 bytes --max-buffered-bytes allows; retry later/);
});
