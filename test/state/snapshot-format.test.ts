import t from "tap";
import {
  decodeHeader,
  decodeLine,
  encodeAgent,
  encodeColony,
  encodeEnd,
  encodeHeader,
  encodeRelay,
  SnapshotLineError,
} from "../../src/state/snapshot-format.js";
import { generateSigningKey } from "../../src/tokens/index.js";
import { AGENT_DATA, COLONY_DATA, RELAY_DATA } from "../fixtures/leases.js";

const colony = { meshId: "mesh-1", pubkey: "colony-key", data: COLONY_DATA, lastSeenMs: 1_000, expiresAtMs: 301_000, bytes: 1234, proven: false };
const agent = { ...colony, agentId: "agent-1", pubkey: "agent-key", owner: "198.51.100.2", data: AGENT_DATA };
const relay = { sessionId: "s-1", meshId: "mesh-1", data: RELAY_DATA, expiresAtMs: 1_801_000, bytes: 99, owner: "198.51.100.2" };

t.test("the header names the format and version and keeps the signing key; it reads back", async (t) => {
  const key = generateSigningKey();
  const line = encodeHeader({ savedAtMs: 42, signingKey: key });
  t.match(JSON.parse(line), { format: "coral-discovery-snapshot", version: 1, savedAtMs: 42, signingKey: { id: key.kid } });
  const read = decodeHeader(line);
  t.equal(read.savedAtMs, 42);
  t.equal(read.signingKey?.kid, key.kid);
  t.same(read.signingKey?.seed, key.seed, "the private key itself");
  t.same(read.signingKey?.publicKey, key.publicKey);
  t.same(decodeHeader(encodeHeader({ savedAtMs: 7 })), { savedAtMs: 7 }, "no key: none written, none read");
  t.notMatch(encodeHeader({ savedAtMs: 7 }), /signingKey/);
});

t.test("every lease kind reads back as written: bigint and bytes payload fields, times, owner; bytes are not saved", async (t) => {
  const colonyLine = decodeLine(encodeColony(colony));
  const { bytes: _c, ...savedColony } = colony;
  t.same(colonyLine, { kind: "colony", lease: savedColony });
  t.equal(colonyLine.kind === "colony" && colonyLine.lease.data.publicEndpoint?.updatedAt?.seconds, 1_700_000_000n);
  t.type(colonyLine.kind === "colony" && colonyLine.lease.data.publicEndpoint?.caFingerprint?.value, Uint8Array);
  const { bytes: _a, ...savedAgent } = agent;
  t.same(decodeLine(encodeAgent(agent)), { kind: "agent", lease: savedAgent });
  const { bytes: _r, ...savedRelay } = relay;
  t.same(decodeLine(encodeRelay(relay)), { kind: "relay", lease: savedRelay });
  t.same(decodeLine(encodeEnd(3)), { kind: "end", leases: 3 });
  t.notMatch(encodeColony(colony), /"bytes"/, "an estimate of this process, recomputed on restore");
});

t.test("`proven` is written and read back; absent (a file from before proofs) it reads false; other plain fields are carried", async (t) => {
  const proven = { ...colony, proven: true, note: "x", level: 2 };
  const line = decodeLine(encodeColony(proven));
  t.match(line, { kind: "colony", lease: { proven: true, note: "x", level: 2, meshId: "mesh-1" } });
  t.match(decodeLine(encodeAgent({ ...agent, proven: true })), { lease: { proven: true } });
  const { proven: _p, ...old } = JSON.parse(encodeAgent(agent)) as Record<string, unknown>;
  t.match(decodeLine(JSON.stringify(old)), { lease: { proven: false } }, "an older file's lease is unproven");
  t.throws(() => decodeLine(JSON.stringify({ ...old, proven: "yes" })), { message: "agent line: proven is not a boolean" });
  t.throws(() => decodeLine(JSON.stringify({ ...JSON.parse(encodeColony(colony)), extra: { nested: 1 } })), {
    message: "colony line: extra is not a string, number or boolean",
  });
});

t.test("a line that is not what encode writes is refused, saying what is wrong", async (t) => {
  const refused = (line: string, message: string | RegExp) => t.throws(() => decodeLine(line), { name: "SnapshotLineError", message });
  const good = JSON.parse(encodeAgent(agent)) as Record<string, unknown>;
  refused(`${encodeAgent(agent).slice(0, 40)}`, "not JSON (cut short or damaged)");
  refused("", "an empty line");
  refused("[1]", "not a JSON object");
  refused("null", "not a JSON object");
  refused(JSON.stringify({ ...good, kind: "cat" }), 'cat line: "kind" must be "colony", "agent", "relay" or "end", got "cat"');
  refused(JSON.stringify({ ...good, kind: undefined }), /got nothing/);
  refused(JSON.stringify({ ...good, agentId: 5 }), "agent line: agentId is not a string");
  refused(JSON.stringify({ ...good, expiresAtMs: "soon" }), "agent line: expiresAtMs is not a number");
  refused(JSON.stringify({ ...good, data: { endpoints: "x" } }), /agent line: endpoints is not a list of strings/);
  refused(JSON.stringify({ kind: "end" }), "end line: leases is not a number");
  refused(JSON.stringify({ ...JSON.parse(encodeRelay(relay)), data: { relay: {} } }), "relay line: relay.id is not a string");
  t.ok(new SnapshotLineError("x") instanceof Error);
});

t.test("a header of another format or version, or with a bad key, is refused", async (t) => {
  const refused = (line: string, message: string | RegExp) => t.throws(() => decodeHeader(line), { name: "SnapshotLineError", message });
  refused(JSON.stringify({ format: "something-else", version: 1, savedAtMs: 1 }), /not a coral-discovery snapshot/);
  refused(encodeColony(colony), /not a coral-discovery snapshot/);
  refused(JSON.stringify({ format: "coral-discovery-snapshot", version: 2, savedAtMs: 1 }), "snapshot version 2 is not one this version reads (1)");
  refused(JSON.stringify({ format: "coral-discovery-snapshot", version: 1 }), '"savedAtMs" is not a number');
  refused(JSON.stringify({ format: "coral-discovery-snapshot", version: 1, savedAtMs: 1, signingKey: { id: "k", privateKey: "AAAA" } }), /^signingKey: privateKey decodes to 3 bytes/);
  refused("{", "not JSON (cut short or damaged)");
});
