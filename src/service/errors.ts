import { Code, ConnectError } from "@connectrpc/connect";
import { RegistryError, type RegistryErrorCode } from "../registry/index.js";
import type { Step } from "./call.js";

const CODES: Record<RegistryErrorCode, Code> = {
  split_brain: Code.AlreadyExists,
  session_not_found: Code.NotFound,
  session_mesh_mismatch: Code.PermissionDenied,
  capacity_exceeded: Code.ResourceExhausted,
  unavailable: Code.Unavailable,
};

/**
 * The Connect error answering a registry domain error (keeping it as the
 * cause); anything else is returned unchanged. The one place registry
 * refusals get their codes.
 */
export function connectErrorFromRegistry(error: unknown): unknown {
  if (error instanceof RegistryError) {
    return new ConnectError(error.message, CODES[error.code], undefined, undefined, error);
  }
  return error;
}

/** The error-mapping step: registry refusals thrown inside it leave as Connect errors. */
export const errorMappingStep: Step = async (call, next) => {
  try {
    return await next(call);
  } catch (error) {
    throw connectErrorFromRegistry(error);
  }
};
