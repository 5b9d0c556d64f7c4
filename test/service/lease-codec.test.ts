import t from "tap";
import { agentCodec, colonyCodec, relayCodec } from "../../src/service/lease-codec.js";
import type { ColonyData } from "../../src/service/discovery-service.js";

const colony: ColonyData = {
  endpoints: ["203.0.113.1:51820", ":51820"],
  meshIpv4: "10.42.0.1",
  meshIpv6: "fd42::1",
  connectPort: 9000,
  metadata: { region: "eu", "ключ": "значение" },
  observedEndpoint: { ip: "203.0.113.1", port: 0, protocol: "udp" },
  publicPort: 8443,
  publicEndpoint: {
    enabled: true,
    url: "https://colony.example:8443",
    caCert: "-----BEGIN CERTIFICATE-----",
    caFingerprint: { algorithm: 1, value: new Uint8Array([0, 1, 2, 250, 255]) },
    updatedAt: { seconds: 1_700_000_000n, nanos: 5 },
  },
};

const roundTrip = <T>(codec: { encode(v: T): unknown; decode(j: unknown): T }, value: T) => codec.decode(JSON.parse(JSON.stringify(codec.encode(value))));

t.test("a colony survives JSON: bytes as base64, a timestamp's bigint seconds as a string", async (t) => {
  const encoded = JSON.parse(JSON.stringify(colonyCodec.encode(colony)));
  t.equal(encoded.publicEndpoint.caFingerprint.value, "AAEC+v8=");
  t.equal(encoded.publicEndpoint.updatedAt.seconds, "1700000000");
  t.same(roundTrip(colonyCodec, colony), colony);
  const decoded = roundTrip(colonyCodec, colony);
  t.type(decoded.publicEndpoint?.caFingerprint?.value, Uint8Array);
  t.equal(decoded.publicEndpoint?.updatedAt?.seconds, 1_700_000_000n);
});

t.test("absent parts stay absent", async (t) => {
  const bare: ColonyData = { ...colony, observedEndpoint: undefined, publicEndpoint: undefined };
  t.same(roundTrip(colonyCodec, bare), bare);
  const partial: ColonyData = { ...colony, publicEndpoint: { enabled: false, url: "", caCert: "", caFingerprint: undefined, updatedAt: undefined } };
  t.same(roundTrip(colonyCodec, partial), partial);
  const relayed: ColonyData = { ...colony, observedEndpoint: { ip: "198.51.100.2", port: 4, protocol: "udp", viaRelay: true } };
  t.same(roundTrip(colonyCodec, relayed), relayed);
});

t.test("agents and relay sessions round-trip", async (t) => {
  const agent = { endpoints: [], metadata: { a: "b" }, observedEndpoint: { ip: "198.51.100.2", port: 40000, protocol: "udp", viaRelay: false } };
  t.same(roundTrip(agentCodec, agent), agent);
  const relay = { relay: { id: "relay.example:3478", host: "relay.example", port: 3478 }, agentPubkey: "a", colonyPubkey: "c" };
  t.same(roundTrip(relayCodec, relay), relay);
});

t.test("a value that is not what encode writes is a TypeError naming the field", async (t) => {
  const good = JSON.parse(JSON.stringify(colonyCodec.encode(colony)));
  const bad = (patch: (o: any) => void, field: RegExp) => {
    const copy = structuredClone(good);
    patch(copy);
    t.throws(() => colonyCodec.decode(copy), { name: "TypeError", message: field });
  };
  t.throws(() => colonyCodec.decode(null), { message: /colony is not an object/ });
  t.throws(() => colonyCodec.decode([]), { message: /colony is not an object/ });
  bad((o) => (o.endpoints = [1]), /endpoints is not a list of strings/);
  bad((o) => (o.endpoints = "x"), /endpoints is not a list of strings/);
  bad((o) => (o.meshIpv4 = 4), /meshIpv4 is not a string/);
  bad((o) => (o.connectPort = "9000"), /connectPort is not a number/);
  bad((o) => (o.publicPort = null), /publicPort is not a number/);
  bad((o) => (o.metadata.region = 1), /metadata.region is not a string/);
  bad((o) => (o.observedEndpoint.viaRelay = "yes"), /observedEndpoint.viaRelay is not a boolean/);
  bad((o) => (o.publicEndpoint.enabled = 1), /publicEndpoint.enabled is not a boolean/);
  bad((o) => (o.publicEndpoint.updatedAt.seconds = "1e9"), /updatedAt.seconds is not an integer string/);
  bad((o) => (o.publicEndpoint.caFingerprint = 7), /caFingerprint is not an object/);
  t.throws(() => agentCodec.decode({ endpoints: [], metadata: {}, observedEndpoint: { ip: 1 } }), { message: /observedEndpoint.ip/ });
  t.throws(() => relayCodec.decode({ relay: {}, agentPubkey: "", colonyPubkey: "" }), { message: /relay.id/ });
});

t.test("null parts read as absent (what a JSON writer in another language may send)", async (t) => {
  const o = JSON.parse(JSON.stringify(colonyCodec.encode(colony)));
  o.observedEndpoint = null;
  o.publicEndpoint.caFingerprint = null;
  o.publicEndpoint.updatedAt = null;
  const decoded = colonyCodec.decode(o);
  t.equal(decoded.observedEndpoint, undefined);
  t.equal(decoded.publicEndpoint?.caFingerprint, undefined);
  t.equal(decoded.publicEndpoint?.updatedAt, undefined);
  t.same(colonyCodec.decode({ ...o, publicEndpoint: null }).publicEndpoint, undefined);
});

t.test("an Init with fields left out encodes their zero values", async (t) => {
  const sparse: ColonyData = { ...colony, publicEndpoint: { enabled: true, url: "u", caCert: "", caFingerprint: { algorithm: 0 }, updatedAt: { nanos: 0 } } };
  const decoded = roundTrip(colonyCodec, sparse);
  t.same(decoded.publicEndpoint?.caFingerprint?.value, new Uint8Array(0));
  t.equal(decoded.publicEndpoint?.updatedAt?.seconds, 0n);
});
