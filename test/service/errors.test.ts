import t from "tap";
import { Code, ConnectError } from "@connectrpc/connect";
import { RegistryError, type RegistryErrorCode } from "../../src/registry/index.js";
import { DiscoveryService } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { chain, type Call } from "../../src/service/call.js";
import { contextOf } from "../fixtures/call.js";
import { connectErrorFromRegistry, errorMappingStep } from "../../src/service/errors.js";

t.test("each registry error code becomes its Connect code, keeping the message and the registry error as cause", async (t) => {
  const expected: Record<RegistryErrorCode, Code> = {
    split_brain: Code.AlreadyExists,
    session_not_found: Code.NotFound,
    session_mesh_mismatch: Code.PermissionDenied,
    capacity_exceeded: Code.ResourceExhausted,
    unavailable: Code.Unavailable,
  };
  for (const [code, connectCode] of Object.entries(expected) as [RegistryErrorCode, Code][]) {
    const registryError = new RegistryError(code, `refused because of ${code}`);
    const mapped = connectErrorFromRegistry(registryError);
    t.ok(mapped instanceof ConnectError, `${code}: a ConnectError`);
    const error = mapped as ConnectError;
    t.equal(Code[error.code], Code[connectCode], `${code}: ${Code[connectCode]}`);
    t.equal(error.rawMessage, `refused because of ${code}`, `${code}: the registry's message, as is`);
    t.equal(error.cause, registryError, `${code}: the registry error is the cause`);
    t.same(error.details, [], `${code}: no details`);
    t.equal(error.metadata.has("retry-after"), false, `${code}: no metadata`);
  }
});

t.test("anything that is not a RegistryError is returned unchanged", async (t) => {
  const connectError = new ConnectError("mesh_id is required", Code.InvalidArgument);
  const bug = new TypeError("x is undefined");
  const lookalike = Object.assign(new Error("same name, other class"), { name: "RegistryError", code: "split_brain" });
  for (const value of [connectError, bug, lookalike, "a string", undefined, null, { code: "split_brain" }]) {
    t.equal(connectErrorFromRegistry(value), value, String(value));
  }
});

t.test("the error-mapping step turns registry refusals thrown inside it into Connect errors and passes the rest", async (t) => {
  const call: Call = {
    method: DiscoveryService.method.registerColony,
    rpc: "coral.discovery.v1.DiscoveryService/RegisterColony",
    input: {},
    ctx: contextOf(),
  };
  const refusing = chain([errorMappingStep], () => {
    throw new RegistryError("split_brain", "mesh m is already registered");
  });
  const refused = await refusing(call).catch((e: unknown) => e);
  t.ok(refused instanceof ConnectError);
  t.equal((refused as ConnectError).code, Code.AlreadyExists);
  const bug = new TypeError("a bug");
  const crashing = chain([errorMappingStep], async () => {
    throw bug;
  });
  t.equal(await crashing(call).catch((e: unknown) => e), bug, "anything else passes unchanged, for the logging step");
  t.same(await chain([errorMappingStep], () => ({ success: true }))(call), { success: true }, "answers pass through");
});
