import t, { type Test } from "tap";
import { serviceKey } from "../../src/config/service-key.js";
import { OptionProblem, type ParseContext } from "../../src/config/parsers.js";
import { OWNER } from "../fixtures/keys.js";

const files: Record<string, string> = { "/keys/wg.key": `${OWNER.private}\n`, "/keys/wg-key.txt": `PrivateKey = ${OWNER.private}\nPublicKey = ${OWNER.public}\n` };
const ctx = (from: string): ParseContext => ({
  from,
  io: {
    readFile: (path) => {
      const content = files[path];
      if (content === undefined) throw Object.assign(new Error("no such file"), { code: "ENOENT" });
      return content;
    },
  },
});
const parser = serviceKey();
const b64 = (bytes: Uint8Array | undefined) => (bytes === undefined ? "none" : Buffer.from(bytes).toString("base64"));

function problem(t: Test, run: () => unknown): OptionProblem {
  const error = t.throws(run) as OptionProblem;
  t.ok(error instanceof OptionProblem);
  return error;
}

t.test("the flag names a file holding the key, as wg genkey or coral-discovery wg-key writes it", async (t) => {
  t.equal(b64(parser.fromText(["/keys/wg.key"], ctx("--service-key-file"))), OWNER.private);
  t.equal(b64(parser.fromText(["/other", "/keys/wg-key.txt"], ctx("--service-key-file"))), OWNER.private, "the last one wins");
  const missing = problem(t, () => parser.fromText(["/keys/none"], ctx("--service-key-file")));
  t.equal(missing.message, "cannot read the service key file (ENOENT)");
  t.equal(missing.from, "--service-key-file /keys/none");
  const noCode = problem(t, () => serviceKey().fromText(["/x"], { from: "--service-key-file", io: { readFile: () => { throw "odd"; } } }));
  t.equal(noCode.message, "cannot read the service key file (odd)");
});

t.test("the env var and startDiscovery() hold the key itself; an empty env var is no key", async (t) => {
  t.equal(b64(parser.fromEnv?.(OWNER.private, ctx("DISCOVERY_SERVICE_KEY"))), OWNER.private);
  t.equal(parser.fromEnv?.("  ", ctx("DISCOVERY_SERVICE_KEY")), undefined);
  t.equal(b64(parser.fromValue(OWNER.private, ctx("serviceKey"))), OWNER.private);
  t.match(problem(t, () => parser.fromValue(42 as never, ctx("serviceKey"))).message, /must be the key's base64 text/);
  const bad = problem(t, () => parser.fromEnv?.("AAAA", ctx("DISCOVERY_SERVICE_KEY")));
  t.match(bad.message, /^decodes to 3 bytes, not 32; give the base64 of a 32-byte WireGuard \(X25519\) private key/);
  t.equal(bad.from, "DISCOVERY_SERVICE_KEY");
});

t.test("it is never shown", async (t) => {
  t.equal(parser.show(undefined), "derived from the signing key");
  t.equal(parser.show(new Uint8Array(32)), "set (not shown)");
});
