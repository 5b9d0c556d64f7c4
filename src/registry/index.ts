export { createRegistry } from "./registry.js";
export type {
  ActiveLeases,
  AgentLease,
  EntrySizes,
  ColonyLease,
  ColonyPage,
  ColonyQuery,
  Registry,
  RegistryCounts,
  RegistryLimits,
  RegistryOptions,
  RelaySession,
  SavedLease,
  SweepResult,
} from "./types.js";
export { RegistryError } from "./errors.js";
export type { RegistryErrorCode } from "./errors.js";
export { memoryStore } from "./store.js";
export type { Awaitable, Registration, Store, SweepTally } from "./store.js";
