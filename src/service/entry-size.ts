// What a stored entry costs in memory, estimated from its content: the
// registry's byte budget (--max-registry-bytes) counts these. V8 keeps a
// string in 1 byte per character when every character is Latin-1, else 2, plus
// a header; objects, arrays and map entries cost a few pointers each. The
// fixed costs are calibrated with scripts/capacity-memory.mjs so that the
// estimate stays at or just above the heap an entry really takes.
import type { EntrySizes } from "../registry/index.js";
import type { AgentData, ColonyData, EndpointInit, PublicEndpointInit, RelayData } from "./discovery-service.js";

/** A stored lease: its Map entry, expiry-index entry, lease and payload objects. */
const ENTRY_BYTES = 440;
const STRING_HEADER_BYTES = 20;
const OBJECT_BYTES = 56;
const ARRAY_BYTES = 32;
const POINTER_BYTES = 8;
/** One property of a metadata object in dictionary mode. */
const PROPERTY_BYTES = 24;

const NOT_LATIN1 = /[^\u0000-\u00ff]/;

/** A string's heap size. */
export function stringBytes(text: string): number {
  const perChar = NOT_LATIN1.test(text) ? 2 : 1;
  return STRING_HEADER_BYTES + ((text.length * perChar + 7) & ~7);
}

function stringsBytes(list: readonly string[]): number {
  let bytes = ARRAY_BYTES + POINTER_BYTES * list.length;
  for (const item of list) bytes += stringBytes(item);
  return bytes;
}

function metadataBytes(metadata: Readonly<Record<string, string>>): number {
  let bytes = OBJECT_BYTES;
  for (const [key, value] of Object.entries(metadata)) bytes += PROPERTY_BYTES + stringBytes(key) + stringBytes(value);
  return bytes;
}

function endpointBytes(endpoint: EndpointInit | undefined): number {
  if (endpoint === undefined) return 0;
  return OBJECT_BYTES + stringBytes(endpoint.ip ?? "") + stringBytes(endpoint.protocol ?? "");
}

function publicEndpointBytes(info: PublicEndpointInit | undefined): number {
  if (info === undefined) return 0;
  let bytes = OBJECT_BYTES + stringBytes(info.url ?? "") + stringBytes(info.caCert ?? "");
  if (info.caFingerprint !== undefined) bytes += OBJECT_BYTES + ARRAY_BYTES + (info.caFingerprint.value?.length ?? 0);
  if (info.updatedAt !== undefined) bytes += OBJECT_BYTES;
  return bytes;
}

/** The estimates for the discovery service's entries. */
export const discoveryEntrySizes: EntrySizes<ColonyData, AgentData, RelayData> = {
  colony(meshId, pubkey, data) {
    return (
      ENTRY_BYTES +
      stringBytes(meshId) +
      stringBytes(pubkey) +
      stringsBytes(data.endpoints) +
      stringBytes(data.meshIpv4) +
      stringBytes(data.meshIpv6) +
      metadataBytes(data.metadata) +
      endpointBytes(data.observedEndpoint) +
      publicEndpointBytes(data.publicEndpoint)
    );
  },
  agent(meshId, agentId, pubkey, data) {
    // The composite key repeats both ids.
    return (
      ENTRY_BYTES +
      2 * (stringBytes(meshId) + stringBytes(agentId)) +
      stringBytes(pubkey) +
      stringsBytes(data.endpoints) +
      metadataBytes(data.metadata) +
      endpointBytes(data.observedEndpoint)
    );
  },
  relay(sessionId, meshId, data) {
    return ENTRY_BYTES + stringBytes(sessionId) + stringBytes(meshId) + stringBytes(data.agentPubkey) + stringBytes(data.colonyPubkey);
  },
};
