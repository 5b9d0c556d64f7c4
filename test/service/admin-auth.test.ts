import t from "tap";
import { Code, ConnectError } from "@connectrpc/connect";
import { ADMIN_DISABLED_MESSAGE, bearerToken, createAdminGuard, tokensEqual, type AdminGuardOptions } from "../../src/service/admin-auth.js";
import { chain, type Call } from "../../src/service/call.js";
import { createFakeClock } from "../fixtures/clock.js";

const TOKEN = "s3cret-admin-token-0123456789";

function setup(options: Partial<AdminGuardOptions> = {}) {
  const clock = createFakeClock();
  const warnings: object[] = [];
  const guard = createAdminGuard({ token: TOKEN, now: clock.now, log: { warn: (obj) => warnings.push(obj) }, ...options });
  let handled = 0;
  const next = chain([guard.step], () => {
    handled++;
    return { ok: true };
  });
  const call = (authorization: string | undefined, clientIp = "192.0.2.1") =>
    next({
      rpc: "coral.discovery.admin.v1.AdminService/GetStats",
      input: {},
      ctx: { clientIp, requestHeader: (name: string) => (name === "authorization" ? authorization : undefined) },
    } as unknown as Call);
  return { clock, guard, call, warnings, handled: () => handled };
}

async function codeOf(promise: Promise<unknown>): Promise<[Code | undefined, string]> {
  try {
    await promise;
    return [undefined, ""];
  } catch (error) {
    return [(error as ConnectError).code, (error as ConnectError).rawMessage];
  }
}

t.test("without a configured token every call is unimplemented, whatever it sends", async (t) => {
  const s = setup({ token: undefined });
  t.same(await codeOf(s.call(`Bearer ${TOKEN}`)), [Code.Unimplemented, ADMIN_DISABLED_MESSAGE]);
  t.same(await codeOf(s.call(undefined)), [Code.Unimplemented, "the admin service is disabled: start with --admin-token-file"]);
  t.equal(s.handled(), 0);
});

t.test("the right bearer token passes; a missing or wrong one is unauthenticated and logged without the token", async (t) => {
  const s = setup();
  t.same(await s.call(`Bearer ${TOKEN}`), { ok: true });
  t.same(await s.call(`bearer   ${TOKEN} `), { ok: true }, "the scheme is case-insensitive, spaces around the token ignored");
  t.same(await codeOf(s.call(undefined)), [Code.Unauthenticated, "admin calls need the admin token: send the header Authorization: Bearer <token>"]);
  t.same(await codeOf(s.call(TOKEN)), [Code.Unauthenticated, "admin calls need the admin token: send the header Authorization: Bearer <token>"], "no scheme");
  t.same(await codeOf(s.call(`Bearer ${TOKEN}x`)), [Code.Unauthenticated, "the admin token is wrong"]);
  t.same(await codeOf(s.call("Bearer short")), [Code.Unauthenticated, "the admin token is wrong"]);
  t.equal(s.handled(), 2);
  t.same(s.warnings[0], { rpc: "coral.discovery.admin.v1.AdminService/GetStats", clientIp: "192.0.2.1", reason: "no bearer token" });
  t.same(s.warnings[2], { rpc: "coral.discovery.admin.v1.AdminService/GetStats", clientIp: "192.0.2.1", reason: "wrong token" });
  t.notMatch(JSON.stringify(s.warnings), /s3cret/);
});

t.test("tokens are compared through the constant-time comparison, on digests so that lengths do not matter", async (t) => {
  const compared: [string, string][] = [];
  const s = setup({ equal: (a, b) => (compared.push([a, b]), tokensEqual(a, b)) });
  await s.call(`Bearer ${TOKEN}`);
  await codeOf(s.call("Bearer nope"));
  t.same(compared, [[TOKEN, TOKEN], ["nope", TOKEN]]);
  t.equal(tokensEqual("a", "a much longer token than a"), false, "different lengths: false, not a RangeError from timingSafeEqual");
  t.equal(tokensEqual(TOKEN, TOKEN), true);
  t.equal(tokensEqual("", ""), true);
});

t.test("bearerToken reads the token of an Authorization header", async (t) => {
  t.equal(bearerToken("Bearer abc"), "abc");
  t.equal(bearerToken("BEARER\tabc def"), "abc def");
  t.equal(bearerToken("Bearer "), undefined);
  t.equal(bearerToken("Basic abc"), undefined);
  t.equal(bearerToken(undefined), undefined);
});

t.test("failed authentications are budgeted per address: past the burst even the right token waits, with Retry-After", async (t) => {
  const s = setup({ failures: { perSecond: 0.2, burst: 3 } });
  for (let i = 0; i < 3; i++) t.equal((await codeOf(s.call("Bearer wrong-guess")))[0], Code.Unauthenticated);
  const refused = await s.call(`Bearer ${TOKEN}`).catch((e: unknown) => e as ConnectError);
  t.equal((refused as ConnectError).code, Code.ResourceExhausted);
  t.match((refused as ConnectError).rawMessage, /too many failed admin authentications from your address \(at most 3, then one per 5s\); retry in 5s/);
  t.equal((refused as ConnectError).metadata.get("retry-after"), "5");
  t.same(await s.call(`Bearer ${TOKEN}`, "192.0.2.2"), { ok: true }, "another address is not affected");
  s.clock.advance(5_000);
  t.same(await s.call(`Bearer ${TOKEN}`), { ok: true }, "one attempt again after 5 s");
  t.equal(s.guard.prune(s.clock.now() + 60_000), 3, "idle buckets are pruned");
});

t.test("admin calls have their own budget per address, 10 per second with bursts of 20 by default", async (t) => {
  const s = setup();
  for (let i = 0; i < 20; i++) await s.call(`Bearer ${TOKEN}`);
  const refused = await s.call(`Bearer ${TOKEN}`).catch((e: unknown) => e as ConnectError);
  t.equal((refused as ConnectError).code, Code.ResourceExhausted);
  t.equal((refused as ConnectError).rawMessage, "admin rate limit exceeded: at most 10 admin calls per second (bursts of 20) from one address; retry in 1s");
  s.clock.advance(100);
  t.same(await s.call(`Bearer ${TOKEN}`), { ok: true });
});
