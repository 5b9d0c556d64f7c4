import t from "tap";
import { generateWireGuardKeyPair, runWgKey, wireGuardPublicKey } from "../../src/cli/wg-key.js";
import { pubkey } from "../../src/service/validate.js";

function run(argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = runWgKey(argv, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) });
  return { code, stdout, stderr };
}

const hex = (h: string) => Buffer.from(h, "hex").toString("base64");

t.test("wireGuardPublicKey computes X25519 public keys (RFC 7748 section 6.1 test vectors)", async (t) => {
  // Alice's and Bob's keys from RFC 7748; X25519 clamps the scalar itself, so unclamped keys work too.
  t.equal(
    wireGuardPublicKey(hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")),
    hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"),
  );
  t.equal(
    wireGuardPublicKey(hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")),
    hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"),
  );
  t.throws(() => wireGuardPublicKey("c2hvcnQ="), { name: "RangeError", message: /base64 of 32 bytes/ });
  t.throws(() => wireGuardPublicKey("not base64 at all, but long enough to be 44 c"), RangeError);
});

t.test("generateWireGuardKeyPair clamps the private key as wg genkey does and derives its public key", async (t) => {
  const pair = generateWireGuardKeyPair(() => Buffer.alloc(32, 0xff));
  const secret = Buffer.from(pair.privateKey, "base64");
  t.equal(secret.length, 32);
  t.equal(secret[0], 0xf8, "low three bits cleared");
  t.equal(secret[31], 0x7f, "top bit cleared, second bit set");
  t.equal(pair.publicKey, wireGuardPublicKey(pair.privateKey));
  const fresh = generateWireGuardKeyPair();
  t.not(fresh.privateKey, generateWireGuardKeyPair().privateKey, "random by default");
  t.match(fresh.publicKey, /^[A-Za-z0-9+/]{43}=$/);
});

t.test("wg-key prints a pair, the public key alone, or JSON; the service accepts the public key", async (t) => {
  const both = run([]);
  t.equal(both.code, 0);
  const match = /^PrivateKey = (\S{44})\nPublicKey = (\S{44})\n$/.exec(both.stdout);
  t.ok(match, both.stdout);
  t.equal(wireGuardPublicKey(match?.[1] ?? ""), match?.[2]);

  const pub = run(["--public"]);
  t.match(pub.stdout, /^[A-Za-z0-9+/]{43}=\n$/);
  t.doesNotThrow(() => pubkey(pub.stdout.trim(), "pubkey", true), "the service's strict pubkey check accepts it");

  const json = JSON.parse(run(["--json"]).stdout) as { privateKey: string; publicKey: string };
  t.equal(wireGuardPublicKey(json.privateKey), json.publicKey);

  t.match(run(["--help"]).stdout, /^Usage: coral-discovery wg-key/);
  const bad = run(["--pub"]);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /^coral-discovery: Unknown option '--pub'/);
  t.match(bad.stderr, /Usage: coral-discovery wg-key/);
});
