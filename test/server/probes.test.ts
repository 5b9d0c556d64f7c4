import t from "tap";
import fastify from "fastify";
import { createDrain, readinessOf, registerProbes, type ReadinessCheck } from "../../src/server/probes.js";

const check = (state: boolean | string): ReadinessCheck => ({ ready: () => state });

t.test("readiness is true while every check is; otherwise the first one's reason", async (t) => {
  t.equal(readinessOf([])(), true, "no checks: ready");
  t.equal(readinessOf([check(true), check(true)])(), true);
  t.equal(readinessOf([check(true), check("state store unreachable"), check("draining")])(), "state store unreachable");
  t.equal(readinessOf([check(false)])(), "not ready", "false without a reason");
});

t.test("a drain is ready until started, then says draining, for good", async (t) => {
  const drain = createDrain();
  t.equal(drain.ready(), true);
  t.equal(drain.draining, false);
  drain.start();
  t.equal(drain.ready(), "draining");
  t.equal(drain.draining, true);
  drain.start();
  t.equal(drain.ready(), "draining", "idempotent");
});

t.test("/livez is 200 always; /readyz is 200 when ready and 503 with the reason when not", async (t) => {
  const drain = createDrain();
  const app = fastify();
  registerProbes(app, readinessOf([drain]));
  t.teardown(() => app.close());
  const get = (url: string) => app.inject({ method: "GET", url });
  let res = await get("/livez");
  t.equal(res.statusCode, 200);
  t.same(res.json(), { status: "alive" });
  t.equal(res.headers["cache-control"], "no-store");
  res = await get("/readyz");
  t.equal(res.statusCode, 200);
  t.equal(res.headers["content-type"], "application/json");
  t.same(res.json(), { status: "ready" });
  drain.start();
  res = await get("/readyz");
  t.equal(res.statusCode, 503);
  t.same(res.json(), { status: "unavailable", reason: "draining" });
  t.equal((await get("/livez")).statusCode, 200, "still alive while draining");
});
