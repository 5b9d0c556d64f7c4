import t from "tap";
import { createPublicKey, verify } from "node:crypto";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { DiscoveryService } from "../../gen/coral/discovery/v1/discovery_pb.js";
import { startServer } from "../fixtures/server.js";

const VECTOR_KEY = '{"id":"01H7X0X7X0X7X0X7X0X7X0X7X0","privateKey":"hXIqNNX5M2H9WuNmTPcAYgwRSWpJMqONpL3HPPoxsdoitbpmLL7H2ArTXJV0YXj89bxfbePj0GTKqEB+N9g8SA=="}';
const PREVIOUS = '[{"id":"old-key","publicKey":"O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik="}]';

function goClientHeaders(): Record<string, string> {
  return {
    "Content-Type": "application/json",
    "Connect-Protocol-Version": "1",
    "Connect-Timeout-Ms": "10000",
    "Accept-Encoding": "gzip",
  };
}

function b64url(text: string): Buffer {
  return Buffer.from(text, "base64url");
}

t.test("a token minted over Connect JSON verifies with node:crypto against the served JWKS", async (t) => {
  const server = await startServer(t, { tokenTtlSeconds: 90 });
  const res = await fetch(`${server.url}/coral.discovery.v1.DiscoveryService/CreateBootstrapToken`, {
    method: "POST",
    headers: goClientHeaders(),
    body: JSON.stringify({ agent_id: "agent-7", colony_id: "colony-1", reef_id: "reef-9", intent: "join" }),
  });
  t.equal(res.status, 200);
  t.equal(res.headers.get("content-type"), "application/json");
  const body = (await res.json()) as { jwt: string; expiresAt: string };

  const jwksRes = await fetch(`${server.url}/.well-known/jwks.json`);
  t.equal(jwksRes.headers.get("content-type"), "application/json");
  t.equal(jwksRes.headers.get("cache-control"), "no-cache", "a generated key: clients revalidate");
  const etag = jwksRes.headers.get("etag") ?? "";
  t.equal((await fetch(`${server.url}/.well-known/jwks.json`, { headers: { "if-none-match": etag } })).status, 304, "by ETag");
  const jwks = (await jwksRes.json()) as { keys: { kid: string; kty: string; crv: string; x: string }[] };
  t.equal(jwks.keys.length, 1, "never empty: a generated key is published");

  const [h, p, s] = body.jwt.split(".") as [string, string, string];
  const header = JSON.parse(b64url(h).toString()) as { kid: string; alg: string; typ: string };
  t.same(Object.keys(header), ["alg", "typ", "kid"]);
  t.equal(header.alg, "EdDSA");
  t.equal(header.typ, "JWT");
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  t.ok(jwk, "the token's kid is in the JWKS");
  const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: jwk!.x }, format: "jwk" });
  t.ok(verify(null, Buffer.from(`${h}.${p}`), key, b64url(s)), "signature verifies");

  const claims = JSON.parse(b64url(p).toString()) as Record<string, unknown>;
  t.equal(claims.iss, "coral-discovery");
  t.same(claims.aud, ["coral-colony"]);
  t.equal(claims.sub, "agent:agent-7");
  t.equal(claims.agent_id, "agent-7");
  t.equal(claims.colony_id, "colony-1");
  t.equal(claims.reef_id, "reef-9");
  t.equal(claims.intent, "join");
  t.equal((claims.exp as number) - (claims.iat as number), 90);
  t.match(claims.jti, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.equal(body.expiresAt, String(claims.exp), "expires_at = exp");
  t.ok(Math.abs((claims.iat as number) - Date.now() / 1000) < 5, "iat is now");

  const tampered = Buffer.from(`${h}.${p}`);
  tampered.writeUInt8((tampered.at(-1) as number) ^ 1, tampered.length - 1);
  t.notOk(verify(null, tampered, key, b64url(s)), "one changed payload byte fails");
});

t.test("a configured key signs; previous keys are published after it and never sign", async (t) => {
  const { url } = await startServer(t, { env: { DISCOVERY_SIGNING_KEY: VECTOR_KEY, DISCOVERY_PREVIOUS_KEYS: PREVIOUS } });

  const jwks = (await (await fetch(`${url}/.well-known/jwks.json`)).json()) as { keys: { kid: string; x: string }[] };
  t.same(
    jwks.keys.map((k) => k.kid),
    ["01H7X0X7X0X7X0X7X0X7X0X7X0", "old-key"],
  );
  t.equal(jwks.keys[0]?.x, "IrW6Ziy-x9gK01yVdGF4_PW8X23j49BkyqhAfjfYPEg", "the contract's test vector");

  const client = createClient(DiscoveryService, createGrpcTransport({ baseUrl: url }));
  for (let i = 0; i < 5; i++) {
    const { jwt } = await client.createBootstrapToken({ agentId: `a${i}`, colonyId: "c" });
    const header = JSON.parse(b64url(jwt.split(".")[0] as string).toString()) as { kid: string };
    t.equal(header.kid, "01H7X0X7X0X7X0X7X0X7X0X7X0", "always the current key");
  }
});

t.test("CreateBootstrapToken requires agent_id, then colony_id, over gRPC", async (t) => {
  const server = await startServer(t);
  const client = createClient(DiscoveryService, createGrpcTransport({ baseUrl: server.url }));
  const first = await client.createBootstrapToken({}).catch((e: unknown) => e as ConnectError);
  t.equal((first as ConnectError).code, Code.InvalidArgument);
  t.equal((first as ConnectError).rawMessage, "agent_id is required");
  const second = await client.createBootstrapToken({ agentId: "a" }).catch((e: unknown) => e as ConnectError);
  t.equal((second as ConnectError).rawMessage, "colony_id is required");
  const ok = await client.createBootstrapToken({ agentId: "a", colonyId: "c" });
  t.equal(ok.jwt.split(".").length, 3);
  t.ok(ok.expiresAt > BigInt(Math.floor(Date.now() / 1000)));
});
