// Lease payloads as JSON and back: what a store outside the process (Redis)
// or a snapshot file holds. Plain JSON cannot hold a bigint (a Timestamp's
// seconds) or bytes (a CA fingerprint), so those two become a decimal string
// and base64. Decoding checks the shape, since a snapshot file is read from
// disk: a value that is not what `encode` writes throws a TypeError saying
// which field.
import type { AgentData, ColonyData, EndpointInit, PublicEndpointInit, RelayData } from "./discovery-service.js";

/** A payload to and from a JSON-safe value. */
export interface Codec<T> {
  encode(value: T): unknown;
  /** Throws TypeError when `json` is not what `encode` writes. */
  decode(json: unknown): T;
}

type Json = Record<string, unknown>;

export const colonyCodec: Codec<ColonyData> = {
  encode(data) {
    const { publicEndpoint: info } = data;
    return {
      ...data,
      publicEndpoint: info && {
        ...info,
        caFingerprint: info.caFingerprint && { algorithm: info.caFingerprint.algorithm, value: base64(info.caFingerprint.value) },
        updatedAt: info.updatedAt && { seconds: String(info.updatedAt.seconds ?? 0), nanos: info.updatedAt.nanos },
      },
    };
  },
  decode(json) {
    const o = object(json, "colony");
    return {
      endpoints: strings(o.endpoints, "endpoints"),
      meshIpv4: string(o.meshIpv4, "meshIpv4"),
      meshIpv6: string(o.meshIpv6, "meshIpv6"),
      connectPort: number(o.connectPort, "connectPort"),
      metadata: metadata(o.metadata),
      observedEndpoint: endpoint(o.observedEndpoint),
      publicPort: number(o.publicPort, "publicPort"),
      publicEndpoint: publicEndpoint(o.publicEndpoint),
    };
  },
};

export const agentCodec: Codec<AgentData> = {
  encode: (data) => data,
  decode(json) {
    const o = object(json, "agent");
    return { endpoints: strings(o.endpoints, "endpoints"), metadata: metadata(o.metadata), observedEndpoint: endpoint(o.observedEndpoint) };
  },
};

export const relayCodec: Codec<RelayData> = {
  encode: (data) => data,
  decode(json) {
    const o = object(json, "relay session");
    const relay = object(o.relay, "relay");
    return {
      relay: { id: string(relay.id, "relay.id"), host: string(relay.host, "relay.host"), port: number(relay.port, "relay.port") },
      agentPubkey: string(o.agentPubkey, "agentPubkey"),
      colonyPubkey: string(o.colonyPubkey, "colonyPubkey"),
    };
  },
};

function endpoint(json: unknown): EndpointInit | undefined {
  if (json === undefined || json === null) return undefined;
  const o = object(json, "observedEndpoint");
  return { ip: string(o.ip, "observedEndpoint.ip"), port: number(o.port, "observedEndpoint.port"), protocol: string(o.protocol, "observedEndpoint.protocol"), ...(o.viaRelay === undefined ? {} : { viaRelay: boolean(o.viaRelay, "observedEndpoint.viaRelay") }) };
}

function publicEndpoint(json: unknown): PublicEndpointInit | undefined {
  if (json === undefined || json === null) return undefined;
  const o = object(json, "publicEndpoint");
  const fingerprint = o.caFingerprint === undefined || o.caFingerprint === null ? undefined : object(o.caFingerprint, "publicEndpoint.caFingerprint");
  const updatedAt = o.updatedAt === undefined || o.updatedAt === null ? undefined : object(o.updatedAt, "publicEndpoint.updatedAt");
  return {
    enabled: boolean(o.enabled, "publicEndpoint.enabled"),
    url: string(o.url, "publicEndpoint.url"),
    caCert: string(o.caCert, "publicEndpoint.caCert"),
    caFingerprint: fingerprint && {
      algorithm: number(fingerprint.algorithm, "publicEndpoint.caFingerprint.algorithm"),
      value: new Uint8Array(Buffer.from(string(fingerprint.value, "publicEndpoint.caFingerprint.value"), "base64")),
    },
    updatedAt: updatedAt && { seconds: bigint(updatedAt.seconds, "publicEndpoint.updatedAt.seconds"), nanos: number(updatedAt.nanos, "publicEndpoint.updatedAt.nanos") },
  };
}

function base64(bytes: Uint8Array | undefined): string {
  return bytes === undefined ? "" : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

function object(json: unknown, field: string): Json {
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new TypeError(`${field} is not an object`);
  return json as Json;
}

function string(json: unknown, field: string): string {
  if (typeof json !== "string") throw new TypeError(`${field} is not a string`);
  return json;
}

function number(json: unknown, field: string): number {
  if (typeof json !== "number" || !Number.isFinite(json)) throw new TypeError(`${field} is not a number`);
  return json;
}

function boolean(json: unknown, field: string): boolean {
  if (typeof json !== "boolean") throw new TypeError(`${field} is not a boolean`);
  return json;
}

function bigint(json: unknown, field: string): bigint {
  if (typeof json !== "string" || !/^-?\d{1,20}$/.test(json)) throw new TypeError(`${field} is not an integer string`);
  return BigInt(json);
}

function strings(json: unknown, field: string): string[] {
  if (!Array.isArray(json) || !json.every((item) => typeof item === "string")) throw new TypeError(`${field} is not a list of strings`);
  return json as string[];
}

function metadata(json: unknown): Record<string, string> {
  const o = object(json, "metadata");
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(o)) result[key] = string(value, `metadata.${key}`);
  return result;
}
