export { createRegistry } from "./registry.js";
export type {
  AgentLease,
  ColonyLease,
  Registry,
  RegistryCounts,
  RegistryLimits,
  RegistryOptions,
  RelaySession,
  SweepResult,
} from "./registry.js";
export { RegistryError } from "./errors.js";
export type { RegistryErrorCode } from "./errors.js";
