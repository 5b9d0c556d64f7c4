import { Code, ConnectError } from "@connectrpc/connect";
import { RegistryError, type RegistryErrorCode } from "../registry/index.js";

const CODES: Record<RegistryErrorCode, Code> = {
  split_brain: Code.AlreadyExists,
  session_not_found: Code.NotFound,
  session_mesh_mismatch: Code.PermissionDenied,
  capacity_exceeded: Code.ResourceExhausted,
};

/** Maps the registry's domain errors to Connect errors (keeping the cause); anything else is rethrown. */
export function toConnectError(error: unknown): never {
  if (error instanceof RegistryError) {
    throw new ConnectError(error.message, CODES[error.code], undefined, undefined, error);
  }
  throw error;
}
