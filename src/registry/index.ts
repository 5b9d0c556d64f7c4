export { createRegistry } from "./registry.js";
export type {
  AgentLease,
  EntrySizes,
  ColonyLease,
  Registry,
  RegistryCounts,
  RegistryLimits,
  RegistryOptions,
  RelaySession,
  SweepResult,
} from "./types.js";
export { RegistryError } from "./errors.js";
export type { RegistryErrorCode } from "./errors.js";
