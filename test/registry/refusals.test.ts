import t from "tap";
import { budgetMessage, capMessage, proofRequired, sessionMeshMismatch, sessionNotFound, splitBrain, type Cap } from "../../src/registry/refusals.js";

const limits = { colonies: 1, agentsPerMesh: 2, agents: 3, relaySessions: 4, bytes: 5000, agentsPerMeshPerOwner: 6, relaySessionsPerOwner: 7 };

t.test("every cap names its flag and says what still works", async (t) => {
  const expected: Record<Cap, RegExp> = {
    colonies: /it holds 1 colonies \(--max-colonies\); registered colonies can still renew$/,
    agents_per_mesh: /^mesh m is full: it has 2 agents \(--max-agents-per-mesh\); registered agents can still renew$/,
    agents: /it holds 3 agents \(--max-agents\); registered agents can still renew$/,
    agents_per_owner: /^your address already holds 6 agents in mesh m \(--max-agents-per-mesh-per-ip\); registered agents can still renew$/,
    relay_sessions: /^all 4 relay sessions are in use \(--max-relay-sessions\); release unused sessions or retry later$/,
    relay_sessions_per_owner: /^your address already holds 7 open relay sessions \(--max-relay-sessions-per-ip\); release unused sessions or retry later$/,
  };
  for (const [cap, pattern] of Object.entries(expected)) t.match(capMessage(cap as Cap, limits, "m"), pattern, cap);
});

t.test("the byte budget says what it holds and what did not fit", async (t) => {
  const head = "the registry is full: its entries take 4900 of the 5000 bytes --max-registry-bytes allows, and ";
  t.equal(budgetMessage(4900, limits, 300, { kind: "colony", renewal: false }), `${head}a new colony takes 300; registered colonies can still renew`);
  t.equal(budgetMessage(4900, limits, 300, { kind: "agent", renewal: false }), `${head}a new agent takes 300; registered agents can still renew`);
  t.equal(budgetMessage(4900, limits, 300, { kind: "relay session", renewal: false }), `${head}a new relay session takes 300; release unused sessions or retry later`);
  t.equal(budgetMessage(4900, limits, 300, { kind: "colony", renewal: true, id: "m" }), `${head}this renewal would grow mesh m's entry to 300; renew with the same or a smaller payload`);
  t.equal(budgetMessage(4900, limits, 300, { kind: "agent", renewal: true, id: "a" }), `${head}this renewal would grow agent a's entry to 300; renew with the same or a smaller payload`);
});

t.test("split-brain says when the holder's lease ends; relay session refusals name the session", async (t) => {
  const error = splitBrain("m", Date.UTC(2026, 0, 1, 0, 1), Date.UTC(2026, 0, 1, 0, 0, 0, 500));
  t.equal(error.code, "split_brain");
  t.equal(error.message, "mesh m is already registered by a colony with a different pubkey (split-brain protection); its lease ends at 2026-01-01T00:01:00.000Z (in 60s) unless it renews");
  t.equal(sessionNotFound("s").code, "session_not_found");
  t.equal(sessionNotFound("s").message, "relay session s not found");
  t.equal(sessionMeshMismatch("s", "m").code, "session_mesh_mismatch");
  t.equal(sessionMeshMismatch("s", "m").message, "relay session s does not belong to mesh m");
});

t.test("a proof is required over a proven lease: says why, how to send one, and when the lease ends", async (t) => {
  const at = Date.UTC(2026, 0, 1);
  const own = proofRequired("mesh m's colony", at + 30_000, at);
  t.equal(own.code, "proof_required");
  t.match(own.message, /^mesh m's colony is held by a proven registration: a registration proof is required to renew or replace it\. Send the Coral-Registration-Proof header .* or wait until the lease ends at 2026-01-01T00:00:30\.000Z \(in 30s\)$/);
  t.match(proofRequired("agent a of mesh m", at + 1_000, at, true).message, /a registration for another pubkey cannot replace it; only one proven with the private key of the stored pubkey may renew it/);
});
