// The registry's caps as configured, for whichever store holds the leases.
import type { Config } from "./config/index.js";
import type { RegistryLimits } from "./registry/index.js";

export function registryLimits(config: Config): RegistryLimits {
  return {
    colonies: config.maxColonies,
    agentsPerMesh: config.maxAgentsPerMesh,
    agents: config.maxAgents,
    relaySessions: config.maxRelaySessions,
    bytes: config.maxRegistryBytes,
    agentsPerMeshPerOwner: config.maxAgentsPerMeshPerIp,
    relaySessionsPerOwner: config.maxRelaySessionsPerIp,
  };
}
