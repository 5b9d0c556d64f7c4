// The words of every refusal a lease store gives, shared by the Map registry
// and the Redis store so that a client reads the same message from either.
import { RegistryError } from "./errors.js";
import type { RegistryLimits } from "./types.js";

/** `meshId` is held by an active colony with another pubkey, until `expiresAtMs`. */
export function splitBrain(meshId: string, expiresAtMs: number, nowMs: number): RegistryError {
  const seconds = Math.ceil((expiresAtMs - nowMs) / 1000);
  return new RegistryError(
    "split_brain",
    `mesh ${meshId} is already registered by a colony with a different pubkey (split-brain protection); ` +
      `its lease ends at ${new Date(expiresAtMs).toISOString()} (in ${seconds}s) unless it renews`,
  );
}

/** Which cap refused a new entry. */
export type Cap = "colonies" | "agents_per_mesh" | "agents" | "agents_per_owner" | "relay_sessions" | "relay_sessions_per_owner";

/** The message of a count cap or per-address quota refusal. */
export function capMessage(cap: Cap, limits: RegistryLimits, meshId: string): string {
  switch (cap) {
    case "colonies":
      return `the registry is full: it holds ${limits.colonies} colonies (--max-colonies); registered colonies can still renew`;
    case "agents_per_mesh":
      return `mesh ${meshId} is full: it has ${limits.agentsPerMesh} agents (--max-agents-per-mesh); registered agents can still renew`;
    case "agents":
      return `the registry is full: it holds ${limits.agents} agents (--max-agents); registered agents can still renew`;
    case "agents_per_owner":
      return (
        `your address already holds ${limits.agentsPerMeshPerOwner} agents in mesh ${meshId} (--max-agents-per-mesh-per-ip); ` +
        "registered agents can still renew"
      );
    case "relay_sessions":
      return `all ${limits.relaySessions} relay sessions are in use (--max-relay-sessions); release unused sessions or retry later`;
    case "relay_sessions_per_owner":
      return (
        `your address already holds ${limits.relaySessionsPerOwner} open relay sessions (--max-relay-sessions-per-ip); ` +
        "release unused sessions or retry later"
      );
  }
}

/** What did not fit the byte budget: a new entry, or a renewal that grows one (`id` names it). */
export type BudgetRefusal =
  | { readonly kind: "colony" | "agent" | "relay session"; readonly renewal: false }
  | { readonly kind: "colony" | "agent"; readonly renewal: true; readonly id: string };

/** The message of a byte-budget refusal, with the registry's `totalBytes` and the entry's `bytes`. */
export function budgetMessage(totalBytes: number, limits: RegistryLimits, bytes: number, what: BudgetRefusal): string {
  const prefix = `the registry is full: its entries take ${totalBytes} of the ${limits.bytes} bytes --max-registry-bytes allows, and `;
  if (what.renewal) {
    const entry = what.kind === "colony" ? `mesh ${what.id}'s entry` : `agent ${what.id}'s entry`;
    return `${prefix}this renewal would grow ${entry} to ${bytes}; renew with the same or a smaller payload`;
  }
  if (what.kind === "relay session") return `${prefix}a new relay session takes ${bytes}; release unused sessions or retry later`;
  return `${prefix}a new ${what.kind} takes ${bytes}; registered ${what.kind === "colony" ? "colonies" : "agents"} can still renew`;
}

export const sessionNotFound = (sessionId: string) => new RegistryError("session_not_found", `relay session ${sessionId} not found`);
export const sessionMeshMismatch = (sessionId: string, meshId: string) =>
  new RegistryError("session_mesh_mismatch", `relay session ${sessionId} does not belong to mesh ${meshId}`);
