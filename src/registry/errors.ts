/** Stable codes of the registry's domain errors; the service maps them to Connect codes. */
export type RegistryErrorCode = "split_brain" | "session_not_found" | "session_mesh_mismatch" | "capacity_exceeded" | "unavailable";

/**
 * A refusal the registry decided on its own state (validation happens before,
 * at the edge), or `unavailable`: a shared store could not be reached.
 */
export class RegistryError extends Error {
  override readonly name = "RegistryError";
  constructor(
    readonly code: RegistryErrorCode,
    message: string,
  ) {
    super(message);
  }
}
