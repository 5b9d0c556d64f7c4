// The README's token verification recipe, run as written against live
// daemons: it accepts a token once, refuses a replay, another colony's token,
// an expired one and a forged one, and refetches the JWKS on an unknown kid
// (a restarted daemon) at most once per cooldown.
import t, { type Test } from "tap";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { fromRoot } from "../fixtures/paths.js";
import { startServer, type TestServer } from "../fixtures/server.js";

type Verify = (jwt: string) => Promise<Record<string, unknown>>;
interface VerifierOptions {
  jwksUrl: string;
  colonyId: string;
  cooldownMs?: number;
  now?: () => number;
}

/** The README's only `js` block after "How a colony verifies", written to a module and imported. */
async function readmeVerifier(): Promise<(options: VerifierOptions) => Verify> {
  const readme = readFileSync(fromRoot("README.md"), "utf8");
  const from = readme.indexOf("**How a colony verifies.**");
  const block = /```js\n([\s\S]*?)```/.exec(readme.slice(from));
  if (from < 0 || block === null) throw new Error("README: no verification recipe");
  const file = join(mkdtempSync(join(tmpdir(), "readme-verifier-")), "verify.mjs");
  writeFileSync(file, block[1]!);
  const mod = (await import(pathToFileURL(file).href)) as { createTokenVerifier: (options: VerifierOptions) => Verify };
  return mod.createTokenVerifier;
}

async function mint(server: TestServer, colonyId: string): Promise<string> {
  const res = await fetch(`${server.url}/coral.discovery.v1.DiscoveryService/CreateBootstrapToken`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ agent_id: "agent-1", colony_id: colonyId }),
  });
  return ((await res.json()) as { jwt: string }).jwt;
}

/** A JWKS endpoint that serves whichever daemon's keys are current, counting fetches. */
async function jwksProxy(t: Test, current: () => TestServer): Promise<{ url: string; fetches: () => number }> {
  let fetches = 0;
  const server: Server = createServer((_req, res) => {
    fetches++;
    void fetch(`${current().url}/.well-known/jwks.json`)
      .then((r) => r.text())
      .then((body) => res.writeHead(200, { "content-type": "application/json" }).end(body));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/jwks.json`, fetches: () => fetches };
}

t.test("the README's verifier accepts a token once and refuses what it must", async (t) => {
  const createTokenVerifier = await readmeVerifier();
  const server = await startServer(t, { tokenTtlSeconds: 60 });
  let nowMs = Date.now();
  const verifyToken = createTokenVerifier({ jwksUrl: `${server.url}/.well-known/jwks.json`, colonyId: "colony-1", now: () => nowMs });

  const token = await mint(server, "colony-1");
  const claims = await verifyToken(token);
  t.equal(claims.agent_id, "agent-1");
  t.equal(claims.colony_id, "colony-1");
  await t.rejects(verifyToken(token), /token already used/, "a jti is single use");
  await t.rejects(verifyToken(await mint(server, "colony-2")), /token is for another colony/);

  const [h, p, s] = (await mint(server, "colony-1")).split(".") as [string, string, string];
  const forged = Buffer.from(p, "base64url").toString().replace('"agent-1"', '"agent-2"');
  await t.rejects(verifyToken(`${h}.${Buffer.from(forged).toString("base64url")}.${s}`), /bad signature/);
  await t.rejects(verifyToken(`${h}.${p}`), /not a compact JWS/);

  const late = await mint(server, "colony-1");
  const { exp } = JSON.parse(Buffer.from(late.split(".")[1]!, "base64url").toString()) as { exp: number };
  nowMs = exp * 1000; // the first moment the token is no longer valid
  await t.rejects(verifyToken(late), /expired/);
});

t.test("the README's verifier refetches the JWKS on an unknown kid, at most once per cooldown", async (t) => {
  const createTokenVerifier = await readmeVerifier();
  const first = await startServer(t);
  const second = await startServer(t); // a restarted daemon: a new generated key
  let current = first;
  const jwks = await jwksProxy(t, () => current);
  let nowMs = 1_000_000;
  const verifyToken = createTokenVerifier({ jwksUrl: jwks.url, colonyId: "c", cooldownMs: 30_000, now: () => nowMs });

  t.ok(await verifyToken(await mint(first, "c")));
  t.equal(jwks.fetches(), 1);
  t.ok(await verifyToken(await mint(first, "c")), "a known kid does not refetch");
  t.equal(jwks.fetches(), 1);

  current = second;
  nowMs += 1_000;
  const fresh = await mint(second, "c");
  await t.rejects(verifyToken(fresh), /unknown kid/, "within the cooldown an unknown kid is refused without a fetch");
  t.equal(jwks.fetches(), 1);
  nowMs += 30_000;
  t.ok(await verifyToken(fresh), "after the cooldown the new key is fetched and the token verifies");
  t.equal(jwks.fetches(), 2);
});
