import { Code, ConnectError } from "@connectrpc/connect";

/**
 * Field rules, in one place. Each check throws `invalid_argument` with the
 * contract's message; callers run them in the contract's order.
 */
export function required(value: string, field: string): void {
  if (value === "") throw new ConnectError(`${field} is required`, Code.InvalidArgument);
}

export function requireEndpoints(endpoints: readonly string[]): void {
  if (endpoints.length === 0) {
    throw new ConnectError("at least one endpoint is required", Code.InvalidArgument);
  }
}
