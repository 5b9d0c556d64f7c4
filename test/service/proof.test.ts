import t, { type Test } from "tap";
import { Code, ConnectError } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { RegisterAgentRequestSchema, RegisterColonyRequestSchema } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { createProofCheck } from "../../src/service/proof.js";
import { createRegistrationProof, x25519PrivateKey } from "../../src/tokens/index.js";
import { contextOf } from "../fixtures/call.js";
import { OWNER } from "../fixtures/keys.js";

const serviceKey = x25519PrivateKey(new Uint8Array(32).fill(7));
const owner = x25519PrivateKey(new Uint8Array(Buffer.from(OWNER.private, "base64")));
const NOW_MS = Date.UTC(2026, 0, 1);
const colony = create(RegisterColonyRequestSchema, { meshId: "m", pubkey: OWNER.public, endpoints: ["203.0.113.1:1"] });
const agent = create(RegisterAgentRequestSchema, { agentId: "a", meshId: "m", pubkey: OWNER.public, endpoints: ["203.0.113.1:1"] });
const withHeader = (value: string | undefined) =>
  contextOf({ requestHeader: (name) => (name === "coral-registration-proof" ? value : undefined) });

function refusal(t: Test, run: () => unknown): ConnectError {
  const error = t.throws(run) as ConnectError;
  t.ok(error instanceof ConnectError);
  t.equal(Code[error.code], Code[Code.Unauthenticated]);
  return error;
}

t.test("no header: unproven, unless the service requires proofs for that kind of registration", async (t) => {
  for (const [require, colonyRequired, agentRequired] of [["off", false, false], ["colonies", true, false], ["all", true, true]] as const) {
    const check = createProofCheck({ serviceKey, maxSkewSeconds: 120, require, now: () => NOW_MS });
    for (const header of [undefined, ""]) {
      if (colonyRequired) {
        t.match(refusal(t, () => check.colony(colony, withHeader(header))).rawMessage, `this service requires a registration proof for colonies (--require-proof ${require}): send the Coral-Registration-Proof header`);
      } else t.equal(check.colony(colony, withHeader(header)), false, `${require}: colony unproven`);
      if (agentRequired) {
        t.match(refusal(t, () => check.agent(agent, withHeader(header))).rawMessage, /requires a registration proof for agents \(--require-proof all\)/);
      } else t.equal(check.agent(agent, withHeader(header)), false, `${require}: agent unproven`);
    }
  }
  t.equal(createProofCheck({ serviceKey, maxSkewSeconds: 120, now: () => NOW_MS }).colony(colony, withHeader(undefined)), false, "default: off");
});

t.test("a valid header proves the registration, on the service's clock and window", async (t) => {
  const check = createProofCheck({ serviceKey, maxSkewSeconds: 30, require: "all", now: () => NOW_MS + 999 });
  t.equal(check.colony(colony, withHeader(createRegistrationProof(colony, owner, serviceKey.publicKey, NOW_MS / 1000 - 30))), true);
  t.equal(check.agent(agent, withHeader(createRegistrationProof(agent, owner, serviceKey.publicKey, NOW_MS / 1000 + 30))), true);
  const stale = refusal(t, () => check.colony(colony, withHeader(createRegistrationProof(colony, owner, serviceKey.publicKey, NOW_MS / 1000 - 31))));
  t.match(stale.rawMessage, /^the Coral-Registration-Proof header is stale: its timestamp \d+ is 31s behind the service clock/);
  const crossed = refusal(t, () => check.agent(agent, withHeader(createRegistrationProof(colony, owner, serviceKey.publicKey, NOW_MS / 1000))));
  t.match(crossed.rawMessage, /^the Coral-Registration-Proof header does not match this request/, "a colony's proof does not prove an agent");
  t.match(refusal(t, () => check.colony(colony, withHeader("v1.x.y"))).rawMessage, /^the Coral-Registration-Proof header has timestamp "x"/);
});
