import t from "tap";
import { Code, ConnectError } from "@connectrpc/connect";
import { createDiscoveryClient, type ColonyRegistration, type DiscoveryClientOptions, type RegisterColonyResponse } from "../../src/client/index.js";
import { startServer } from "../fixtures/server.js";

const server = await startServer(t);

// WireGuard public keys: base64 of 32 bytes.
const colonyKey = Buffer.alloc(32, 1).toString("base64");
const rivalKey = Buffer.alloc(32, 2).toString("base64");

/** The outcome of the next round: the response, or the error that ended it. */
const nextRound = (handle: ColonyRegistration) =>
  new Promise<RegisterColonyResponse | ConnectError>((resolve) => {
    const offs = [handle.on("registered", done), handle.on("error", done)];
    function done(outcome: RegisterColonyResponse | ConnectError) {
      for (const off of offs) off();
      resolve(outcome);
    }
  });

const transports: [string, Partial<DiscoveryClientOptions>][] = [
  ["default Connect JSON over HTTP/1.1", {}],
  ["gRPC over h2c", { protocol: "grpc" }],
];

for (const [name, options] of transports) {
  t.test(`${name}: a colony registers, an agent finds it, a split-brain colony is refused, stop() ends both loops`, async (t) => {
    const meshId = `e2e-${options.protocol ?? "connect"}`;
    const colonyClient = createDiscoveryClient({ baseUrl: server.url, ...options });
    const registration = colonyClient.startColonyRegistration({ meshId, pubkey: colonyKey, endpoints: ["203.0.113.42:41820"], metadata: { via: name } });
    t.teardown(() => registration.stop());
    const res = await nextRound(registration);
    if (res instanceof ConnectError) throw res;
    t.equal(res.success, true);
    t.equal(res.ttl, 300);
    const status = registration.status();
    t.equal(status.registered, true);
    t.equal(status.rounds, 1);
    t.ok(status.expiresAt !== undefined && Math.abs(status.expiresAt.getTime() - (Date.now() + 300_000)) < 5_000, "expires in about 300 s");

    const agent = createDiscoveryClient({ baseUrl: server.url, ...options });
    const found = await agent.findColony(meshId);
    t.equal(found.pubkey, colonyKey);
    t.same(found.endpoints, ["203.0.113.42:41820"]);
    t.same(found.metadata, { via: name });

    const missing = await agent.findColony(`${meshId}-missing`, { retry: { deadlineMs: 0 } }).catch((e: ConnectError) => e);
    t.equal((missing as ConnectError).code, Code.NotFound);
    t.equal((missing as ConnectError).rawMessage, `colony ${meshId}-missing not found`);

    const rival = colonyClient.startColonyRegistration({ meshId, pubkey: rivalKey, endpoints: ["198.51.100.1:1"] });
    let retries = 0;
    rival.on("retry", () => retries++);
    const clash = await nextRound(rival);
    if (!(clash instanceof ConnectError)) throw new Error("the rival registered");
    t.equal(clash.code, Code.AlreadyExists);
    t.match(clash.rawMessage, /already registered.*split-brain/);
    t.equal(retries, 0, "split-brain is reported at once, not retried");
    t.equal(rival.status().registered, false);

    const started = Date.now();
    await Promise.all([rival.stop(), registration.stop()]);
    t.ok(Date.now() - started < 1_000, "stop() does not wait for the 60 s heartbeat");
    t.equal(registration.status().rounds, 1, "no more rounds after stop()");
    t.equal((await agent.lookupColony({ meshId })).pubkey, colonyKey, "the lease outlives the loop");
  });
}
