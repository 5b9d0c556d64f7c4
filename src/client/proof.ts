// The client side of registration proofs: every RegisterColony and
// RegisterAgent the client sends carries a Coral-Registration-Proof made with
// the WireGuard private key it was given (see the README's "Registration
// proofs" and src/tokens/registration-proof.ts for the construction).
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { RegisterAgentRequestSchema, RegisterColonyRequestSchema } from "../../gen/coral/discovery/v1/discovery_pb.js";
// The modules themselves, not tokens/index.js: the client needs none of the JWT code.
import type { ProvableRequest } from "../tokens/canonical-request.js";
import { createRegistrationProof, PROOF_HEADER } from "../tokens/registration-proof.js";
import { decodeX25519PublicKey, readWireGuardPrivateKey, x25519PrivateKey } from "../tokens/x25519.js";
import type { DiscoveryRpc, RpcOptions } from "./rpc.js";

export interface ProofOptions {
  /** The WireGuard private key (base64, or a `PrivateKey = ...` text) whose public key is registered. */
  readonly wireguardPrivateKey: string;
  /** The service's X25519 public key (base64); default: read from the discovery document, once. */
  readonly servicePublicKey?: string;
  /** Where the discovery document is: the service's base URL. Needed without servicePublicKey. */
  readonly baseUrl?: string;
  /** Deadline of the document's fetch, ms. */
  readonly timeoutMs: number;
  /** Unix ms, for the proof's timestamp. */
  readonly now: () => number;
  /** The fetch the document is read with. Default the global fetch. */
  readonly fetch?: typeof fetch;
}

/** The discovery document's path, under the service's base URL. */
const DOCUMENT_PATH = "/.well-known/coral-discovery.json";

/** Reads the service key from the document; failures are `unavailable` (the registration loop retries them). */
async function fetchServiceKey(baseUrl: string, timeoutMs: number, fetchDocument: typeof fetch): Promise<Uint8Array> {
  const url = `${baseUrl.replace(/\/+$/, "")}${DOCUMENT_PATH}`;
  let document: { service_public_key?: unknown };
  try {
    const res = await fetchDocument(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    document = (await res.json()) as typeof document;
  } catch (error) {
    throw new ConnectError(`cannot read the service key from ${url} (${(error as Error).message}); it is needed to prove registrations`, Code.Unavailable);
  }
  const key = typeof document.service_public_key === "string" ? decodeX25519PublicKey(document.service_public_key) : undefined;
  if (key === undefined) throw new ConnectError(`${url} has no usable service_public_key (base64 of 32 bytes): is this a coral-discovery service with registration proofs?`, Code.Unavailable);
  return key;
}

/**
 * Wraps the RPCs so that registerColony and registerAgent carry proofs. An
 * empty `pubkey` is filled with the key's own; another pubkey is refused
 * (`invalid_argument`: no proof can be made for it). When the service key
 * came from the document and a proof is refused as not matching (a restarted
 * service with a new key), the document is read again and the call retried once.
 */
export function withRegistrationProofs(rpc: DiscoveryRpc, options: ProofOptions): DiscoveryRpc {
  const read = readWireGuardPrivateKey(options.wireguardPrivateKey);
  if (!read.ok) throw new RangeError(`wireguardPrivateKey ${read.problem}`);
  const key = x25519PrivateKey(read.bytes);
  const ownPubkey = Buffer.from(key.publicKey).toString("base64");
  let serviceKey: Promise<Uint8Array> | undefined;
  if (options.servicePublicKey !== undefined) {
    const pinned = decodeX25519PublicKey(options.servicePublicKey);
    if (pinned === undefined) throw new RangeError(`servicePublicKey must be the base64 of a 32-byte X25519 public key, got ${JSON.stringify(options.servicePublicKey.slice(0, 64))}`);
    serviceKey = Promise.resolve(pinned);
  } else if (options.baseUrl === undefined) {
    throw new RangeError("wireguardPrivateKey needs servicePublicKey, or baseUrl to read it from /.well-known/coral-discovery.json");
  }
  const { baseUrl, timeoutMs, now } = options;
  const fetchDocument = options.fetch ?? fetch;
  const currentKey = (): Promise<Uint8Array> => {
    serviceKey ??= fetchServiceKey(baseUrl as string, timeoutMs, fetchDocument).catch((error: unknown) => {
      serviceKey = undefined; // read it again next time
      throw error;
    });
    return serviceKey;
  };

  async function proven<M extends ProvableRequest, R>(message: M, callOptions: RpcOptions | undefined, send: (message: M, options: RpcOptions) => Promise<R>): Promise<R> {
    if (message.pubkey === "") message.pubkey = ownPubkey;
    if (message.pubkey !== ownPubkey) {
      throw new ConnectError(`pubkey ${message.pubkey} is not the public key of wireguardPrivateKey (${ownPubkey}): a proof can only be made for your own key`, Code.InvalidArgument);
    }
    const attempt = async () => {
      const proof = createRegistrationProof(message, key, await currentKey(), now() / 1000);
      const headers = new Headers(callOptions?.headers);
      headers.set(PROOF_HEADER, proof);
      return send(message, { ...callOptions, headers });
    };
    try {
      return await attempt();
    } catch (error) {
      const refused = error instanceof ConnectError && error.code === Code.Unauthenticated && /does not match/.test(error.rawMessage);
      if (!refused || options.servicePublicKey !== undefined) throw error;
      serviceKey = undefined;
      return attempt();
    }
  }

  return {
    ...rpc,
    registerColony: (request, callOptions) => proven(create(RegisterColonyRequestSchema, request), callOptions, rpc.registerColony),
    registerAgent: (request, callOptions) => proven(create(RegisterAgentRequestSchema, request), callOptions, rpc.registerAgent),
  };
}
