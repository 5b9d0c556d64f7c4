// --state-file wired into the app: restored before serving, the generated key
// kept, written at once when new and on close.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import t from "tap";
import { buildApp, createConfiguredRegistry } from "../src/app.js";
import { resolveConfig, type ConfigInput } from "../src/config/index.js";
import { StateFileError } from "../src/state-setup.js";
import { formatSigningKey, generateSigningKey } from "../src/tokens/index.js";
import { COLONY_DATA } from "./fixtures/leases.js";

/** Log lines (JSON) the app writes. */
function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, stream };
}

async function app(settings: ConfigInput, env: Record<string, string> = {}, signingKey?: ReturnType<typeof generateSigningKey>) {
  const config = resolveConfig({ logLevel: "info", ...settings }, { env });
  const registry = createConfiguredRegistry(config, Date.now);
  const log = capture();
  const built = await buildApp({ config, registry, logger: { level: "info", stream: log.stream }, ...(signingKey && { signingKey }) });
  return { app: built, registry, log };
}

const header = (path: string) => JSON.parse(readFileSync(path, "utf8").split("\n")[0] as string) as { signingKey?: { id: string } };
async function jwksKid(built: Awaited<ReturnType<typeof app>>["app"]): Promise<{ kid: string; cacheControl: unknown }> {
  const res = await built.inject({ url: "/.well-known/jwks.json" });
  return { kid: (JSON.parse(res.body) as { keys: { kid: string }[] }).keys[0]?.kid as string, cacheControl: res.headers["cache-control"] };
}

t.test("a fresh start writes the file at once, with the generated key; a restart restores the registry and the key", async (t) => {
  const path = join(t.testdir(), "state.ndjson");
  const first = await app({ stateFile: path });
  const kid = header(path).signingKey?.id;
  t.ok(kid, "the key is in the file before any token is signed with it");
  t.match(first.log.lines, [{ msg: "no state file yet: starting with an empty registry", path, kid, signingKey: "kept in the state file" }]);
  t.same(await jwksKid(first.app), { kid, cacheControl: "no-cache" }, "not configured: still revalidated (it lives as long as the file)");
  first.registry.registerColony("mesh-1", "colony-key", COLONY_DATA);
  const expiresAtMs = first.registry.lookupColony("mesh-1")?.expiresAtMs;
  await first.app.close();
  t.match(first.log.lines.at(-1), { msg: "state file written", path }, "written on close");

  const second = await app({ stateFile: path });
  t.equal(second.registry.lookupColony("mesh-1")?.expiresAtMs, expiresAtMs, "restored with its expiry");
  t.equal((await jwksKid(second.app)).kid, kid, "the same key");
  t.match(second.log.lines, [{ msg: "registry restored from the state file", path, colonies: 1, agents: 0, relaySessions: 0, expired: 0, unknownRelay: 0, kid }]);
  await second.app.close();
});

t.test("a configured key is used and never written to the file", async (t) => {
  const path = join(t.testdir(), "state.ndjson");
  const key = generateSigningKey();
  const built = await app({ stateFile: path }, { DISCOVERY_SIGNING_KEY: formatSigningKey(key) });
  t.equal(header(path).signingKey, undefined);
  t.same(await jwksKid(built.app), { kid: key.kid, cacheControl: "public, max-age=300" });
  t.notMatch(built.log.lines[0], { kid: String });
  await built.app.close();
  t.equal(header(path).signingKey, undefined, "nor on close");

  const unconfigured = await app({ stateFile: path });
  const generated = header(path).signingKey?.id;
  t.ok(generated, "a key generated now (the file had none) is written at once");
  t.not(generated, key.kid);
  t.equal((await jwksKid(unconfigured.app)).kid, generated);
  await unconfigured.app.close();
});

t.test("a key the caller passes (deps.signingKey) is used and kept like a generated one", async (t) => {
  const path = join(t.testdir(), "state.ndjson");
  const key = generateSigningKey();
  const built = await app({ stateFile: path }, {}, key);
  t.equal(header(path).signingKey?.id, key.kid);
  t.equal((await jwksKid(built.app)).kid, key.kid);
  await built.app.close();
});

t.test("a file that cannot be written, or one that cannot be used, stops the build with StateFileError", async (t) => {
  const dir = t.testdir();
  const missingDir = join(dir, "no-such-dir", "state.ndjson");
  const unwritable = await app({ stateFile: missingDir }).catch((e: unknown) => e);
  t.ok(unwritable instanceof StateFileError);
  t.match((unwritable as Error).message, `state file ${missingDir}: cannot be written (ENOENT`);
  t.match((unwritable as Error).message, /give a path in a writable directory/);

  const corrupt = join(dir, "corrupt.ndjson");
  writeFileSync(corrupt, "{ not json\n");
  const refused = await app({ stateFile: corrupt }).catch((e: unknown) => e);
  t.ok(refused instanceof StateFileError);
  t.match((refused as Error).message, `state file ${corrupt}: line 1: not JSON`);
  t.equal(readFileSync(corrupt, "utf8"), "{ not json\n", "left as it is");
});

t.test("relay sessions come back only for relays still configured", async (t) => {
  const path = join(t.testdir(), "state.ndjson");
  const first = await app({ stateFile: path, relays: ["relay-a.example:3478", "relay-b.example:3478"] });
  const relay = (id: string) => ({ id, host: id.split(":")[0] as string, port: 3478 });
  first.registry.createRelaySession("s-a", "m", { relay: relay("relay-a.example:3478"), agentPubkey: "a", colonyPubkey: "c" }, "o");
  first.registry.createRelaySession("s-b", "m", { relay: relay("relay-b.example:3478"), agentPubkey: "a", colonyPubkey: "c" }, "o");
  await first.app.close();
  const second = await app({ stateFile: path, relays: ["relay-a.example:3478"] });
  t.ok(second.registry.releaseRelaySession("s-a", "m"));
  t.throws(() => second.registry.releaseRelaySession("s-b", "m"), /not found/);
  t.match(second.log.lines, [{ msg: "registry restored from the state file", relaySessions: 1, unknownRelay: 1 }]);
  await second.app.close();
});

t.test("without --state-file nothing is read or written", async (t) => {
  const built = await app({});
  t.notMatch(JSON.stringify(built.log.lines), /state file/);
  await built.app.close();
});
